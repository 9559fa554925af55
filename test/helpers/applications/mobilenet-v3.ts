/**
 * keras.applications.MobileNetV3Small / MobileNetV3Large, after Keras 3's
 * keras/src/applications/mobilenet_v3.py: optional Rescaling to [-1, 1], a
 * 3x3 stride-2 'conv' to 16 channels, the inverted residual stack (expand,
 * depthwise 3x3 or 5x5, optional squeeze-excite, linear project; Add where
 * stride 1 and widths agree), 'conv_1' to 6x the last width, then the head
 * (pool, 'conv_2' with bias, Dropout, 'logits', Flatten, 'predictions').
 * BatchNormalization: momentum 0.999, epsilon 1e-3. Widths go through _depth
 * (round to a multiple of 8). Unnamed Keras layers get Keras's automatic
 * names ('re_lu_3', 'activation_7', ...).
 *
 * Activations as Keras 3 builds them: ReLU layers, and
 * Activation('hard_swish') (tfjs name 'hardSwish'); the squeeze-excite gate,
 * which Keras 3 writes as ReLU(6)(x + 3) * (1 / 6), is one Activation of
 * Keras 3's hard_sigmoid here (exactly relu6(x + 3) / 6; tfjs name
 * 'keras3HardSigmoid'), named '{prefix}squeeze_excite_hard_sigmoid'. It takes
 * the place of Keras's unnamed ReLU, whose automatic name is reserved so the
 * other ReLU names still match. GlobalAveragePooling2D(keepdims=True) is the
 * engine's registered class, as are both activations (minimalistic models use
 * neither activation).
 */
import * as tf from '@tensorflow/tfjs';
import { activation, correctPad, finish, globalAveragePoolKeepDims, HARD_SIGMOID, HARD_SWISH, KerasNames, makeDivisible, requireClasses, resolveOptions, type ApplicationOptions, type Resolved } from './common.js';

export interface MobileNetV3Options extends ApplicationOptions {
  /** Keras's minimalistic variant: 3x3 kernels, ReLU only, no squeeze-excite. Default false. */
  minimalistic?: boolean;
  /** The Rescaling(1/127.5, offset -1) layer Keras puts first. Default true. */
  includePreprocessing?: boolean;
  /** Dropout before 'logits'. Default 0.2. */
  dropoutRate?: number;
}

type T = tf.SymbolicTensor;
type Act = (x: T) => T;

interface Ctx {
  names: KerasNames;
  relu: Act;
  hardSwish: Act;
}

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
}

function seBlock(ctx: Ctx, inputs: T, filters: number, seRatio: number, prefix: string): T {
  let x = globalAveragePoolKeepDims(inputs, `${prefix}squeeze_excite_avg_pool`);
  x = tf.layers.conv2d({ filters: makeDivisible(filters * seRatio), kernelSize: 1, padding: 'same', name: `${prefix}squeeze_excite_conv` }).apply(x) as T;
  x = tf.layers.reLU({ name: `${prefix}squeeze_excite_relu` }).apply(x) as T;
  x = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', name: `${prefix}squeeze_excite_conv_1` }).apply(x) as T;
  ctx.names.next('re_lu'); // Keras's unnamed ReLU(6) of hard_sigmoid
  x = activation(`${prefix}squeeze_excite_hard_sigmoid`, HARD_SIGMOID).apply(x) as T;
  return tf.layers.multiply({ name: `${prefix}squeeze_excite_mul` }).apply([inputs, x]) as T;
}

function invertedResBlock(ctx: Ctx, x: T, expansion: number, filters: number, kernel: number, stride: 1 | 2, seRatio: number | null, act: Act, blockId: number): T {
  const shortcut = x;
  const inFilters = x.shape[3]!;
  let prefix = 'expanded_conv_';
  if (blockId) {
    prefix = `expanded_conv_${blockId}_`;
    x = tf.layers.conv2d({ filters: makeDivisible(inFilters * expansion), kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }).apply(x) as T;
    x = bn(`${prefix}expand_bn`).apply(x) as T;
    x = act(x);
  }
  if (stride === 2) x = tf.layers.zeroPadding2d({ padding: correctPad(x, kernel), name: `${prefix}depthwise_pad` }).apply(x) as T;
  x = tf.layers
    .depthwiseConv2d({ kernelSize: kernel, strides: stride, padding: stride === 1 ? 'same' : 'valid', useBias: false, name: `${prefix}depthwise` })
    .apply(x) as T;
  x = bn(`${prefix}depthwise_bn`).apply(x) as T;
  x = act(x);
  if (seRatio) x = seBlock(ctx, x, makeDivisible(inFilters * expansion), seRatio, prefix);
  x = tf.layers.conv2d({ filters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }).apply(x) as T;
  x = bn(`${prefix}project_bn`).apply(x) as T;
  if (stride === 1 && inFilters === filters) x = tf.layers.add({ name: `${prefix}add` }).apply([shortcut, x]) as T;
  return x;
}

/**
 * One row of a stack: [expansion, filters (before alpha), kernel ('k' = the
 * model's kernel, 5 or 3 if minimalistic), stride, squeeze-excite?, activation
 * ('relu' or 'model' = hard_swish, or ReLU if minimalistic)].
 */
