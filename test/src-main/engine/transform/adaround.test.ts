/**
 * AdaRound (engine/transform/adaround.ts, adaround-grid.ts):
 *  - the grid: with the nearest choice the rounded kernel is the run's fake
 *    quant bit for bit, and V's start gives h(V) = u − floor(u);
 *  - a closed-form case where nearest rounding is provably suboptimal: a
 *    Dense output y = Σ w_i x_i whose inputs x1..x4 are one signal z (plus 5 %
 *    noise) and whose weights sit 0.55..0.8 of a step above the grid, so
 *    nearest rounds all four up (output error ≈ 1.4·z) where rounding three up
 *    errs by ≈ 0.4·z. Each rounding's error is computed here in float64
 *    (y~ − y = Σ s·(k_i − u_i)·x_i); AdaRound must round three up (within 5 %
 *    of the best of the 16 choices, which differ only by the noise), end with
 *    every h(V) binary, and report both errors as computed;
 *  - refusal with fewer calibration samples than a batch (the numbers named),
 *    and cancel within one step.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Adaround } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import type { WeightedNode } from '../../../../src-main/engine/graph/types.js';
import { CancelledError } from '../../../../src-main/engine/job-context.js';
import { fakeQuantValues } from '../../../../src-main/engine/quant/fake-quant-values.js';
import { adaround, annealing } from '../../../../src-main/engine/transform/adaround.js';
import { decodeRounding, initialV, kernelGrid, kernelObserver, rectifiedSigmoid, roundedKernel } from '../../../../src-main/engine/transform/adaround-grid.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { arrayPart } from '../../../../src-main/io/data/sources.js';
import { rng } from '../graph/fixtures.js';
import { config, conv, dense, depthwise, graphOf, input } from './graphs.js';

before(async () => {
  await initBackend('wasm');
});

const W4 = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
const W3_ASYM = { bits: 3, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;

describe('the AdaRound grid', () => {
  test('nearest choice = the run’s fake quant, bit for bit; V’s start gives h = u − floor(u)', () => {
    const x = input('x', [6, 6, 3]);
    for (const [layer, weights] of [
      [conv('c', x, 4), W4],
      [depthwise('dw', x, 2), W3_ASYM],
      [dense('d', input('f', [10]), 5), W4],
    ] as const) {
      const from = layer.name === 'd' ? input('f', [10]) : x;
      const graph = graphOf('g', from, layer);
      const cfg = config({ weights });
      const wq = planQuantization(graph, cfg).weights[0]!;
      const node = layer as WeightedNode;
      const qp = kernelObserver(node, wq, cfg.estimator).qparams();
      const grid = kernelGrid(node.weights.kernel.values, wq, qp);
      assert.deepEqual(roundedKernel(grid, grid.nearest), fakeQuantValues(node.weights.kernel.values, wq.view, qp, wq.axis ?? undefined), `${layer.name}: nearest`);
      const h = Array.from(initialV(grid.rest), rectifiedSigmoid);
      h.forEach((v, i) => assert.ok(Math.abs(v - grid.rest[i]!) < 1e-6, `${layer.name}: h ${v} vs rest ${grid.rest[i]}`));
    }
  });

  test('β: 20 through the warm start (λ = 0), then AIMET’s cosine decay to 2', () => {
    assert.deepEqual(annealing(0, 1000, 0.01), { lambda: 0, beta: 20 });
    assert.deepEqual(annealing(199, 1000, 0.01), { lambda: 0, beta: 20 });
    assert.equal(annealing(200, 1000, 0.01).beta, 20);
    assert.ok(Math.abs(annealing(600, 1000, 0.01).beta - 11) < 1e-9);
    assert.ok(Math.abs(annealing(1000, 1000, 0.01).beta - 2) < 1e-9);
  });
});

/** x → Dense(1) with w = [7, 0.55, 0.6, 0.65, 0.8, −7]: on the 4-bit grid, step 1 (max |w| = 7), u = w + 7. */
function correlatedCase(samples: number) {
  const x = input('x', [6]);
  const d = dense('d', x, 1, { bias: false }) as WeightedNode;
  d.weights.kernel.values.set([7, 0.55, 0.6, 0.65, 0.8, -7]);
  const graph = graphOf('correlated', x, d);
  const next = rng(42);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const images = new Float32Array(samples * 6);
  for (let n = 0; n < samples; n++) {
    const z = gauss();
    // σ = 0.1 (a BatchNorm'd layer's scale): the reconstruction loss is then of the regulariser's size (λ = 0.01), which can make h binary.
    images.set([gauss(), z + 0.05 * gauss(), z + 0.05 * gauss(), z + 0.05 * gauss(), z + 0.05 * gauss(), gauss()].map((v) => 0.1 * v), n * 6);
  }
  return { graph, node: d, part: arrayPart(images, new Int32Array(samples), 6), images };
}

/** Mean over the samples of (Σ_i s·(k_i − u_i)·x_i)² in float64 (s = 1; u_i = w_i + 7). */
function closedFormMse(images: Float32Array, w: Float32Array, k: number[]): number {
  const n = images.length / 6;
  let sum = 0;
  for (let s = 0; s < n; s++) {
    let e = 0;
    for (let i = 0; i < 6; i++) e += (k[i]! - (w[i]! + 7)) * images[s * 6 + i]!;
    sum += e * e;
  }
  return sum / n;
}

