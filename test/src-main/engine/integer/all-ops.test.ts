/**
 * Every op the integer reference runs, in one small seeded graph calibrated by
 * the studio's own calibrate(): Conv2D + ReLU, DepthwiseConv2D (stride 2,
 * multiplier 2) + fused ReLU6, a 1×1 Conv2D, Add + fused ReLU, average and
 * max pooling, Concatenate (shared range), GlobalAveragePooling2D (MEAN),
 * Dense and a standalone softmax. Compared with the studio's fake-quant
 * simulation of the same export (exportSimulationHooks, half-even): the two
 * differ only by where values round (the fixed-point multiplier's double
 * rounding, average pooling rounding to the grid where the simulation keeps
 * the exact mean), so outputs agree within a few output steps.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, WeightData } from '../../../../src-main/engine/graph/types.js';
import { compileIntegerModel, runIntegerReference } from '../../../../src-main/engine/integer/index.js';
import { calibrate } from '../../../../src-main/engine/ptq/calibrate.js';
import type { QParams } from '../../../../src-main/engine/quant/qparams.js';
import { planQuantization, type QuantPlan } from '../../../../src-main/engine/transform/plan.js';
import { exportSimulationHooks } from '../../../../src-main/export/simulate.js';
import { samplesFromArray } from '../../../../src-main/engine/eval-samples.js';
import { simulate } from '../../../../src-main/export/verify.js';

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = seeded(42);
const weight = (shape: number[], scale: number): WeightData => ({ shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (rand() * 2 - 1) * scale) });

const conv = { strides: [1, 1] as [number, number], padding: 'same' as const, dilation: [1, 1] as [number, number] };
const GRAPH: Graph = {
  name: 'all_ops',
  output: 'softmax',
  nodes: [
    { op: 'input', name: 'input', inputs: [], outputShape: [8, 8, 2] },
    { op: 'conv2d', name: 'conv2d', inputs: ['input'], outputShape: [8, 8, 4], filters: 4, kernelSize: [3, 3], ...conv, activation: 'relu', weights: { kernel: weight([3, 3, 2, 4], 0.5), bias: weight([4], 0.2) } },
    {
      op: 'depthwiseConv2d',
      name: 'depthwise',
      inputs: ['conv2d'],
      outputShape: [4, 4, 8],
      kernelSize: [3, 3],
      strides: [2, 2],
      padding: 'same',
      dilation: [1, 1],
      depthMultiplier: 2,
      activation: 'linear',
      weights: { kernel: weight([3, 3, 4, 2], 0.6), bias: weight([8], 0.2) },
    },
    { op: 'activation', name: 'relu6', inputs: ['depthwise'], outputShape: [4, 4, 8], activation: 'relu6' },
    { op: 'conv2d', name: 'pointwise', inputs: ['relu6'], outputShape: [4, 4, 8], filters: 8, kernelSize: [1, 1], ...conv, activation: 'linear', weights: { kernel: weight([1, 1, 8, 8], 0.5), bias: weight([8], 0.2) } },
    { op: 'add', name: 'add', inputs: ['relu6', 'pointwise'], outputShape: [4, 4, 8] },
    { op: 'activation', name: 'relu', inputs: ['add'], outputShape: [4, 4, 8], activation: 'relu' },
    { op: 'avgPool2d', name: 'avg', inputs: ['relu'], outputShape: [2, 2, 8], poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
    { op: 'maxPool2d', name: 'max', inputs: ['relu'], outputShape: [2, 2, 8], poolSize: [3, 3], strides: [2, 2], padding: 'same' },
    { op: 'concat', name: 'concat', inputs: ['avg', 'max'], outputShape: [2, 2, 16], axis: -1 },
    { op: 'globalAvgPool2d', name: 'gap', inputs: ['concat'], outputShape: [16] },
    { op: 'dense', name: 'dense', inputs: ['gap'], outputShape: [5], units: 5, activation: 'linear', weights: { kernel: weight([16, 5], 1), bias: weight([5], 0.3) } },
    { op: 'activation', name: 'softmax', inputs: ['dense'], outputShape: [5], activation: 'softmax' },
  ],
};

const N = 64;
const images = Float32Array.from({ length: N * 128 }, () => rand() * 2 - 1);
let plan: QuantPlan;
let qparams: Map<string, QParams>;

before(async () => {
  await initBackend('wasm');
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } });
  plan = planQuantization(GRAPH, config);
  const runtime = new GraphRuntime(GRAPH, { trainable: false });
  try {
    const batches = () => [{ x: tf.tensor(images, [N, 8, 8, 2]), size: N }];
    qparams = (await calibrate(runtime, plan, config.estimator, batches)).qparams;
  } finally {
    runtime.dispose();
  }
});

test('the plan of the all-ops graph is what the test means to cover', () => {
  assert.deepEqual(
    plan.activations.map((a) => [a.name, a.layers.join('+'), a.sharedWith]),
    [
      ['input', 'input', null],
      ['conv2d/output', 'conv2d', null],
      ['depthwise/output', 'depthwise+relu6', null],
      ['pointwise/output', 'pointwise', null],
      ['add/output', 'add+relu', 'concat/output'],
      ['concat/output', 'concat', null],
      ['dense/output', 'dense', null],
      ['softmax/output', 'softmax', null],
    ],
  );
});

test('integer reference vs the fake-quant simulation: every op, within a few output steps', (t) => {
  const model = { graph: GRAPH, plan, qparams };
  const int = runIntegerReference(model, images, N, { quantizeRounding: 'half-even' });
  const sim = simulate(GRAPH, exportSimulationHooks(GRAPH, plan, qparams, { rounding: 'half-even' }), samplesFromArray(images, new Int32Array(N), [8, 8, 2]));
  const step = qparams.get('softmax/output')!.scale[0]!;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < int.length; i++) {
    const d = Math.abs(int[i]! - sim[i]!) / step;
    max = Math.max(max, d);
    sum += d;
  }
  t.diagnostic(`integer vs simulation: max ${max.toFixed(2)} output steps, mean ${(sum / int.length).toFixed(3)}`);
  assert.ok(max <= 4 + 1e-3, `max difference ${max} output steps`);
  assert.ok(sum / int.length < 0.5, `mean difference ${sum / int.length} steps`);
  // Probabilities: each row sums to 1 within the quantization of 5 entries.
  for (let r = 0; r < N; r++) {
    const s = int.subarray(r * 5, r * 5 + 5).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s - 1) <= 5 * step, `row ${r} sums to ${s}`);
  }
  // The shared Concatenate range: the Add writes on the concat grid, so concat copies.
  const program = compileIntegerModel(model);
  assert.deepEqual(program.tensor('relu').qp.scale, program.tensor('concat').qp.scale);
});