type Row = [number, number, 3 | 'k', 1 | 2, boolean, 'relu' | 'model'];

const SMALL: Row[] = [
  [1, 16, 3, 2, true, 'relu'],
  [72 / 16, 24, 3, 2, false, 'relu'],
  [88 / 24, 24, 3, 1, false, 'relu'],
  [4, 40, 'k', 2, true, 'model'],
  [6, 40, 'k', 1, true, 'model'],
  [6, 40, 'k', 1, true, 'model'],
  [3, 48, 'k', 1, true, 'model'],
  [3, 48, 'k', 1, true, 'model'],
  [6, 96, 'k', 2, true, 'model'],
  [6, 96, 'k', 1, true, 'model'],
  [6, 96, 'k', 1, true, 'model'],
];

const LARGE: Row[] = [
  [1, 16, 3, 1, false, 'relu'],
  [4, 24, 3, 2, false, 'relu'],
  [3, 24, 3, 1, false, 'relu'],
  [3, 40, 'k', 2, true, 'relu'],
  [3, 40, 'k', 1, true, 'relu'],
  [3, 40, 'k', 1, true, 'relu'],
  [6, 80, 3, 2, false, 'model'],
  [2.5, 80, 3, 1, false, 'model'],
  [2.3, 80, 3, 1, false, 'model'],
  [2.3, 80, 3, 1, false, 'model'],
  [6, 112, 3, 1, true, 'model'],
  [6, 112, 3, 1, true, 'model'],
  [6, 160, 'k', 2, true, 'model'],
  [6, 160, 'k', 1, true, 'model'],
  [6, 160, 'k', 1, true, 'model'],
];

function mobileNetV3(rows: Row[], lastPointCh: number, defaultName: string, options: MobileNetV3Options): tf.LayersModel {
  const o: Resolved = resolveOptions(options);
  const minimalistic = options.minimalistic ?? false;
  if (!minimalistic) requireClasses(defaultName, [HARD_SWISH, HARD_SIGMOID]);
  const names = new KerasNames();
  const ctx: Ctx = {
    names,
    relu: (x) => tf.layers.reLU({ name: names.next('re_lu') }).apply(x) as T,
    hardSwish: (x) => activation(names.next('activation'), HARD_SWISH).apply(x) as T,
  };
  const kernel = minimalistic ? 3 : 5;
  const modelAct = minimalistic ? ctx.relu : ctx.hardSwish;
  const seRatio = minimalistic ? null : 0.25;

  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x: T = input;
  if (options.includePreprocessing ?? true) {
    x = tf.layers.rescaling({ scale: 1 / 127.5, offset: -1, name: names.next('rescaling') }).apply(x) as T;
  }
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv' }).apply(x) as T;
  x = bn('conv_bn').apply(x) as T;
  x = modelAct(x);
  rows.forEach(([expansion, filters, k, stride, se, act], id) => {
    x = invertedResBlock(ctx, x, expansion, makeDivisible(filters * o.alpha), k === 'k' ? kernel : k, stride, se ? seRatio : null, act === 'relu' ? ctx.relu : modelAct, id);
  });
  const lastConvCh = makeDivisible(x.shape[3]! * 6);
  if (o.alpha > 1) lastPointCh = makeDivisible(lastPointCh * o.alpha);
  x = tf.layers.conv2d({ filters: lastConvCh, kernelSize: 1, padding: 'same', useBias: false, name: 'conv_1' }).apply(x) as T;
  x = bn('conv_1_bn').apply(x) as T;
  x = modelAct(x);
  if (o.includeTop) {
    x = globalAveragePoolKeepDims(x, names.next('global_average_pooling2d'));
    x = tf.layers.conv2d({ filters: lastPointCh, kernelSize: 1, padding: 'same', useBias: true, name: 'conv_2' }).apply(x) as T;
    x = modelAct(x);
    const rate = options.dropoutRate ?? 0.2;
    if (rate > 0) x = tf.layers.dropout({ rate, name: names.next('dropout') }).apply(x) as T;
    x = tf.layers.conv2d({ filters: o.classes, kernelSize: 1, padding: 'same', name: 'logits' }).apply(x) as T;
    x = tf.layers.flatten({ name: names.next('flatten') }).apply(x) as T;
    x = tf.layers.activation({ activation: o.classifierActivation, name: 'predictions' }).apply(x) as T;
  } else if (o.pooling === 'avg') {
    x = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as T;
  } else if (o.pooling === 'max') {
    x = tf.layers.globalMaxPooling2d({ name: 'max_pool' }).apply(x) as T;
  }
  return finish(input, x, options.name ?? defaultName, o.seed);
}

/** keras.applications.MobileNetV3Small; model name 'MobileNetV3Small'. */
export function mobileNetV3Small(options: MobileNetV3Options = {}): tf.LayersModel {
  return mobileNetV3(SMALL, 1024, 'MobileNetV3Small', options);
}

/** keras.applications.MobileNetV3Large; model name 'MobileNetV3Large'. */
export function mobileNetV3Large(options: MobileNetV3Options = {}): tf.LayersModel {
  return mobileNetV3(LARGE, 1280, 'MobileNetV3Large', options);
}
