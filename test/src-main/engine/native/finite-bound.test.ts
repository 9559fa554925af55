/**
 * The magnitude bounds that let a ReLU probe skip its NaN/±Inf sum
 * (engine/native/finite-bound.ts). References: closed-form sums of |w| on a
 * hand-built graph; on a seeded MobileNetV2, every tensor a bound covers, run
 * out of the same float graph, stays within its bound; and batchIsFinite
 * refuses a batch whose bound is near overflow, as it refuses a NaN sum.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import type { Graph, WeightData } from '../../../../src-main/engine/graph/types.js';
import { batchIsFinite, buildProbedModel, probeStats, type ProbeStats } from '../../../../src-main/engine/native/calibrate-onnx.js';
import { BOUND_LIMIT, boundHolds, magnitudeBound } from '../../../../src-main/engine/native/finite-bound.js';
import { createSession, loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { floatGraphWithWatched } from '../../../../src-main/engine/native/watched-activations.js';
import { encodeOnnx, ONNX_INPUT } from '../../../../src-main/engine/onnx/build.js';
import { valueInfo } from '../../../../src-main/engine/onnx/proto.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { rng } from '../graph/fixtures.js';
import { config } from '../ptq/ptq-fixtures.js';
import { apps } from './train/app-graphs.js';

const w = (shape: number[], values: number[]): WeightData => ({ shape, values: Float32Array.from(values) });

/** input [4,4,1] → ZeroPadding2D → Conv2D 2x2x1x2 relu6 → Dense 2 (sigmoid) → Dense 1 (relu). */
function smallGraph(): Graph {
  return {
    name: 'bounds',
    output: 'out',
    nodes: [
      { op: 'input', name: 'x', inputs: [], outputShape: [4, 4, 1] },
      { op: 'zeroPad2d', name: 'pad', inputs: ['x'], outputShape: [6, 6, 1], padding: [[1, 1], [1, 1]] },
      { op: 'conv2d', name: 'conv', inputs: ['pad'], outputShape: [5, 5, 2], filters: 2, kernelSize: [2, 2], strides: [1, 1], padding: 'valid', dilation: [1, 1], activation: 'relu6', weights: { kernel: w([2, 2, 1, 2], [1, -2, 3, 0.5, -1, 0, 2, 1]), bias: w([2], [0.25, -3]) } },
      { op: 'flatten', name: 'flat', inputs: ['conv'], outputShape: [50] },
      { op: 'dense', name: 'gate', inputs: ['flat'], outputShape: [2], units: 2, activation: 'sigmoid', weights: { kernel: w([50, 2], new Array(100).fill(0.1)) } },
      { op: 'dense', name: 'out', inputs: ['gate'], outputShape: [1], units: 1, activation: 'relu', weights: { kernel: w([2, 1], [1, 1]) } },
    ],
  };
}

before(async () => {
  await initBackend('wasm');
});

