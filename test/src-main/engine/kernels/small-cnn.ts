/**
 * Test support: a small CNN built from raw ops the way the studio builds QAT
 * graphs, touching every kernel registered for wasm:
 * conv-BN(train)-relu-maxpool 2x2, depthwise(x2)-relu6-BN(inference)-avgpool,
 * fake-quantised conv stride 2-relu-maxpool 3x3/1 same, global average pool,
 * tanh|sigmoid concat, dense, softmax cross-entropy on float32 one-hot labels.
 */
import * as tf from '@tensorflow/tfjs';
import { seeded } from './compare.js';

export const INPUT: [number, number, number, number] = [4, 12, 12, 3];
export const CLASSES = 5;

export const PARAM_SHAPES: Record<string, number[]> = {
  conv1: [3, 3, 3, 8], gamma1: [8], beta1: [8],
  dw: [3, 3, 8, 2], gamma2: [16], beta2: [16],
  conv2: [3, 3, 16, 12],
  dense: [24, CLASSES], bias: [CLASSES],
};

/** Deterministic parameters: the two backends start from identical values. */
export function makeParams(): Record<string, tf.Tensor> {
  const params: Record<string, tf.Tensor> = {};
  Object.entries(PARAM_SHAPES).forEach(([name, shape], i) => {
    const size = tf.util.sizeFromShape(shape);
    const values = name.startsWith('gamma') ? seeded(size, 100 + i).map((v) => 1 + 0.2 * v) : seeded(size, 100 + i).map((v) => 0.5 * v);
    params[name] = tf.tensor(values, shape);
  });
  return params;
}

export function makeBatch(): { x: tf.Tensor4D; labels: tf.Tensor2D } {
  const x = tf.tensor4d(seeded(tf.util.sizeFromShape(INPUT), 7), INPUT);
  const labels = tf.oneHot(tf.tensor1d([0, 3, 1, 4], 'int32'), CLASSES, 1, 0, 'float32') as tf.Tensor2D;
  return { x, labels };
}

/** Symmetric 8-bit fake quantisation with a straight-through gradient inside the clip range. */
const fakeQuant = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [w, save] = args as [tf.Tensor, tf.GradSaveFunc];
  const scale = tf.div(tf.max(tf.abs(w)), 127);
  const q = tf.mul(tf.clipByValue(tf.round(tf.div(w, scale)), -127, 127), scale);
  const limit = tf.mul(scale, 127);
  save([tf.cast(tf.logicalAnd(tf.greaterEqual(w, tf.neg(limit)), tf.lessEqual(w, limit)), 'float32')]);
  return { value: q, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]!) };
}) as (w: tf.Tensor) => tf.Tensor;

export function cnnLoss(p: Record<string, tf.Tensor>, x: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  const conv1 = tf.conv2d(x, p.conv1 as tf.Tensor4D, 1, 'same');
  const { mean, variance } = tf.moments(conv1, [0, 1, 2]);
  const block1 = tf.maxPool(tf.relu(tf.batchNorm(conv1, mean, variance, p.beta1!, p.gamma1!, 1e-3)) as tf.Tensor4D, 2, 2, 'valid');
  const dw = tf.clipByValue(tf.depthwiseConv2d(block1, p.dw as tf.Tensor4D, 1, 'same'), 0, 6);
  const movingMean = tf.fill([16], 0.1), movingVar = tf.fill([16], 0.8);
  const block2 = tf.avgPool(tf.batchNorm(dw, movingMean, movingVar, p.beta2!, p.gamma2!, 1e-3) as tf.Tensor4D, 2, 2, 'valid');
  const conv2 = tf.relu(tf.conv2d(block2, fakeQuant(p.conv2!) as tf.Tensor4D, 2, 'same'));
  const pooled = tf.mean(tf.maxPool(conv2, 3, 1, 'same'), [1, 2]);
  const features = tf.concat([tf.tanh(pooled), tf.sigmoid(pooled)], 1);
  const logits = tf.add(tf.matMul(tf.reshape(features, [x.shape[0], -1]), p.dense as tf.Tensor2D), p.bias!);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}
