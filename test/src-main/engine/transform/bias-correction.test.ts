/**
 * Bias correction (transform/bias-correction.ts, empirical-bias-correction.ts):
 *  - empirical, on the bundled CNN at W4 per-tensor on real Fashion-MNIST
 *    calibration images: after it, the expected pre-activation shift
 *    E[x∗W_q + b'] − E[x∗W + b] of every layer (x: its input in the model with
 *    all kernels quantized and biases corrected) is zero on that data, where
 *    before it was not;
 *  - analytic: the clipped-normal expectations against numerical integration,
 *    and the correction it derives from BN statistics against the empirical
 *    one on inputs that are exactly those Gaussians;
 *  - empirical against the float model ('float-model', AIMET's): on a
 *    hand-computed case, it also takes out the mean shift a ReLU makes of an
 *    earlier layer's zero-mean error, which the per-layer correction leaves;
 *  - layers it cannot correct analytically are listed with why;
 *  - the kernels' MSE range (estimator.weights 'mse' beside minmax
 *    activations) against its closed-form optimum.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime, linearOp } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, WeightedNode } from '../../../../src-main/engine/graph/types.js';
import { inputNode } from '../../../../src-main/engine/graph/types.js';
import { preparePtq } from '../../../../src-main/engine/ptq/run.js';
import { makeBatches } from '../../../../src-main/io/data/dataset.js';
import { analyticBiasCorrection, expectedActivation, foldedBnStatistics, quantizedKernel } from '../../../../src-main/engine/transform/bias-correction.js';
import { empiricalBiasCorrection } from '../../../../src-main/engine/transform/empirical-bias-correction.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization, type QuantPlan } from '../../../../src-main/engine/transform/plan.js';
import { sampleCnnModel } from '../integer/sample-cnn.js';
import { SAMPLE_DATA, config as ptqConfig } from '../ptq/ptq-fixtures.js';
import { act, batchNorm, config, conv, dense, graphOf, input } from './graphs.js';
import { kernelObserver } from '../../../../src-main/engine/transform/adaround-grid.js';
import { rng } from '../graph/fixtures.js';

const W4_PER_TENSOR = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;

before(async () => {
  await initBackend('wasm');
});

/**
 * Per planned layer, the mean over `xs` of (x∗W_q + b_q) − (x∗W + b_float) per output channel, x its input in
 * the model whose kernels are all quantized (biases as `corrected` holds them); b_float from `float`.
 */
function expectedShifts(corrected: Graph, float: Graph, plan: QuantPlan, estimatorKind: 'minmax', xs: tf.Tensor[]): Map<string, Float64Array> {
  const estimator = { kind: estimatorKind, decay: 0.999, percentile: 99.99, bins: 2048 };
  const quantized = new Map(plan.weights.map((wq) => {
    const n = corrected.nodes.find((x) => x.name === wq.layer) as WeightedNode;
    return [wq.layer, tf.tensor(quantizedKernel(n, wq, estimator), n.weights.kernel.shape)];
  }));
  const runtime = new GraphRuntime(corrected, { trainable: false });
  const sums = new Map<string, Float64Array>();
  let count = 0;
  for (const x of xs) {
    const outs = runtime.applyAll(x, { hooks: { weight: (n, name, w) => (name === 'kernel' ? (quantized.get(n.name) ?? w) : w) } });
    for (const wq of plan.weights) {
      const layer = corrected.nodes.find((n) => n.name === wq.layer) as WeightedNode;
      const floatLayer = float.nodes.find((n) => n.name === wq.layer) as WeightedNode;
      const c = layer.weights.kernel.shape.at(-1)! * (layer.op === 'depthwiseConv2d' ? layer.weights.kernel.shape[2]! : 1);
      const diff = tf.tidy(() => {
        const xin = outs.get(layer.inputs[0]!)!;
        const yq = tf.add(linearOp(layer, xin, quantized.get(layer.name)!), tf.tensor1d(layer.weights.bias?.values ?? new Float32Array(c)));
        const yf = tf.add(linearOp(floatLayer, xin, tf.tensor(floatLayer.weights.kernel.values, floatLayer.weights.kernel.shape)), tf.tensor1d(floatLayer.weights.bias?.values ?? new Float32Array(c)));
        return tf.mean(tf.reshape(tf.sub(yq, yf), [-1, c]), 0);
      });
      const m = diff.dataSync();
      diff.dispose();
      const s = sums.get(layer.name) ?? new Float64Array(c);
      for (let i = 0; i < c; i++) s[i] = s[i]! + m[i]! * x.shape[0]!;
      sums.set(layer.name, s);
    }
    count += x.shape[0]!;
    for (const t of outs.values()) t.dispose();
  }
  runtime.dispose();
  for (const t of quantized.values()) t.dispose();
  for (const s of sums.values()) for (let i = 0; i < s.length; i++) s[i] = s[i]! / count;
  return sums;
}