describe('magnitude bounds of ReLU probes', () => {
  test('a convolution through ZeroPadding2D: Σ|w| of the whole kernel times the input probe’s magnitude, plus the largest |bias|', () => {
    const b = magnitudeBound(smallGraph(), 'conv', new Set(['x', 'conv']));
    assert.deepEqual(b, { sources: ['x'], factor: 1 + 2 + 3 + 0.5 + 1 + 0 + 2 + 1, offset: 3 });
    // Through the Flatten to the conv's own probe, then a Dense without bias.
    assert.deepEqual(magnitudeBound(smallGraph(), 'gate', new Set(['x', 'conv', 'gate'])), null, 'sigmoid is not a bounded activation here');
    assert.equal(magnitudeBound(smallGraph(), 'out', new Set(['x', 'conv', 'out'])), null, 'the sigmoid Dense between out and the conv probe has no bound');
    assert.deepEqual(magnitudeBound(smallGraph(), 'out', new Set(['x', 'conv', 'gate', 'out'])), { sources: ['gate'], factor: 2, offset: 0 });
    assert.equal(magnitudeBound(smallGraph(), 'conv', new Set(['conv'])), null, 'the input is not probed');
  });

  test('a bound holds below the limit only, and with every source measured and finite', () => {
    const b = { sources: ['a', 'b'], factor: 1e20, offset: 1 };
    assert.equal(boundHolds(b, new Map([['a', 5], ['b', 1e5]])), true);
    assert.equal(boundHolds(b, new Map([['a', 5], ['b', 1e10]])), false, `1e30 is not below ${BOUND_LIMIT}`);
    assert.equal(boundHolds(b, new Map([['a', 5]])), false);
    assert.equal(boundHolds(b, new Map([['a', 5], ['b', Infinity]])), false);
  });

  test('batchIsFinite: a NaN sum, a non-finite maximum or a bound near overflow each send the batch away', () => {
    const probe = (at: string, extra: object = {}) => ({ at, sampleShape: [1], perChannel: false, min: null, max: `${at}/max`, sum: `${at}/sum`, ...extra });
    const stats = (sumX: number, maxX: number, maxY: number, factor: number): ProbeStats[] => [
      { p: probe('x'), min: Float32Array.of(-maxX), max: Float32Array.of(maxX), sum: sumX },
      { p: probe('y', { sum: null, bound: { sources: ['x'], factor, offset: 0 } }), min: Float32Array.of(0), max: Float32Array.of(maxY), sum: null },
    ];
    assert.equal(batchIsFinite(stats(1, 2, 3, 10)), true);
    assert.equal(batchIsFinite(stats(NaN, 2, 3, 10)), false);
    assert.equal(batchIsFinite(stats(1, 2, Infinity, 10)), false);
    assert.equal(batchIsFinite(stats(1, 1e12, 3, 1e20)), false);
  });

  test('MobileNetV2 (alpha 0.35, 32x32, seeded): most ReLU6 probes take a bound instead of a sum, and every such tensor stays within it', async () => {
    const { graph: g, inputRange } = apps.mobileNetV2!();
    const { graph } = foldBatchNorm(g);
    const plan = planQuantization(graph, config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } }));
    const { bytes, probes } = buildProbedModel(graph, plan, { zeroFloor: true });
    const bounded = probes.filter((p) => p.bound);
    assert.ok(bounded.length > 20 && bounded.every((p) => p.sum === null && p.min === null), `${bounded.length} of ${probes.length} probes bounded`);
    assert.ok(probes.filter((p) => !p.bound).every((p) => p.sum !== null), 'every other probe keeps its sum');
    const batch = 3;
    const next = rng(9);
    const [lo, hi] = inputRange;
    const x = Float32Array.from({ length: batch * 32 * 32 * 3 }, () => lo + (hi - lo) * next());
    const { model, watched } = floatGraphWithWatched(graph, plan);
    model.graph!.output = watched.map((v) => valueInfo(v.value.name));
    const ort = await loadOnnxRuntime();
    const run = async (b: Uint8Array) => {
      const { session } = await createSession(b, { threads: 2 });
      try {
        return await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [batch, 32, 32, 3]) });
      } finally {
        await session.release();
      }
    };
    const [tensors, out] = [await run(encodeOnnx(model)), await run(bytes)];
    const stats = probes.map((p) => probeStats(out, p));
    assert.ok(batchIsFinite(stats));
    const largest = new Map(watched.map((v) => [v.node.name, (tensors[v.value.name]!.data as Float32Array).reduce((m, t) => Math.max(m, Math.abs(t)), 0)]));
    for (const p of bounded) {
      const b = p.bound!;
      const limit = b.factor * Math.max(...b.sources.map((s) => largest.get(s)!)) + b.offset;
      assert.ok(largest.get(p.at)! <= limit, `${p.at}: ${largest.get(p.at)} within ${limit}`);
    }
  });
});
