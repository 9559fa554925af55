/**
 * keras.applications.EfficientNetB0, after Keras 3's
 * keras/src/applications/efficientnet.py: Rescaling(1/255) and an
 * (un-adapted) Normalization, a stride-2 'stem_conv' after correct_pad
 * padding, seven stages of MBConv blocks named 'block{stage}{a,b,c...}_'
 * (1x1 expand unless the ratio is 1, depthwise 3x3/5x5, squeeze-excite with a
 * Reshape to (1, 1, C) and two biased 1x1 convs, linear 1x1 project; Add with
 * drop-connect Dropout where stride 1 and widths agree), 'top_conv' to 1280,
 * then 'avg_pool', 'top_dropout', 'predictions'. BatchNormalization keeps the
 * Keras defaults; convs before BN have no bias; the activation is 'swish'
 * (Keras 3 writes its silu under that name, and tfjs has it).
 *
 * Normalization is not a tfjs-layers class: the engine registers it, and this
 * builder refuses to run without it (its mean, variance and count are part of
 * Keras's parameter count, 5,330,571).
 */
import * as tf from '@tensorflow/tfjs';
import { classifierTop, correctPad, finish, KerasNames, makeDivisible, registeredLayer, requireClasses, resolveOptions, type ApplicationOptions } from './common.js';

type T = tf.SymbolicTensor;

interface BlockArgs {
  kernel: number;
  repeats: number;
  filtersIn: number;
  filtersOut: number;
  expandRatio: number;
  strides: 1 | 2;
}

/** Keras's DEFAULT_BLOCKS_ARGS (every stage: id_skip, se_ratio 0.25). */
const STAGES: BlockArgs[] = [
  { kernel: 3, repeats: 1, filtersIn: 32, filtersOut: 16, expandRatio: 1, strides: 1 },
  { kernel: 3, repeats: 2, filtersIn: 16, filtersOut: 24, expandRatio: 6, strides: 2 },
  { kernel: 5, repeats: 2, filtersIn: 24, filtersOut: 40, expandRatio: 6, strides: 2 },
  { kernel: 3, repeats: 3, filtersIn: 40, filtersOut: 80, expandRatio: 6, strides: 2 },
  { kernel: 5, repeats: 3, filtersIn: 80, filtersOut: 112, expandRatio: 6, strides: 1 },
  { kernel: 5, repeats: 4, filtersIn: 112, filtersOut: 192, expandRatio: 6, strides: 2 },
  { kernel: 3, repeats: 1, filtersIn: 192, filtersOut: 320, expandRatio: 6, strides: 1 },
];
const SE_RATIO = 0.25;
const ACTIVATION = 'swish';

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: 3, name });
}

function act(name: string): tf.layers.Layer {
  return tf.layers.activation({ activation: ACTIVATION, name });
}