const maxAbs = (v: ArrayLike<number>) => Math.max(...Array.from(v, Math.abs));

describe('empirical bias correction', () => {
  test('bundled CNN, W4 per-tensor, 500 Fashion-MNIST calibration images: every layer’s expected output shift goes to zero', async () => {
    const model = await sampleCnnModel();
    const prep = preparePtq({ config: ptqConfig({ weights: W4_PER_TENSOR, calibration: { count: 500, seed: 0 } }), modelName: model.name, model: model.bytes, dataset: SAMPLE_DATA });
    const shape = inputNode(prep.graph).outputShape;
    const batches = () => Array.from(makeBatches(prep.data.parts.train, prep.calibIdx, 100, shape), (b) => (b.y.dispose(), { x: b.x, size: b.size }));
    const { graph, shifts } = await empiricalBiasCorrection(prep.graph, prep.plan, ptqConfig().estimator, batches);
    assert.deepEqual(shifts.map((s) => s.layer), ['conv2d', 'conv2d_1', 'dense', 'dense_1']);

    const xs = Array.from(makeBatches(prep.data.parts.train, prep.calibIdx, 100, shape), (b) => (b.y.dispose(), b.x));
    const beforeShift = expectedShifts(prep.graph, prep.graph, prep.plan, 'minmax', xs);
    const afterShift = expectedShifts(graph, prep.graph, prep.plan, 'minmax', xs);
    tf.dispose(xs);
    const lines: string[] = [];
    for (const s of shifts) {
      const b = maxAbs(beforeShift.get(s.layer)!);
      const a = maxAbs(afterShift.get(s.layer)!);
      lines.push(`${s.layer}: |E shift| ${b.toExponential(2)} → ${a.toExponential(2)}`);
      // Float32 means over 500 images and every position: zero to 1e-4 of the uncorrected shift (or 1e-6 absolute).
      assert.ok(a <= Math.max(1e-4 * b, 1e-6), `${s.layer}: before ${b}, after ${a}`);
    }
    // Not a test that cannot fail: 4-bit per-tensor kernels do shift the outputs (conv2d's input is the raw image, not centred).
    assert.ok(Math.max(...shifts.map((s) => maxAbs(beforeShift.get(s.layer)!))) > 1e-3, lines.join('; '));
    console.log(lines.join('\n'));
  });
});

