/**
 * Cross-layer equalization (transform/cle.ts) against its closed-form
 * promises: the float function is unchanged (to float32 rounding, 1e-5 of the
 * output's scale) on the bundled CNN, the depthwise-separable net and a
 * MobileNetV2; after convergence each pair's ranges are equal channel by
 * channel (r1_i = r2_i); pairs joined by a non-homogeneous activation
 * (swish, sigmoid) or a ReLU6 (default) are skipped and listed with why.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, WeightedNode } from '../../../../src-main/engine/graph/types.js';
import { deserializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { equalizeLayers, pairRanges } from '../../../../src-main/engine/transform/cle.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { sampleCnnModel } from '../integer/sample-cnn.js';
import { apps } from '../native/train/app-graphs.js';
import { act, conv, dense, flatten, graphOf, input, randomizeStatistics } from './graphs.js';
import { rng } from '../graph/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

/** Max |f(x) − g(x)| over a seeded batch, relative to max |f(x)| (logits). */
function functionDifference(a: Graph, b: Graph, range: [number, number] = [0, 1]): number {
  const shape = a.nodes[0]!.outputShape;
  const n = 16 * shape.reduce((p, q) => p * q, 1);
  const next = rng(5);
  const x = tf.tensor(Float32Array.from({ length: n }, () => range[0] + (range[1] - range[0]) * next()), [16, ...shape]);
  const ra = new GraphRuntime(a, { trainable: false });
  const rb = new GraphRuntime(b, { trainable: false });
  try {
    const ya = ra.apply(x, { logits: true }).dataSync();
    const yb = rb.apply(x, { logits: true }).dataSync();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < ya.length; i++) {
      diff = Math.max(diff, Math.abs(ya[i]! - yb[i]!));
      scale = Math.max(scale, Math.abs(ya[i]!));
    }
    return diff / scale;
  } finally {
    ra.dispose();
    rb.dispose();
    x.dispose();
  }
}

/**
 * The float32 rounding floor of a model: how far its output moves when every
 * weight moves by one float32 ulp (relative 2^-23, seeded signs), the most
 * CLE's own rounding of the scaled weights can be told apart from.
 */
function roundingFloor(g: Graph, range: [number, number]): number {
  const next = rng(11);
  const nodes = g.nodes.map((n) => {
    if (!('weights' in n) || n.op === 'layer') return n;
    const weights = Object.fromEntries(Object.entries(n.weights).map(([k, w]) => [k, { shape: w!.shape, values: w!.values.map((v: number) => v * (1 + (next() < 0.5 ? -1 : 1) * 2 ** -23)) }]));
    return { ...n, weights } as typeof n;
  });
  return functionDifference(g, { ...g, nodes }, range);
}

function node(g: Graph, name: string): WeightedNode {
  return g.nodes.find((n) => n.name === name) as WeightedNode;
}

function assertEqualized(g: Graph, pairs: { first: string; second: string }[]): void {
  for (const p of pairs) {
    const { r1, r2 } = pairRanges(node(g, p.first), node(g, p.second));
    for (let i = 0; i < r1.length; i++) {
      if (r1[i] === 0 || r2[i] === 0) continue;
      assert.ok(Math.abs(r1[i]! / r2[i]! - 1) < 1e-4, `${p.first}→${p.second} channel ${i}: r1 ${r1[i]} r2 ${r2[i]}`);
    }
  }
}

