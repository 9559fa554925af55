/**
 * keras.applications.ResNet50 (v1), after keras/src/applications/resnet.py:
 * 'conv1_pad' (3 px) + 7x7 stride-2 'conv1_conv', 'conv1_bn', 'conv1_relu',
 * 'pool1_pad' (1 px) + 3x3 stride-2 'pool1_pool', then four stacks of
 * bottleneck blocks (3, 4, 6, 3 blocks of 64, 128, 256, 512 filters): 1x1
 * (carrying the stride) / 3x3 / 1x1 to 4x the filters, a 1x1 projection
 * shortcut '_0_conv' in each stack's first block, 'Add' then ReLU '_out'.
 * Convolutions keep their bias (use_bias=True in ResNet v1); BN epsilon is
 * 1.001e-5, momentum Keras's default. `width` (tests only) scales every filter count.
 */
import * as tf from '@tensorflow/tfjs';
import { classifierTop, finish, KerasNames, resolveOptions, scaled, type ApplicationOptions } from './common.js';

type T = tf.SymbolicTensor;

const EPS = 1.001e-5;

function bn(name: string): tf.layers.Layer {
  return tf.layers.batchNormalization({ axis: 3, epsilon: EPS, name });
}

function relu(name: string): tf.layers.Layer {
  return tf.layers.activation({ activation: 'relu', name });
}

function block(x: T, filters: number, stride: 1 | 2, convShortcut: boolean, name: string): T {
  let shortcut = x;
  if (convShortcut) {
    shortcut = tf.layers.conv2d({ filters: 4 * filters, kernelSize: 1, strides: stride, name: `${name}_0_conv` }).apply(x) as T;
    shortcut = bn(`${name}_0_bn`).apply(shortcut) as T;
  }
  x = tf.layers.conv2d({ filters, kernelSize: 1, strides: stride, name: `${name}_1_conv` }).apply(x) as T;
  x = bn(`${name}_1_bn`).apply(x) as T;
  x = relu(`${name}_1_relu`).apply(x) as T;
  x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name: `${name}_2_conv` }).apply(x) as T;
  x = bn(`${name}_2_bn`).apply(x) as T;
  x = relu(`${name}_2_relu`).apply(x) as T;
  x = tf.layers.conv2d({ filters: 4 * filters, kernelSize: 1, name: `${name}_3_conv` }).apply(x) as T;
  x = bn(`${name}_3_bn`).apply(x) as T;
  x = tf.layers.add({ name: `${name}_add` }).apply([shortcut, x]) as T;
  return relu(`${name}_out`).apply(x) as T;
}

function stack(x: T, filters: number, blocks: number, stride1: 1 | 2, name: string): T {
  x = block(x, filters, stride1, true, `${name}_block1`);
  for (let i = 2; i <= blocks; i++) x = block(x, filters, 1, false, `${name}_block${i}`);
  return x;
}

/** keras.applications.ResNet50; model name 'resnet50'. */
export function resNet50(options: ApplicationOptions = {}): tf.LayersModel {
  const o = resolveOptions(options);
  const names = new KerasNames();
  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x = tf.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: 'conv1_pad' }).apply(input) as T;
  const w = (f: number) => scaled(f, o.width);
  x = tf.layers.conv2d({ filters: w(64), kernelSize: 7, strides: 2, name: 'conv1_conv' }).apply(x) as T;
  x = bn('conv1_bn').apply(x) as T;
  x = relu('conv1_relu').apply(x) as T;
  x = tf.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: 'pool1_pad' }).apply(x) as T;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }).apply(x) as T;
  x = stack(x, w(64), 3, 1, 'conv2');
  x = stack(x, w(128), 4, 2, 'conv3');
  x = stack(x, w(256), 6, 2, 'conv4');
  x = stack(x, w(512), 3, 2, 'conv5');
  x = classifierTop(x, o);
  return finish(input, x, options.name ?? 'resnet50', o.seed);
}