describe('empirical bias correction against the float model', () => {
  /**
   * x ∈ {(0, 1), (0, −1)} → a: Dense [1, 0.3] + ReLU → b: Dense [2], bias 0.5. At W4 per-tensor (scale 1/7)
   * a's 0.3 becomes 2/7; b's single weight 2 is on its grid. a's error (2/7 − 0.3)·x₂ has mean 0, so neither
   * mode moves a's bias; ReLU keeps only the positive sample: b's input has mean 1/7 quantized, 0.15 float.
   * 'layer' sees no error in b's own kernel (shift 0); 'float-model' shifts b by 2·(1/7 − 0.15) = 2/7 − 0.3.
   */
  function handGraph(): Graph {
    const x = input('x', [2]);
    const a = dense('a', x, 1, { activation: 'relu', bias: true }) as WeightedNode;
    a.weights.kernel.values.set([1, 0.3]);
    a.weights.bias!.values.fill(0);
    const b = dense('b', a, 1, { bias: true }) as WeightedNode;
    b.weights.kernel.values.set([2]);
    b.weights.bias!.values.fill(0.5);
    return graphOf('hand', x, a, b);
  }
  const batches = () => [{ x: tf.tensor2d([0, 1, 0, -1], [2, 2]), size: 2 }];

  test('takes out the mean shift a ReLU makes of an earlier zero-mean error; the per-layer correction does not', async () => {
    const graph = handGraph();
    const cfg = config({ weights: W4_PER_TENSOR });
    const plan = planQuantization(graph, cfg);
    assert.deepEqual(plan.weights.map((w) => w.layer), ['a', 'b']);
    const layer = await empiricalBiasCorrection(graph, plan, cfg.estimator, batches);
    const float = await empiricalBiasCorrection(graph, plan, cfg.estimator, batches, { reference: 'float-model' });
    const shift = (r: typeof layer, name: string) => r.shifts.find((s) => s.layer === name)!.shift[0]!;
    for (const r of [layer, float]) assert.ok(Math.abs(shift(r, 'a')) < 1e-7, `a: ${shift(r, 'a')}`);
    assert.ok(Math.abs(shift(layer, 'b')) < 1e-7, `layer b: ${shift(layer, 'b')}`);
    assert.ok(Math.abs(shift(float, 'b') - (2 / 7 - 0.3)) < 1e-6, `float-model b: ${shift(float, 'b')} vs ${2 / 7 - 0.3}`);
    const bias = (g: Graph) => (g.nodes.find((n) => n.name === 'b') as WeightedNode).weights.bias!.values[0]!;
    assert.ok(Math.abs(bias(float.graph) - (0.5 - (2 / 7 - 0.3))) < 1e-6);
    assert.ok(Math.abs(bias(layer.graph) - 0.5) < 1e-6);
    // The quantized model's mean output is then the float model's, 2·0.15 + 0.5; with the per-layer correction it is off by 2/7 − 0.3.
    const meanOut = (g: Graph, quantize: boolean) => {
      const kernels = new Map(plan.weights.map((wq) => {
        const n = g.nodes.find((x) => x.name === wq.layer) as WeightedNode;
        return [wq.layer, tf.tensor(quantize ? quantizedKernel(n, wq, cfg.estimator) : n.weights.kernel.values, n.weights.kernel.shape)];
      }));
      const rt = new GraphRuntime(g, { trainable: false });
      const [x] = batches().map((b) => b.x);
      const outs = rt.applyAll(x!, { hooks: { weight: (n, name, w) => (name === 'kernel' ? kernels.get(n.name)! : w) } });
      const m = tf.mean(outs.get('b')!).dataSync()[0]!;
      for (const t of outs.values()) t.dispose();
      rt.dispose();
      tf.dispose([x!, ...kernels.values()]);
      return m;
    };
    const floatMean = meanOut(graph, false);
    assert.ok(Math.abs(floatMean - (2 * 0.15 + 0.5)) < 1e-6);
    assert.ok(Math.abs(meanOut(float.graph, true) - floatMean) < 1e-6);
    assert.ok(Math.abs(meanOut(layer.graph, true) - floatMean - (2 / 7 - 0.3)) < 1e-6);
  });
});

