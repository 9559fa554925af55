/**
 * Nested tfjs models for the nested-model tests (no test cases here): the
 * three ways real models nest (Keras transfer learning, a Teachable Machine
 * image model, a Sequential inside a residual branch) and bad ones. Weights are
 * seeded, biases and BatchNormalization statistics non-trivial.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { leafLayers } from '../../../../src-main/engine/graph/flatten-nested.js';
import type { Graph, GraphNode, WeightData } from '../../../../src-main/engine/graph/types.js';
import { perturbWeights } from './fixtures.js';

type T = tf.SymbolicTensor;
const init = (seed: number) => tf.initializers.glorotUniform({ seed });

/**
 * A functional conv base shaped like the start of MobileNetV2: Conv1 (stride
 * 2, no bias) → BN → ReLU6, then a depthwise 3x3 → BN → ReLU6 → 1x1 project →
 * BN, added back to the block's input. [size, size, 3] → [size/2, size/2, 8].
 */
export function convBase(name: string, inputName: string, size = 8): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: inputName });
  const bn = (n: string) => tf.layers.batchNormalization({ name: n, epsilon: 1e-3 });
  let x = tf.layers.conv2d({ name: 'Conv1', filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init(1) }).apply(input) as T;
  x = bn('bn_Conv1').apply(x) as T;
  const stem = tf.layers.reLU({ name: 'Conv1_relu', maxValue: 6 }).apply(x) as T;
  x = tf.layers.depthwiseConv2d({ name: 'block_1_depthwise', kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init(2) }).apply(stem) as T;
  x = bn('block_1_depthwise_BN').apply(x) as T;
  x = tf.layers.reLU({ name: 'block_1_depthwise_relu', maxValue: 6 }).apply(x) as T;
  x = tf.layers.conv2d({ name: 'block_1_project', filters: 8, kernelSize: 1, useBias: false, kernelInitializer: init(3) }).apply(x) as T;
  x = bn('block_1_project_BN').apply(x) as T;
  const out = tf.layers.add({ name: 'block_1_add' }).apply([stem, x]) as T;
  return tf.model({ inputs: input, outputs: out, name });
}

/** Keras transfer learning: Sequential([base_model, GlobalAveragePooling2D(), Dense(4, softmax)]). */
export function transferModel(): tf.LayersModel {
  const model = tf.sequential({
    name: 'transfer',
    layers: [
      convBase('mobilenetv2_base', 'input_1'),
      tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }),
      tf.layers.dense({ name: 'dense', units: 4, activation: 'softmax', kernelInitializer: init(4) }),
    ],
  });
  perturbWeights(model, 11);
  return model;
}

/**
 * As Teachable Machine exports an image model: a Sequential holding a
 * Sequential (the truncated MobileNet, a functional model, then pooling) and a
 * Sequential Dense head.
 */
export function teachableMachineModel(): tf.LayersModel {
  const features = tf.sequential({
    name: 'sequential_1',
    layers: [convBase('model1', 'input_1'), tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_GlobalAveragePooling2D1' })],
  });
  const head = tf.sequential({
    name: 'sequential_3',
    layers: [
      tf.layers.dense({ name: 'dense_Dense1', units: 6, activation: 'relu', inputShape: [8], kernelInitializer: init(5) }),
      tf.layers.dense({ name: 'dense_Dense2', units: 3, activation: 'softmax', useBias: false, kernelInitializer: init(6) }),
    ],
  });
  const model = tf.sequential({ name: 'sequential_4', layers: [features, head] });
  perturbWeights(model, 12);
  return model;
}

/** A functional model whose residual branch is a nested Sequential: stem → branch → add(stem, branch) → pool → Dense → softmax. */
export function residualBranchModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'image' });
  const stem = tf.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(7) }).apply(input) as T;
  const branch = tf.sequential({
    name: 'branch',
    layers: [
      tf.layers.conv2d({ name: 'branch_expand', filters: 16, kernelSize: 1, activation: 'relu', inputShape: [6, 6, 8], kernelInitializer: init(8) }),
      tf.layers.batchNormalization({ name: 'branch_bn' }),
      tf.layers.conv2d({ name: 'branch_project', filters: 8, kernelSize: 1, kernelInitializer: init(9) }),
    ],
  });
  const added = tf.layers.add({ name: 'residual_add' }).apply([stem, branch.apply(stem) as T]) as T;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(added) as T;
  const logits = tf.layers.dense({ name: 'logits', units: 5, kernelInitializer: init(10) }).apply(pooled) as T;
  const probs = tf.layers.activation({ name: 'probs', activation: 'softmax' }).apply(logits) as T;
  const model = tf.model({ inputs: input, outputs: probs, name: 'residual_branch' });
  perturbWeights(model, 13);
  return model;
}

/** Bad: one nested model called twice (its weights shared by both calls). */
export function sharedNestedModel(): tf.LayersModel {
  const inner = tf.input({ shape: [4, 4, 3], name: 'block_input' });
  const conv = tf.layers.conv2d({ name: 'block_conv', filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }).apply(inner) as T;
  const block = tf.model({ inputs: inner, outputs: conv, name: 'shared_block' });
  const input = tf.input({ shape: [4, 4, 3], name: 'image' });
  const twice = block.apply(block.apply(input)) as T;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(twice) as T;
  return tf.model({ inputs: input, outputs: pooled, name: 'shared' });
}

/** Bad: a base built for 8x8 images called on 12x12 ones (tfjs builds it without a word). */
export function mismatchedNestedModel(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 3], name: 'image' });
  const features = convBase('mobilenetv2_base', 'input_1', 8).apply(input) as T;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(features) as T;
  return tf.model({ inputs: input, outputs: pooled, name: 'mismatched' });
}

export const NESTED_MODELS: [string, () => tf.LayersModel][] = [
  ['transfer learning', transferModel],
  ['Teachable Machine', teachableMachineModel],
  ['residual branch', residualBranchModel],
];

/** Keras weight name → the IR's key for it, per op (the inverse of the conversion). */
function irKey(node: GraphNode, kerasName: string): string {
  if (node.op === 'layer') return kerasName;
  const keys: Record<string, string> = { depthwise_kernel: 'kernel', moving_mean: 'movingMean', moving_variance: 'movingVariance' };
  return keys[kerasName] ?? kerasName;
}

/** Every weight of every layer of the model (nested ones by path name) equals the graph's, bit for bit. */
export function assertWeightsAsModel(graph: Graph, model: tf.LayersModel): number {
  let count = 0;
  for (const { name, layer } of leafLayers(model)) {
    if (layer.weights.length === 0) continue;
    const node = graph.nodes.find((n) => n.name === name);
    assert.ok(node && 'weights' in node, `graph has no weighted node ${name}`);
    const values = layer.getWeights();
    layer.weights.forEach((v, i) => {
      const kerasName = v.originalName.slice(v.originalName.lastIndexOf('/') + 1);
      const got = (node.weights as Record<string, WeightData | undefined>)[irKey(node, kerasName)];
      assert.ok(got, `${name} has no ${kerasName} in the graph`);
      assert.deepEqual(got.shape, values[i]!.shape, `${name}/${kerasName} shape`);
      assert.deepEqual(got.values, values[i]!.dataSync(), `${name}/${kerasName} values`);
      count++;
    });
  }
  return count;
}