describe('cross-layer equalization on real models', () => {
  test('bundled Fashion-MNIST CNN: conv→conv (through ReLU, max pool) and dense→dense equalized, conv→dense through the Flatten skipped (listed) unless asked; function unchanged', async () => {
    const { graph } = foldBatchNorm(deserializeGraph((await sampleCnnModel()).bytes));
    const r = equalizeLayers(graph);
    assert.deepEqual(
      r.equalized.map((p) => `${p.first}>${p.second}`),
      ['conv2d>conv2d_1', 'dense>dense_1'],
    );
    assert.deepEqual(r.skipped.map((p) => `${p.first}>${p.second}`), ['conv2d_1>dense']);
    assert.match(r.skipped[0]!.reason, /^Flatten flatten spreads each channel of conv2d_1 over many Dense inputs/);
    assert.ok(r.converged, `converged in ${r.sweeps} sweeps`);
    assertEqualized(r.graph, r.equalized);
    assert.ok(functionDifference(graph, r.graph) < 1e-5);

    const cross = equalizeLayers(graph, { flatten: 'cross' });
    assert.deepEqual(
      cross.equalized.map((p) => `${p.first}>${p.second}`),
      ['conv2d>conv2d_1', 'conv2d_1>dense', 'dense>dense_1'],
    );
    assert.ok(cross.converged, `converged in ${cross.sweeps} sweeps`);
    assert.deepEqual(cross.skipped, []);
    // The trained CNN's ranges are far from equal before: CLE has something to do.
    assert.ok(cross.equalized.some((p) => p.ratioBefore.max / p.ratioBefore.min > 4), JSON.stringify(cross.equalized.map((p) => p.ratioBefore)));
    assertEqualized(cross.graph, cross.equalized);
    const d = functionDifference(graph, cross.graph);
    assert.ok(d < 1e-5, `relative difference ${d}`);
  });

  test('depthwise-separable net: ReLU6 pairs skipped by default (listed), equalized as ReLU when asked', () => {
    const { graph } = foldBatchNorm(randomizeStatistics(builtinModel('fashion_dwsep').build(), 3));
    const skip = equalizeLayers(graph);
    assert.equal(skip.equalized.length, 0);
    assert.equal(skip.skipped.length, 7);
    for (const s of skip.skipped) assert.match(s.reason, /ReLU6 at .* clips at a fixed 6/);
    assert.equal(functionDifference(graph, skip.graph), 0);

    const asRelu = equalizeLayers(graph, { relu6: 'as-relu' });
    assert.equal(asRelu.equalized.length, 7);
    assert.equal(asRelu.relu6Replaced.length, 7);
    assertEqualized(asRelu.graph, asRelu.equalized);
    // The reference is the same model with those ReLU6 as ReLU (what DFQ / AIMET equalize).
    const relu = { ...graph, nodes: graph.nodes.map((n) => (asRelu.relu6Replaced.includes(n.name) && n.op === 'activation' ? { ...n, activation: 'relu' as const } : n)) };
    const d = functionDifference(relu, asRelu.graph);
    assert.ok(d < 1e-5, `relative difference ${d}`);
    // Depthwise output channels get one scale each; pointwise input channels the inverse.
    const dw = asRelu.equalized.find((p) => node(graph, p.first).op === 'depthwiseConv2d')!;
    assert.ok(dw.scaleMax > dw.scaleMin);
  });

  test('MobileNetV2 (alpha 0.35, 32x32): linear project→expand pairs equalized, ReLU6 pairs listed; function unchanged', () => {
    const { graph: g, inputRange } = apps.mobileNetV2!();
    const { graph } = foldBatchNorm(g);
    const r = equalizeLayers(graph);
    assert.ok(r.equalized.length > 0);
    for (const p of r.equalized) assert.equal(node(graph, p.first).activation, 'linear', p.first);
    assert.ok(r.skipped.some((s) => /ReLU6/.test(s.reason)));
    // Residual blocks: the project output is read by the Add and the next block, so no pair.
    assert.ok(r.converged);
    assertEqualized(r.graph, r.equalized);
    // 17 seeded blocks amplify float32 rounding: one ulp on every weight moves the logits by ~2e-5 of
    // their scale, so CLE (one rounding of each scaled weight) is held to that floor where it exceeds 1e-5.
    const d = functionDifference(graph, r.graph, inputRange);
    const floor = roundingFloor(graph, inputRange);
    assert.ok(d < Math.max(1e-5, 1.5 * floor), `relative difference ${d}, rounding floor ${floor}`);
    const asRelu = equalizeLayers(graph, { relu6: 'as-relu' });
    assert.ok(asRelu.equalized.length > r.equalized.length);
    const relu = { ...graph, nodes: graph.nodes.map((n) => (asRelu.relu6Replaced.includes(n.name) && n.op === 'activation' ? { ...n, activation: 'relu' as const } : n)) };
    const dRelu = functionDifference(relu, asRelu.graph, inputRange);
    const floorRelu = roundingFloor(relu, inputRange);
    assert.ok(dRelu < Math.max(1e-5, 1.5 * floorRelu), `ReLU6 as ReLU: relative difference ${dRelu}, rounding floor ${floorRelu}`);
    console.log(`MobileNetV2: ${r.equalized.length} pairs (ReLU6 skipped), ${asRelu.equalized.length} (as ReLU); differences ${d.toExponential(2)}, ${dRelu.toExponential(2)}; rounding floors ${floor.toExponential(2)}, ${floorRelu.toExponential(2)}`);
  });
});

describe('pairs CLE cannot equalize', () => {
  test('swish and sigmoid between two layers: skipped and listed; the ReLU pair beside them is equalized', () => {
    const x = input('x', [6, 6, 2]);
    const c1 = conv('c1', x, 4);
    const sw = act('c1_swish', c1, 'swish');
    const c2 = conv('c2', sw, 4, { activation: 'sigmoid' });
    const c3 = conv('c3', c2, 4, { activation: 'relu' });
    const f = flatten('flat', c3);
    const d = dense('d', f, 3);
    const g = graphOf('mixed', x, c1, sw, c2, c3, f, d);
    const r = equalizeLayers(g, { flatten: 'cross' });
    assert.deepEqual(r.skipped, [
      { first: 'c1', second: 'c2', reason: 'swish at c1_swish is not positively homogeneous (swish(x/s) ≠ swish(x)/s)' },
      { first: 'c2', second: 'c3', reason: 'sigmoid at c2 is not positively homogeneous (sigmoid(x/s) ≠ sigmoid(x)/s)' },
    ]);
    assert.deepEqual(r.equalized.map((p) => `${p.first}>${p.second}`), ['c3>d']);
    assert.ok(functionDifference(g, r.graph) < 1e-5);
    // Untouched layers keep their weights bit for bit.
    assert.deepEqual(node(r.graph, 'c1').weights.kernel.values, node(g, 'c1').weights.kernel.values);
  });

  test('a layer whose output is read twice is not paired, and the fork is listed', () => {
    const x = input('x', [4, 4, 2]);
    const c1 = conv('c1', x, 3, { activation: 'relu' });
    const c2 = conv('c2', c1, 3);
    const c3 = conv('c3', c1, 3);
    const sum = { name: 'sum', op: 'add' as const, inputs: ['c2', 'c3'], outputShape: [4, 4, 3] };
    const r = equalizeLayers(graphOf('fork', x, c1, c2, c3, sum));
    assert.deepEqual(r.equalized, []);
    assert.deepEqual(r.skipped.map((s) => s.second), ['c2', 'c3']);
    assert.match(r.skipped[0]!.reason, /read by 2 layers/);
  });
});
