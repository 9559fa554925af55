/**
 * Shared by the TFLite export and integer reference tests of the
 * keras.applications ops: PTQ runs (runPtq, as a stored run is made) of small
 * seeded tfjs models on a seeded random dataset written as x.npy / y.npy in a
 * temporary folder (any input shape; the models are untrained, so the data
 * need not be real), a few models the graph fixtures lack, and the
 * output-step comparisons the tests assert. Models that do not end in a
 * classifier get one (withHead) so the run can evaluate them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { RunConfigInput } from '../../../src-main/api/run-config.js';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { Normalization } from '../../../src-main/engine/graph/tfjs-compat/index.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { conv, seedMobile } from '../engine/graph/mobile-fixtures.js';
import { config, context } from '../engine/ptq/ptq-fixtures.js';
import { npyFile as npy } from '../../helpers/npy.js';

export const PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;


/** `count` seeded uniform samples of `shape` in [lo, hi) with labels 0..classes−1, as x.npy + y.npy in `dir`; the dataset spec. */
export function npyDataset(dir: string, shape: number[], count: number, lo: number, hi: number, seed: number, classes = 10) {
  mkdirSync(dir, { recursive: true });
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const x = Float32Array.from({ length: count * shape.reduce((p, d) => p * d, 1) }, () => lo + (hi - lo) * rand());
  const y = Uint8Array.from({ length: count }, (_, i) => i % classes);
  writeFileSync(path.join(dir, 'x.npy'), npy('<f4', [count, ...shape], new Uint8Array(x.buffer)));
  writeFileSync(path.join(dir, 'y.npy'), npy('|u1', [count], y));
  return { path: dir, format: 'npy', preprocessing: {} as Record<string, unknown> };
}

/** A PTQ run of `model` (per-channel W8A8, unsupported 'stop') with its qparams rebuilt from the stored records, as an export from the store does. */
export async function ptqInput(model: tf.LayersModel, dataset: { path: string; format: string; preprocessing: Record<string, unknown> }, evalCount = 200, extra: Partial<RunConfigInput> = {}): Promise<ExportInput> {
  const bytes = serializeGraph(graphFromLayersModel(model));
  const cfg = config({ weights: PER_CHANNEL, unsupported: 'stop', calibration: { count: 100, seed: 0 }, eval: { count: evalCount, seed: 1 }, ...extra });
  const payload = { config: cfg, modelName: model.name, model: bytes, dataset };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return { modelName: model.name, config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
}

type T = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: T | T[]) => layer.apply(x) as T;

/** Rescaling and Normalization in the middle of a model (not the input's preprocessing): MUL + ADD with constants. */
export function midAffineModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'input' });
  let x = apply(conv('conv', 4, 3, { padding: 'same' }), input);
  x = apply(tf.layers.rescaling({ name: 'rescale', scale: [0.5, 2, -1, 1.5] as unknown as number, offset: [0.1, 0, -0.3, 0.2] as unknown as number }), x);
  x = apply(conv('conv_1', 4, 3, { padding: 'same' }), x);
  x = apply(tf.layers.rescaling({ name: 'scale_only', scale: 0.25 }), x);
  x = apply(new Normalization({ name: 'norm', axis: -1 }), x);
  x = apply(conv('conv_2', 3, 1), x);
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'mid_affine' }), 13);
}

/** Standalone sigmoid and tanh (LOGISTIC and TANH on their fixed grids) between convs. */
export function sigmoidTanhModel(): tf.LayersModel {
  const input = tf.input({ shape: [5, 5, 2], name: 'input' });
  let x = apply(conv('conv', 4, 3, { padding: 'same' }), input);
  x = apply(tf.layers.activation({ name: 'sig', activation: 'sigmoid' }), x);
  x = apply(conv('conv_1', 4, 3), x);
  x = apply(tf.layers.activation({ name: 'th', activation: 'tanh' }), x);
  x = apply(tf.layers.flatten({ name: 'flat' }), x);
  x = apply(tf.layers.dense({ name: 'dense', units: 5, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }), x);
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'sigmoid_tanh' }), 17);
}

/** LeakyReLU after a conv, and a Softmax layer ending the classifier (SOFTMAX at the output, on TFLite's 1/256 grid). */
export function leakyClassifierModel(): tf.LayersModel {
  const input = tf.input({ shape: [5, 5, 2], name: 'input' });
  let x = apply(tf.layers.leakyReLU({ name: 'leaky', alpha: 0.15 }), apply(conv('conv', 6, 3), input));
  x = apply(tf.layers.flatten({ name: 'flat' }), x);
  x = apply(tf.layers.dense({ name: 'dense', units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }), x);
  x = apply(tf.layers.softmax({ name: 'softmax' }), x);
  return seedMobile(tf.model({ inputs: input, outputs: x, name: 'leaky_classifier' }), 19);
}

/** Fraction of outputs within `steps` output steps of each other (a float32 tolerance on the step). */
export function withinSteps(a: Float32Array, b: Float32Array, step: number, steps = 1): number {
  if (a.length !== b.length) throw new Error(`${a.length} against ${b.length} outputs`);
  let ok = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) <= steps * step * (1 + 1e-4)) ok++;
  return ok / a.length;
}

/** Top-1 agreement over rows of `classes` outputs (first index of the largest). */
export function top1Agreement(a: Float32Array, b: Float32Array, classes: number): number {
  const argmax = (v: Float32Array, o: number) => {
    let best = o;
    for (let i = o + 1; i < o + classes; i++) if (v[i]! > v[best]!) best = i;
    return best - o;
  };
  let agree = 0;
  const rows = a.length / classes;
  for (let r = 0; r < rows; r++) if (argmax(a, r * classes) === argmax(b, r * classes)) agree++;
  return agree / rows;
}

/**
 * The model with a classifier head when its output is not one already
 * (Flatten, then a seeded Dense to 10 logits), so a PTQ run can evaluate it
 * on labelled data; the layers are shared with `model`.
 */
export function withHead(model: tf.LayersModel): tf.LayersModel {
  const out = model.outputs[0]!;
  if (out.shape.length === 2 && out.shape[1]! > 1) return model;
  let x = out;
  if (out.shape.length > 2) x = apply(tf.layers.flatten({ name: 'head_flatten' }), x);
  x = apply(tf.layers.dense({ name: 'head', units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 77 }), biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 78 }) }), x);
  return tf.model({ inputs: model.inputs, outputs: x, name: model.name });
}