function block(inputs: T, dropRate: number, name: string, filtersIn: number, filtersOut: number, kernel: number, strides: 1 | 2, expandRatio: number): T {
  const filters = filtersIn * expandRatio;
  let x = inputs;
  if (expandRatio !== 1) {
    x = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, name: `${name}expand_conv` }).apply(x) as T;
    x = bn(`${name}expand_bn`).apply(x) as T;
    x = act(`${name}expand_activation`).apply(x) as T;
  }
  if (strides === 2) x = tf.layers.zeroPadding2d({ padding: correctPad(x, kernel), name: `${name}dwconv_pad` }).apply(x) as T;
  x = tf.layers
    .depthwiseConv2d({ kernelSize: kernel, strides, padding: strides === 2 ? 'valid' : 'same', useBias: false, name: `${name}dwconv` })
    .apply(x) as T;
  x = bn(`${name}bn`).apply(x) as T;
  x = act(`${name}activation`).apply(x) as T;

  // Squeeze and excite, sized from the block's input width.
  const filtersSe = Math.max(1, Math.trunc(filtersIn * SE_RATIO));
  let se = tf.layers.globalAveragePooling2d({ name: `${name}se_squeeze` }).apply(x) as T;
  se = tf.layers.reshape({ targetShape: [1, 1, filters], name: `${name}se_reshape` }).apply(se) as T;
  se = tf.layers.conv2d({ filters: filtersSe, kernelSize: 1, padding: 'same', activation: ACTIVATION, name: `${name}se_reduce` }).apply(se) as T;
  se = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', activation: 'sigmoid', name: `${name}se_expand` }).apply(se) as T;
  x = tf.layers.multiply({ name: `${name}se_excite` }).apply([x, se]) as T;

  x = tf.layers.conv2d({ filters: filtersOut, kernelSize: 1, padding: 'same', useBias: false, name: `${name}project_conv` }).apply(x) as T;
  x = bn(`${name}project_bn`).apply(x) as T;
  if (strides === 1 && filtersIn === filtersOut) {
    if (dropRate > 0) {
      // Drop-connect: one keep/drop per sample (noise shape (None, 1, 1, 1)).
      x = tf.layers.dropout({ rate: dropRate, noiseShape: [null, 1, 1, 1] as unknown as number[], name: `${name}drop` }).apply(x) as T;
    }
    x = tf.layers.add({ name: `${name}add` }).apply([x, inputs]) as T;
  }
  return x;
}

/** keras.applications.EfficientNetB0 (width 1.0, depth 1.0, default size 224); model name 'efficientnetb0'. */
export function efficientNetB0(options: ApplicationOptions = {}): tf.LayersModel {
  requireClasses('EfficientNetB0', ['Normalization']);
  const o = resolveOptions(options);
  // B0's width 1.0; `width` (tests) is Keras's width_coefficient of EfficientNet().
  const widthCoefficient = o.width;
  const depthCoefficient = 1.0;
  const dropoutRate = 0.2;
  const dropConnectRate = 0.2;
  const roundFilters = (f: number) => makeDivisible(f * widthCoefficient, 8);
  const roundRepeats = (r: number) => Math.ceil(depthCoefficient * r);

  const names = new KerasNames();
  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x = tf.layers.rescaling({ scale: 1 / 255, name: names.next('rescaling') }).apply(input) as T;
  x = registeredLayer('Normalization', { axis: 3, name: names.next('normalization') }).apply(x) as T;
  x = tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: 'stem_conv_pad' }).apply(x) as T;
  x = tf.layers.conv2d({ filters: roundFilters(32), kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'stem_conv' }).apply(x) as T;
  x = bn('stem_bn').apply(x) as T;
  x = act('stem_activation').apply(x) as T;

  // Drop-connect grows linearly with the block's index over the whole network.
  const total = STAGES.reduce((n, s) => n + roundRepeats(s.repeats), 0);
  let b = 0;
  STAGES.forEach((stage, i) => {
    const filtersOut = roundFilters(stage.filtersOut);
    let filtersIn = roundFilters(stage.filtersIn);
    let strides = stage.strides;
    for (let j = 0; j < roundRepeats(stage.repeats); j++) {
      if (j > 0) {
        strides = 1;
        filtersIn = filtersOut;
      }
      x = block(x, (dropConnectRate * b) / total, `block${i + 1}${String.fromCharCode(97 + j)}_`, filtersIn, filtersOut, stage.kernel, strides, stage.expandRatio);
      b++;
    }
  });

  x = tf.layers.conv2d({ filters: roundFilters(1280), kernelSize: 1, padding: 'same', useBias: false, name: 'top_conv' }).apply(x) as T;
  x = bn('top_bn').apply(x) as T;
  x = act('top_activation').apply(x) as T;
  x = classifierTop(x, o, tf.layers.dropout({ rate: dropoutRate, name: 'top_dropout' }));
  return finish(input, x, options.name ?? 'efficientnetb0', o.seed);
}
