/**
 * keras.applications.DenseNet121, after keras/src/applications/densenet.py:
 * an unnamed 3 px ZeroPadding2D + 7x7 stride-2 'conv1_conv' (no bias),
 * 'conv1_bn', 'conv1_relu', another unnamed 1 px padding + 3x3 stride-2 max
 * pool 'pool1'; dense blocks of 6, 12, 24, 16 conv blocks, each BN-ReLU-1x1
 * conv (128) - BN-ReLU-3x3 conv (32, the growth rate) concatenated onto its
 * input; between them transition blocks BN-ReLU-1x1 conv (half the channels)
 * - 2x2 average pool; a final 'bn' + 'relu'. No conv has a bias; BN epsilon
 * 1.001e-5. The unnamed paddings get Keras's automatic names
 * 'zero_padding2d' and 'zero_padding2d_1'. `width` (tests only) scales the
 * growth rate and the stem's filters.
 */
import * as tf from '@tensorflow/tfjs';
import { classifierTop, finish, KerasNames, resolveOptions, scaled, type ApplicationOptions } from './common.js';

type T = tf.SymbolicTensor;

const EPS = 1.001e-5;
/** Keras's growth rate (times `width` in tests). */
const GROWTH = 32;

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: 3, epsilon: EPS, name });
}

function relu(name: string): tf.layers.Layer {
  return tf.layers.activation({ activation: 'relu', name });
}

function convBlock(x: T, growth: number, name: string): T {
  let y = bn(`${name}_0_bn`).apply(x) as T;
  y = relu(`${name}_0_relu`).apply(y) as T;
  y = tf.layers.conv2d({ filters: 4 * growth, kernelSize: 1, useBias: false, name: `${name}_1_conv` }).apply(y) as T;
  y = bn(`${name}_1_bn`).apply(y) as T;
  y = relu(`${name}_1_relu`).apply(y) as T;
  y = tf.layers.conv2d({ filters: growth, kernelSize: 3, padding: 'same', useBias: false, name: `${name}_2_conv` }).apply(y) as T;
  return tf.layers.concatenate({ axis: 3, name: `${name}_concat` }).apply([x, y]) as T;
}

function denseBlock(x: T, blocks: number, growth: number, name: string): T {
  for (let i = 1; i <= blocks; i++) x = convBlock(x, growth, `${name}_block${i}`);
  return x;
}

function transitionBlock(x: T, reduction: number, name: string): T {
  x = bn(`${name}_bn`).apply(x) as T;
  x = relu(`${name}_relu`).apply(x) as T;
  x = tf.layers.conv2d({ filters: Math.trunc(x.shape[3]! * reduction), kernelSize: 1, useBias: false, name: `${name}_conv` }).apply(x) as T;
  return tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }).apply(x) as T;
}

/** keras.applications.DenseNet121 (blocks 6, 12, 24, 16); model name 'densenet121'. */
export function denseNet121(options: ApplicationOptions = {}): tf.LayersModel {
  const blocks = [6, 12, 24, 16] as const;
  const o = resolveOptions(options);
  const names = new KerasNames();
  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: names.next('zero_padding2d') }).apply(input) as T;
  const growth = scaled(GROWTH, o.width);
  x = tf.layers.conv2d({ filters: scaled(64, o.width), kernelSize: 7, strides: 2, useBias: false, name: 'conv1_conv' }).apply(x) as T;
  x = bn('conv1_bn').apply(x) as T;
  x = relu('conv1_relu').apply(x) as T;
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: names.next('zero_padding2d') }).apply(x) as T;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1' }).apply(x) as T;
  x = denseBlock(x, blocks[0], growth, 'conv2');
  x = transitionBlock(x, 0.5, 'pool2');
  x = denseBlock(x, blocks[1], growth, 'conv3');
  x = transitionBlock(x, 0.5, 'pool3');
  x = denseBlock(x, blocks[2], growth, 'conv4');
  x = transitionBlock(x, 0.5, 'pool4');
  x = denseBlock(x, blocks[3], growth, 'conv5');
  x = bn('bn').apply(x) as T;
  x = relu('relu').apply(x) as T;
  x = classifierTop(x, o);
  return finish(input, x, options.name ?? 'densenet121', o.seed);
}