describe('AdaRound on a closed-form case', () => {
  test('correlated inputs: it rounds three of four up (the best of 16 to 5 %, ten times better than nearest), h(V) ends binary', async () => {
    const samples = 256;
    const { graph, node, part, images } = correlatedCase(samples);
    const cfg = config({ weights: W4 });
    const plan = planQuantization(graph, cfg);
    const w = node.weights.kernel.values.slice();
    const options = Adaround.parse({ iterations: 6000, batchSize: 32 });
    let finalH: number[] = [];
    const r = await adaround(graph, plan, cfg.estimator, options, { part, indices: Int32Array.from({ length: samples }, (_, i) => i), readBatch: 64, seed: 0, budgetBytes: 2 ** 30 }, {
      onLayer: (_, V) => (finalH = Array.from(V, rectifiedSigmoid)),
    });
    const layer = r.record.layers[0]!;
    const up = decodeRounding(layer.rounding, 6, 'd');
    // Grid: u = w + 7 = [14, 7.55, 7.6, 7.65, 7.8, 0]; floor + up, clipped to [0, 14].
    const k = [14, 7 + up[1]!, 7 + up[2]!, 7 + up[3]!, 7 + up[4]!, up[5]!];
    const nearest = [14, 8, 8, 8, 8, 0];
    // Every rounding of the four correlated weights, by its closed-form error.
    const choices = Array.from({ length: 16 }, (_, m) => [14, 7 + (m & 1), 7 + ((m >> 1) & 1), 7 + ((m >> 2) & 1), 7 + ((m >> 3) & 1), 0]);
    const errors = choices.map((c) => closedFormMse(images, w, c));
    const best = Math.min(...errors);
    const mseNearest = closedFormMse(images, w, nearest);
    const mseAdaround = closedFormMse(images, w, k);
    console.log(`nearest ${mseNearest.toFixed(4)}, AdaRound ${mseAdaround.toFixed(4)} (k = ${k.join(',')}), best of 16 ${best.toFixed(4)}; h(V) = ${finalH.map((h) => h.toFixed(3)).join(', ')}`);
    // Nearest errs by 1.4·z, the best (three up) by 0.4·z: over ten times the squared error.
    assert.ok(best < 0.1 * mseNearest, `best ${best}, nearest ${mseNearest}`);
    // The three-up choices share z's coefficient 0.4 and differ only in the 5 % noise terms: AdaRound must take one of them.
    assert.equal(up.slice(1, 5).reduce((a, b) => a + b, 0), 3, 'three of the four correlated weights round up');
    assert.ok(mseAdaround <= 1.05 * best, `AdaRound ${mseAdaround} vs the best ${best}`);
    assert.ok(mseAdaround < 0.15 * mseNearest);
    // The record's errors are these (float32 graph arithmetic: 1e-4 relative), per output value (one here).
    assert.ok(Math.abs(layer.mseNearest - mseNearest) <= 1e-4 * mseNearest, `recorded nearest ${layer.mseNearest} vs ${mseNearest}`);
    assert.ok(Math.abs(layer.mseAdaround - mseAdaround) <= 1e-4 * mseNearest, `recorded AdaRound ${layer.mseAdaround} vs ${mseAdaround}`);
    assert.equal(layer.roundedDown, up.slice(1, 5).filter((b) => b === 0).length);
    assert.equal(layer.roundedUp, 0);
    for (const h of finalH) assert.ok(h === 0 || h === 1, `h(V) = ${h} is not binary`);
    // The returned graph holds the chosen kernel, on the grid.
    const out = r.graph.nodes.find((n) => n.name === 'd') as WeightedNode;
    assert.deepEqual(Array.from(out.weights.kernel.values), k.map((v) => v - 7));
  });

  test('fewer calibration samples than a batch: refused, naming both numbers', async () => {
    const { graph, part } = correlatedCase(20);
    const cfg = config({ weights: W4 });
    await assert.rejects(
      adaround(graph, planQuantization(graph, cfg), cfg.estimator, Adaround.parse({ batchSize: 32 }), { part, indices: Int32Array.from({ length: 20 }, (_, i) => i), readBatch: 64, seed: 0, budgetBytes: 2 ** 30 }),
      /AdaRound needs at least one batch of 32 calibration samples; the calibration split has 20/,
    );
  });

  test('a batch of layer inputs over a quarter of the memory budget: refused before any step, naming the layer, the figures and the settings to change', async () => {
    const { graph, part } = correlatedCase(64);
    const cfg = config({ weights: W4 });
    // Layer d's input and its quantized copy: 2 × 4 bytes × its per-sample size × 32 samples, against a quarter of 2 KiB.
    await assert.rejects(
      adaround(graph, planQuantization(graph, cfg), cfg.estimator, Adaround.parse({ batchSize: 32 }), { part, indices: Int32Array.from({ length: 64 }, (_, i) => i), readBatch: 64, seed: 0, budgetBytes: 2048 }),
      /AdaRound holds the inputs of d for 32 samples \(a batch\): .*more than a quarter of the memory budget of .*raise the budget \(--memory-budget\) or lower the AdaRound batch size/,
    );
  });

  test('cancel: the step after the request throws, nothing is returned', async () => {
    const { graph, part } = correlatedCase(64);
    const cfg = config({ weights: W4 });
    let steps = 0;
    let asked = -1;
    const run = adaround(graph, planQuantization(graph, cfg), cfg.estimator, Adaround.parse({ iterations: 1000, batchSize: 16 }), { part, indices: Int32Array.from({ length: 64 }, (_, i) => i), readBatch: 64, seed: 0, budgetBytes: 2 ** 30 }, {
      onStep: (_layer, _done, _layers, step) => {
        steps++;
        if (step === 10) asked = steps;
        if (asked >= 0) throw new CancelledError();
      },
    });
    await assert.rejects(run, CancelledError);
    assert.equal(steps, asked, 'no step ran after the cancel');
  });
});