describe('the kernels’ MSE range (estimator.weights)', () => {
  /**
   * One kernel: a 1.0 and 99 × 0.1, W4 per-tensor symmetric narrow (±7 steps of t/7). For t in (0.7, 1] every
   * 0.1 rounds to one step t/7 and the 1.0 clips to t: SSE(t) = (1 − t)² + 99·(t/7 − 0.1)², least at
   * t* = (1 + 99·0.1/7) / (1 + 99/49) = 0.79932 (SSE 0.0602; at t = 1, min/max's, 99·(1/7 − 0.1)² = 0.1822;
   * t ≤ 0.7 clips the 1.0 by 0.3 or more, SSE ≥ 0.09).
   */
  test('mse beside minmax activations finds the closed-form clipping optimum; minmax keeps the kernel’s |max|', () => {
    const x = input('x', [100]);
    const a = dense('a', x, 1, { bias: false }) as WeightedNode;
    a.weights.kernel.values.fill(0.1);
    a.weights.kernel.values[17] = 1;
    const graph = graphOf('outlier', x, a);
    const tStar = (1 + (99 * 0.1) / 7) / (1 + 99 / 49);
    assert.ok(Math.abs(tStar - 0.79932) < 1e-5);
    const range = (estimator: Record<string, unknown>) => {
      const cfg = config({ weights: W4_PER_TENSOR, estimator: estimator as never });
      const wq = planQuantization(graph, cfg).weights[0]!;
      const scale = kernelObserver(a, wq, cfg.estimator).qparams().scale[0]! * 7;
      const q = quantizedKernel(a, wq, cfg.estimator);
      return { t: scale, one: q[17]!, small: q[0]! };
    };
    const mse = range({ kind: 'minmax', weights: 'mse' });
    // The search scores candidates t = i/2048 (whole bins of |w| over [0, 1]) and spreads each bin's mass uniformly
    // across it, which moves the optimum to the bins' centres: 0.1 lies in [204, 205)/2048 and 1.0 in the last bin,
    // so the optimum it sees is t*' = (c₁ + 99·c₀/7) / (1 + 99/49) (the spread adds a constant); it picks the
    // candidate nearest that, within a few bins of t*.
    const c0 = 204.5 / 2048;
    const c1 = 1 - 0.5 / 2048;
    const tBinned = (c1 + (99 * c0) / 7) / (1 + 99 / 49);
    assert.ok(Math.abs(mse.t - tBinned) <= 0.5 / 2048 + 1e-9, `t ${mse.t} vs binned ${tBinned}`);
    assert.ok(Math.abs(mse.t - tStar) < 3 / 2048, `t ${mse.t} vs ${tStar}`);
    assert.ok(Math.abs(mse.one - mse.t) < 1e-6 && Math.abs(mse.small - mse.t / 7) < 1e-6, `1.0 → ${mse.one}, 0.1 → ${mse.small}`);
    // The same kernels as the mse estimator's own; minmax (and mse activations with minmax kernels) keep t = 1.
    assert.ok(Math.abs(range({ kind: 'mse' }).t - mse.t) < 1e-9);
    for (const e of [{ kind: 'minmax' }, { kind: 'mse', weights: 'minmax' }]) {
      const r = range(e);
      assert.ok(Math.abs(r.t - 1) < 1e-6 && Math.abs(r.small - 1 / 7) < 1e-6, JSON.stringify(r));
    }
  });
});

