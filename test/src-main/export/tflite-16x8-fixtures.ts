/**
 * Runs for the 16x8 TFLite tests: PTQ of the bundled sample CNN and of a
 * small residual / concatenating network on the bundled Fashion-MNIST subset
 * (real data), with 16-bit symmetric activations (TFLite's 16x8 mode) and
 * 8-bit per-channel weights, qparams rebuilt from the stored records as an
 * export from the store does.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunConfigInput } from '../../../src-main/api/run-config.js';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { seedMobile } from '../engine/graph/mobile-fixtures.js';
import { SAMPLE_DATA, config, context } from '../engine/ptq/ptq-fixtures.js';

/** What a run needs for TFLite's 16x8 mode: 16-bit symmetric activations (zero point 0, full range). */
export const A16 = { bits: 16, symmetric: true, narrowRange: false, granularity: 'per-tensor' } as const;
export const W8_PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

/** PTQ of serialized model bytes on the bundled Fashion-MNIST subset (200 calibration images). */
export async function ptqOnSample(name: string, bytes: Uint8Array, extra: Partial<RunConfigInput>, evalCount: number): Promise<ExportInput> {
  const cfg = config({ eval: { count: evalCount, seed: 1 }, weights: W8_PER_CHANNEL, activations: A16, ...extra });
  const payload = { config: cfg, modelName: name, model: bytes, dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return { modelName: name, config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
}

type T = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;
/** Seeded kernels (seedMobile keeps kernels as initialized and seeds the rest). */
const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });
const conv = (name: string, filters: number, kernelSize: number, seed: number, opts: Partial<Parameters<typeof tf.layers.conv2d>[0]> = {}) =>
  tf.layers.conv2d({ name, filters, kernelSize, padding: 'same', kernelInitializer: glorot(seed), ...opts });

/**
 * 28x28x1 → conv (ReLU) → two branches (a 1×1 conv; a 3×3 conv with a
 * negative-going linear output) → Add with ReLU → Concatenate with the first
 * conv → 2×2 average pool (valid) → zero padding → depthwise conv (ReLU6) →
 * cropping → ReLU layer → global average pool → Dense → Softmax layer: ADD,
 * CONCATENATION, AVERAGE_POOL_2D (a window and the global one), PAD,
 * DEPTHWISE_CONV_2D, SLICE, RELU, FULLY_CONNECTED and SOFTMAX on int16.
 */
export function residualConcatModel(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: 'input' });
  const stem = apply(conv('stem', 8, 3, 1, { activation: 'relu' }), input);
  const a = apply(conv('branch_a', 8, 1, 2), stem);
  const b = apply(conv('branch_b', 8, 3, 3), stem);
  const sum = apply(tf.layers.activation({ name: 'sum_relu', activation: 'relu' }), apply(tf.layers.add({ name: 'sum' }), [a, b]));
  let x = apply(tf.layers.concatenate({ name: 'cat', axis: -1 }), [sum, stem]);
  x = apply(tf.layers.averagePooling2d({ name: 'pool', poolSize: 2, strides: 2, padding: 'valid' }), x);
  x = apply(tf.layers.zeroPadding2d({ name: 'pad', padding: 1 }), x);
  x = apply(tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'valid', activation: 'relu6', depthwiseInitializer: glorot(4) }), x);
  x = apply(tf.layers.cropping2D({ name: 'crop', cropping: 1 }), x);
  x = apply(tf.layers.reLU({ name: 'crop_relu' }), x);
  x = apply(tf.layers.globalAveragePooling2d({ name: 'gap' }), x);
  x = apply(tf.layers.dense({ name: 'dense', units: 10, kernelInitializer: glorot(5) }), x);
  x = apply(tf.layers.softmax({ name: 'softmax' }), x);
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'residual_concat' }), 23);
}

export const residualConcatBytes = () => serializeGraph(graphFromLayersModel(residualConcatModel()));
