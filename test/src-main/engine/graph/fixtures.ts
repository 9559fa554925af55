/** Shared test models and helpers for the graph tests (no test cases here). */
import * as tf from '@tensorflow/tfjs';
import { mulberry32 } from '../../../../src-main/io/data/split.js';

/** Small deterministic PRNG (the studio's own mulberry32) so tests do not depend on tf's random state. */
export const rng = mulberry32;

/**
 * Fresh models have zero biases and identity BN statistics, which would hide
 * mistakes in how those are used: give them seeded non-trivial values.
 * Variances stay in [0.5, 1.5]; kernels keep their glorot values.
 */
export function perturbWeights(model: tf.LayersModel, seed: number): void {
  const next = rng(seed);
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values = layer.weights.map((v, i) => {
      const current = layer.getWeights()[i]!;
      if (v.originalName.endsWith('kernel')) return tf.clone(current);
      const isVariance = v.originalName.endsWith('moving_variance');
      const data = Float32Array.from({ length: current.size }, () => (isVariance ? 0.5 + next() : next() - 0.5));
      return tf.tensor(data, current.shape);
    });
    layer.setWeights(values);
    tf.dispose(values);
  }
}

/** A functional model with a residual Add and a Concatenate of two branches. */
export function addConcatModel(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [8, 8, 3], name: 'input' });
  const stem = tf.layers.conv2d({ name: 'conv2d', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'batch_normalization' }).apply(stem) as tf.SymbolicTensor;
  const branch = tf.layers.conv2d({ name: 'conv2d_1', filters: 8, kernelSize: 1, kernelInitializer: init(2) }).apply(bn) as tf.SymbolicTensor;
  const added = tf.layers.add({ name: 'add' }).apply([bn, branch]) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ name: 'depthwise_conv2d', kernelSize: 3, padding: 'same', depthMultiplier: 2, activation: 'relu6', depthwiseInitializer: init(3) }).apply(added) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ name: 'average_pooling2d', poolSize: 2 }).apply(dw) as tf.SymbolicTensor;
  const pooledAdded = tf.layers.maxPooling2d({ name: 'max_pooling2d', poolSize: 2 }).apply(added) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'concatenate', axis: -1 }).apply([pooled, pooledAdded]) as tf.SymbolicTensor;
  const reshaped = tf.layers.reshape({ name: 'reshape', targetShape: [16, 24] }).apply(cat) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flatten' }).apply(reshaped) as tf.SymbolicTensor;
  const drop = tf.layers.dropout({ name: 'dropout', rate: 0.3 }).apply(flat) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ name: 'dense', units: 5, kernelInitializer: init(4) }).apply(drop) as tf.SymbolicTensor;
  const probs = tf.layers.activation({ name: 'activation', activation: 'softmax' }).apply(logits) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: probs, name: 'add_concat' });
}

/** Seeded uniform [0, 1) input batch of the given shape. */
export function randomInput(shape: number[], seed: number): tf.Tensor {
  const next = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, next), shape);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  assertSameLength(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

function assertSameLength(a: number, b: number): void {
  if (a !== b) throw new Error(`tensor sizes differ: ${a} vs ${b}`);
}