describe('analytic bias correction', () => {
  /** ∫ f(x) N(x; μ, σ²) dx by the trapezoid rule over μ ± 12σ. */
  function integrate(f: (x: number) => number, mu: number, sigma: number): number {
    const steps = 200_000;
    const lo = mu - 12 * sigma;
    const h = (24 * sigma) / steps;
    let sum = 0;
    for (let k = 0; k <= steps; k++) {
      const x = lo + k * h;
      const w = k === 0 || k === steps ? 0.5 : 1;
      sum += w * f(x) * Math.exp(-0.5 * ((x - mu) / sigma) ** 2);
    }
    return (sum * h) / (sigma * Math.sqrt(2 * Math.PI));
  }

  test('E[relu(x)] and E[relu6(x)] of a normal agree with numerical integration to 1e-6', () => {
    for (const [mu, sigma] of [[0, 1], [1.5, 0.5], [-2, 1], [5, 2], [3, 4], [-0.3, 0.01]] as const) {
      const relu = integrate((x) => Math.max(x, 0), mu, sigma);
      const relu6 = integrate((x) => Math.min(Math.max(x, 0), 6), mu, sigma);
      assert.ok(Math.abs(expectedActivation('relu', mu, sigma) - relu) < 1e-6 * Math.max(1, relu), `relu μ=${mu} σ=${sigma}: ${expectedActivation('relu', mu, sigma)} vs ${relu}`);
      assert.ok(Math.abs(expectedActivation('relu6', mu, sigma) - relu6) < 1e-6 * Math.max(1, relu6), `relu6 μ=${mu} σ=${sigma}`);
    }
    assert.ok(Math.abs(expectedActivation('relu', 0, 1) - 1 / Math.sqrt(2 * Math.PI)) < 1e-7);
  });

  test('from BN statistics, on inputs that are exactly those Gaussians, it matches the empirical correction within sampling error', async () => {
    // x ~ N(0, I) → Dense (identity kernel) → BN: the pre-activation is N(β, γ²) per channel.
    const x = input('x', [8]);
    const a = dense('a', x, 8, { bias: false });
    a.op === 'dense' && a.weights.kernel.values.forEach((_, i, v) => (v[i] = i % 9 === 0 ? 1 : 0));
    const bn = batchNorm('bn', a);
    // The BN's own moving statistics of an identity layer on N(0, 1) inputs: mean 0, variance 1 (minus ε).
    bn.weights.movingMean.values.fill(0);
    bn.weights.movingVariance.values.fill(1 - bn.epsilon);
    const r = act('relu', bn, 'relu');
    const b = dense('b', r, 5, { bias: true });
    const source = graphOf('gauss', x, a, bn, r, b);
    const { graph, folded } = foldBatchNorm(source);
    // 'a' stays float so b's input is exactly relu(N(β, γ²)) in the empirical pass too.
    const cfg = config({ weights: W4_PER_TENSOR, overrides: [{ layer: 'a', float: true }] });
    const plan = planQuantization(graph, cfg);
    assert.deepEqual(plan.weights.map((w) => w.layer), ['b']);
    const analytic = analyticBiasCorrection(graph, plan, cfg.estimator, foldedBnStatistics(source, folded));
    assert.deepEqual(analytic.skipped, []);
    const next = rng(3);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const n = 20_000;
    const batches = () => [{ x: tf.tensor2d(Float32Array.from({ length: n * 8 }, gauss), [n, 8]), size: n }];
    const empirical = await empiricalBiasCorrection(graph, plan, cfg.estimator, batches);
    const ana = analytic.shifts.find((s) => s.layer === 'b')!.shift;
    const emp = empirical.shifts.find((s) => s.layer === 'b')!.shift;
    // Standard error of a mean of 20,000 draws of ΔW·relu(x): about 1% of its spread; allow 5% of the largest shift.
    for (let o = 0; o < 5; o++) assert.ok(Math.abs(ana[o]! - emp[o]!) < 0.05 * maxAbs(emp), `channel ${o}: analytic ${ana[o]} empirical ${emp[o]}`);
    assert.ok(maxAbs(emp) > 1e-3);
  });

  test('layers it cannot derive an input expectation for are listed with why', () => {
    const x = input('x', [6, 6, 2]);
    const c1 = conv('c1', x, 4, { bias: false });
    const n1 = batchNorm('bn1', c1);
    const sw = act('sw', n1, 'swish');
    const c2 = conv('c2', sw, 4, { bias: false });
    const c3 = conv('c3', c2, 4, { activation: 'relu' });
    const source = graphOf('skips', x, c1, n1, sw, c2, c3);
    const { graph, folded } = foldBatchNorm(source);
    const cfg = config({ weights: W4_PER_TENSOR });
    const r = analyticBiasCorrection(graph, planQuantization(graph, cfg), cfg.estimator, foldedBnStatistics(source, folded));
    assert.deepEqual(r.skipped, [
      { layer: 'c1', reason: 'it reads the model input: no BatchNorm statistics before it (use empirical bias correction)' },
      { layer: 'c2', reason: 'swish at sw: the clipped-normal formula covers ReLU, ReLU6 and identity' },
      { layer: 'c3', reason: 'the layer before it, c2, has no BatchNorm folded into it' },
    ]);
    assert.deepEqual(r.shifts, []);
  });
});
