/**
 * keras.applications.MobileNetV2, after keras/src/applications/mobilenet_v2.py:
 * 'Conv1' (3x3, stride 2), then 17 inverted residual blocks (1x1 expand,
 * 3x3 depthwise, linear 1x1 project; a residual Add where stride is 1 and the
 * widths agree), then 'Conv_1' 1x1 to 1280 (more only when alpha > 1).
 * Every BatchNormalization: momentum 0.999, epsilon 1e-3; every conv before a
 * BN has no bias; every nonlinearity is ReLU(6). Block 0 has no expansion and
 * is prefixed 'expanded_conv_', the others 'block_{id}_'. Stride-2 depthwise
 * convs run 'valid' after correct_pad zero padding, as Keras pads them.
 */
import * as tf from '@tensorflow/tfjs';
import { alphaText, correctPad, finish, KerasNames, makeDivisible, pool, resolveOptions, type ApplicationOptions } from './common.js';

type T = tf.SymbolicTensor;

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name });
}

function invertedResBlock(inputs: T, expansion: number, stride: 1 | 2, alpha: number, filters: number, blockId: number): T {
  const inChannels = inputs.shape[3]!;
  const pointwise = makeDivisible(Math.trunc(filters * alpha), 8);
  let prefix = `block_${blockId}_`;
  let x = inputs;
  if (blockId) {
    x = tf.layers.conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` }).apply(x) as T;
    x = bn(`${prefix}expand_BN`).apply(x) as T;
    x = tf.layers.reLU({ maxValue: 6, name: `${prefix}expand_relu` }).apply(x) as T;
  } else {
    prefix = 'expanded_conv_';
  }
  if (stride === 2) x = tf.layers.zeroPadding2d({ padding: correctPad(x, 3), name: `${prefix}pad` }).apply(x) as T;
  x = tf.layers
    .depthwiseConv2d({ kernelSize: 3, strides: stride, useBias: false, padding: stride === 1 ? 'same' : 'valid', name: `${prefix}depthwise` })
    .apply(x) as T;
  x = bn(`${prefix}depthwise_BN`).apply(x) as T;
  x = tf.layers.reLU({ maxValue: 6, name: `${prefix}depthwise_relu` }).apply(x) as T;
  x = tf.layers.conv2d({ filters: pointwise, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` }).apply(x) as T;
  x = bn(`${prefix}project_BN`).apply(x) as T;
  if (inChannels === pointwise && stride === 1) return tf.layers.add({ name: `${prefix}add` }).apply([inputs, x]) as T;
  return x;
}

/** [filters, stride, expansion] of blocks 0..16. */
const BLOCKS: [number, 1 | 2, number][] = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/** keras.applications.MobileNetV2; model name `mobilenetv2_{alpha:.2f}_{rows}`. */
export function mobileNetV2(options: ApplicationOptions = {}): tf.LayersModel {
  const o = resolveOptions(options);
  const names = new KerasNames();
  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x = tf.layers
    .conv2d({ filters: makeDivisible(32 * o.alpha, 8), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' })
    .apply(input) as T;
  x = bn('bn_Conv1').apply(x) as T;
  x = tf.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }).apply(x) as T;
  BLOCKS.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(x, expansion, stride, o.alpha, filters, id);
  });
  // The paper keeps the last conv at 1280 unless the network is widened.
  const last = o.alpha > 1 ? makeDivisible(1280 * o.alpha, 8) : 1280;
  x = tf.layers.conv2d({ filters: last, kernelSize: 1, useBias: false, name: 'Conv_1' }).apply(x) as T;
  x = bn('Conv_1_bn').apply(x) as T;
  x = tf.layers.reLU({ maxValue: 6, name: 'out_relu' }).apply(x) as T;
  if (o.includeTop) {
    x = tf.layers.globalAveragePooling2d({ name: names.next('global_average_pooling2d') }).apply(x) as T;
    x = tf.layers.dense({ units: o.classes, activation: o.classifierActivation, name: 'predictions' }).apply(x) as T;
  } else {
    x = pool(x, o.pooling, names);
  }
  return finish(input, x, options.name ?? `mobilenetv2_${alphaText(o.alpha)}_${o.rows}`, o.seed);
}
