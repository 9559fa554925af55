/**
 * keras.applications.MobileNet (v1), after keras/src/applications/mobilenet.py:
 * a 3x3 stride-2 conv, then 13 depthwise-separable blocks (depthwise 3x3 + BN
 * + ReLU6, pointwise 1x1 + BN + ReLU6), stride-2 blocks padded explicitly
 * ((0,1),(0,1)) and run 'valid'. BatchNormalization keeps Keras's defaults
 * (momentum 0.99, epsilon 1e-3), convolutions have no bias.
 *
 * The top, as Keras 3 builds it: GlobalAveragePooling2D(keepdims=True)
 * (the engine's registered class; tf.keras 2 pooled then reshaped in
 * 'reshape_1'), Dropout, the 1x1 'conv_preds', Reshape 'reshape_2' and the
 * 'predictions' activation.
 */
import * as tf from '@tensorflow/tfjs';
import { alphaText, finish, globalAveragePoolKeepDims, KerasNames, pool, resolveOptions, type ApplicationOptions } from './common.js';

export interface MobileNetOptions extends ApplicationOptions {
  /** Depthwise channel multiplier ("resolution multiplier" in Keras). Default 1. */
  depthMultiplier?: number;
  /** Dropout before conv_preds. Default 1e-3, as Keras. */
  dropout?: number;
}

type T = tf.SymbolicTensor;

function relu6(name: string): tf.layers.Layer {
  return tf.layers.reLU({ maxValue: 6, name });
}

function convBlock(x: T, filters: number, alpha: number): T {
  x = tf.layers.conv2d({ filters: Math.trunc(filters * alpha), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'conv1' }).apply(x) as T;
  x = tf.layers.batchNormalization({ axis: -1, name: 'conv1_bn' }).apply(x) as T;
  return relu6('conv1_relu').apply(x) as T;
}

function depthwiseBlock(x: T, pointwise: number, alpha: number, depthMultiplier: number, strides: 1 | 2, id: number): T {
  if (strides === 2) {
    x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `conv_pad_${id}` }).apply(x) as T;
  }
  x = tf.layers
    .depthwiseConv2d({ kernelSize: 3, padding: strides === 1 ? 'same' : 'valid', depthMultiplier, strides, useBias: false, name: `conv_dw_${id}` })
    .apply(x) as T;
  x = tf.layers.batchNormalization({ axis: -1, name: `conv_dw_${id}_bn` }).apply(x) as T;
  x = relu6(`conv_dw_${id}_relu`).apply(x) as T;
  x = tf.layers.conv2d({ filters: Math.trunc(pointwise * alpha), kernelSize: 1, padding: 'same', useBias: false, strides: 1, name: `conv_pw_${id}` }).apply(x) as T;
  x = tf.layers.batchNormalization({ axis: -1, name: `conv_pw_${id}_bn` }).apply(x) as T;
  return relu6(`conv_pw_${id}_relu`).apply(x) as T;
}

/** [pointwise filters, stride] of blocks 1..13. */
const BLOCKS: [number, 1 | 2][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/** keras.applications.MobileNet; model name `mobilenet_{alpha:.2f}_{rows}`. */
export function mobileNet(options: MobileNetOptions = {}): tf.LayersModel {
  const o = resolveOptions(options);
  const depthMultiplier = options.depthMultiplier ?? 1;
  const names = new KerasNames();
  const input = tf.input({ shape: [o.rows, o.cols, 3], name: names.next('input_layer') });
  let x = convBlock(input, 32, o.alpha);
  BLOCKS.forEach(([filters, stride], i) => {
    x = depthwiseBlock(x, filters, o.alpha, depthMultiplier, stride, i + 1);
  });
  if (o.includeTop) {
    x = globalAveragePoolKeepDims(x, names.next('global_average_pooling2d'));
    x = tf.layers.dropout({ rate: options.dropout ?? 1e-3, name: 'dropout' }).apply(x) as T;
    x = tf.layers.conv2d({ filters: o.classes, kernelSize: 1, padding: 'same', name: 'conv_preds' }).apply(x) as T;
    x = tf.layers.reshape({ targetShape: [o.classes], name: 'reshape_2' }).apply(x) as T;
    x = tf.layers.activation({ activation: o.classifierActivation, name: 'predictions' }).apply(x) as T;
  } else {
    x = pool(x, o.pooling, names);
  }
  return finish(input, x, options.name ?? `mobilenet_${alphaText(o.alpha)}_${o.rows}`, o.seed);
}
