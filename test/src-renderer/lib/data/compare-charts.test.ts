// Data preparation of the Compare view's charts: SQNR ranking, channel bars,
// histogram grid and clipped mass, culprit overrides and curves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunCurvePoint, TensorRecord } from '../../../../src-main/api/contract.js';
import { channelBars } from '../../../../src-renderer/lib/data/channels.js';
import { hasOverride, withOverride } from '../../../../src-renderer/lib/data/culprit.js';
import { joinCurves, joinRanges, rangeNames } from '../../../../src-renderer/lib/data/curves.js';
import { clippedMass, gridLevels, histogramBars, quantLimits } from '../../../../src-renderer/lib/data/histogram.js';
import { hasRole, rankLayers, sqnrSeries, worstRunIndex } from '../../../../src-renderer/lib/data/sqnr.js';
import { config } from './fixtures.js';

function tensor(layer: string, role: string, sqnr: number | null, extra: Partial<TensorRecord> = {}): TensorRecord {
  return {
    layer,
    role,
    granularity: 'per-tensor',
    axis: null,
    bits: 8,
    symmetric: true,
    narrowRange: true,
    channels: 1,
    min: -1,
    max: 1,
    scale: 2 / 254,
    zeroPoint: 128,
    sqnr,
    clipRate: role === 'weight' ? 0 : 0.01,
    ...extra,
  };
}

test('layers rank worst first by the base run, with every run overlaid', () => {
  const a = { id: 1, tensors: [tensor('conv1', 'weight', 30), tensor('conv1', 'activation', 25), tensor('conv2', 'weight', 12), tensor('dense', 'activation', 40)] };
  const b = { id: 2, tensors: [tensor('conv1', 'weight', 10), tensor('conv2', 'weight', 35), tensor('dense', 'activation', 41)] };
  const byA = rankLayers([a, b], 0);
  assert.deepEqual(byA.map((r) => r.layer), ['conv2', 'conv1', 'dense']);
  assert.deepEqual(byA[0]!.weight, [12, 35]);
  assert.equal(byA[1]!.worst, 25, 'the lower of weight and activation SQNR');
  const byB = rankLayers([a, b], 1);
  assert.deepEqual(byB.map((r) => r.layer), ['conv1', 'conv2', 'dense']);
  assert.deepEqual(sqnrSeries(byB, 'weight', 2), [[0, 1, 2], [30, 12, null], [10, 35, null]]);
  assert.equal(hasRole(byB, 'activation'), true);
});

test('layers without SQNR (kept float) go last, ties keep graph order, Infinity counts as missing', () => {
  const run = { id: 1, tensors: [tensor('a', 'weight', null), tensor('b', 'weight', 20), tensor('c', 'weight', 20), tensor('d', 'weight', Infinity)] };
  assert.deepEqual(rankLayers([run]).map((r) => r.layer), ['b', 'c', 'a', 'd']);
  assert.deepEqual(rankLayers([]), []);
});

test('a layer the base run kept float is ranked by the other runs', () => {
  const base = { id: 1, tensors: [tensor('x', 'weight', 30)] };
  const other = { id: 2, tensors: [tensor('x', 'weight', 30), tensor('y', 'weight', 5)] };
  const ranked = rankLayers([base, other], 0);
  assert.equal(ranked[0]!.layer, 'y');
  assert.equal(ranked[0]!.worst, 5);
});

test('ops come from the run summary; the model input counts as an activation', () => {
  const run = { id: 1, tensors: [tensor('input', 'input', 48), tensor('conv1', 'weight', 30, { granularity: 'per-channel', channels: 32 })], summary: { layers: [{ name: 'conv1', op: 'Conv2D' }] } };
  const ranked = rankLayers([run]);
  const conv = ranked.find((r) => r.layer === 'conv1')!;
  assert.equal(conv.op, 'Conv2D');
  assert.equal(conv.channels, 32);
  assert.deepEqual(ranked.find((r) => r.layer === 'input')!.activation, [48]);
});

test('the culprit hunt starts from the run with the lowest quantized accuracy', () => {
  assert.equal(worstRunIndex([{ kind: 'ptq', quantAccuracy: 0.9 }, { kind: 'ptq', quantAccuracy: 0.8 }, { kind: 'float', quantAccuracy: 0.1 }]), 1);
  assert.equal(worstRunIndex([{ kind: 'ptq', quantAccuracy: null }]), 0);
});

test('channel bars: one bar per channel, per-tensor lines across, y extent covers both', () => {
  const bars = channelBars({ min: [-0.1, -0.5, -0.2], max: [0.1, 0.4, 0.3] }, [{ runId: 1, min: -0.5, max: 0.5, granularity: 'per-tensor' }]);
  assert.equal(bars.count, 3);
  assert.deepEqual(bars.x, [0, 1, 2]);
  assert.deepEqual(bars.min, [-0.1, -0.5, -0.2]);
  assert.ok(bars.yRange[0] < -0.5 && bars.yRange[1] > 0.5);
  // Median channel width 0.5 against a per-tensor range of 1.0.
  assert.equal(bars.medianWidthRatio, 0.5);
});

test('channel bars: no vectors means no bars, a max below its min becomes an empty bar', () => {
  const none = channelBars(null, [{ runId: 1, min: -1, max: 2, granularity: 'per-tensor' }]);
  assert.equal(none.count, 0);
  assert.deepEqual(none.lines.length, 1);
  const odd = channelBars({ min: [0.5], max: [0.2] }, []);
  assert.deepEqual([odd.min[0], odd.max[0]], [0.5, 0.5]);
  assert.ok(odd.yRange[0] < odd.yRange[1]);
});

test('clipped mass counts whole bins outside the range and the cut part of edge bins', () => {
  // 10 bins over [0, 10), 10 counts each; range [2.5, 8] clips 2.5 bins below and 2 above.
  const h = { lo: 0, hi: 10, rangeMin: 2.5, rangeMax: 8, counts: new Array(10).fill(10) };
  const m = clippedMass(h);
  assert.equal(m.total, 100);
  assert.equal(m.below, 25);
  assert.equal(m.above, 20);
  assert.equal(m.fraction, 0.45);
  assert.equal(clippedMass({ lo: 0, hi: 1, rangeMin: 0, rangeMax: 1, counts: [] }).fraction, 0);
  assert.equal(clippedMass({ lo: -1, hi: 1, rangeMin: -1, rangeMax: 1, counts: [3, 4] }).fraction, 0);
  // With the step: the grid reaches half a step past each end, so a step of 1 clips 2 bins below and 1.5 above.
  const stepped = clippedMass(h, 1);
  assert.equal(stepped.below, 20);
  assert.equal(stepped.above, 15);
});

test('the quantization grid sits at (q − zp)·scale within [qmin, qmax], 0 among the lines', () => {
  assert.deepEqual(quantLimits(8, true), { qmin: 1, qmax: 255 });
  assert.deepEqual(quantLimits(4, false), { qmin: 0, qmax: 15 });
  // 4-bit asymmetric, zero point 3, scale 0.5: levels −1.5 .. 6.
  const g = gridLevels({ bits: 4, narrowRange: false, scale: 0.5, zeroPoint: 3 }, -10, 10, 100);
  assert.equal(g.levels, 16);
  assert.equal(g.values.length, 16);
  assert.equal(g.values[0], -1.5);
  assert.equal(g.values.at(-1), 6);
  assert.ok(g.values.includes(0));
  // 8 bits thinned to at most ~32 lines, still through 0.
  const thin = gridLevels({ bits: 8, narrowRange: true, scale: 1 / 127, zeroPoint: 128 }, -1, 1, 32);
  assert.ok(thin.values.length <= 33 && thin.every > 1);
  assert.ok(thin.values.some((v) => Math.abs(v) < 1e-12));
  assert.deepEqual(gridLevels({ bits: 8, narrowRange: false, scale: 0, zeroPoint: 0 }, -1, 1).values, []);
});

test('histogram bars merge bins and split inside / clipped by the bin centre', () => {
  const h = { lo: 0, hi: 8, rangeMin: 2, rangeMax: 6, counts: [1, 1, 1, 1, 1, 1, 1, 1] };
  const bars = histogramBars(h, 4);
  assert.deepEqual(bars.x, [1, 3, 5, 7]);
  assert.deepEqual(bars.inside, [null, 2, 2, null]);
  assert.deepEqual(bars.clipped, [2, null, null, 2]);
  assert.equal(bars.binWidth, 2);
});

test('culprit: the same config with one layer fixed, other overrides kept, same layer replaced', () => {
  const base = config({ overrides: [{ layer: 'conv2', float: true }] });
  const floatConv1 = withOverride(base, 'conv1', 'float');
  assert.deepEqual(floatConv1.overrides, [{ layer: 'conv2', float: true }, { layer: 'conv1', float: true }]);
  const conv2at16 = withOverride(base, 'conv2', '16');
  assert.deepEqual(conv2at16.overrides, [{ layer: 'conv2', weightBits: 16, activationBits: 16 }]);
  assert.equal(base.overrides.length, 1, 'the base config is not changed');
  assert.deepEqual(conv2at16.weights, base.weights);
  assert.equal(hasOverride(base, 'conv2', 'float'), true);
  assert.equal(hasOverride(base, 'conv2', '8'), false);
});

test('curves of several runs share one step axis, with gaps where a run logged nothing', () => {
  const p = (step: number, split: 'train' | 'val', loss: number, ranges?: Record<string, { min: number; max: number }>): RunCurvePoint => ({ step, epoch: step / 10, split, loss, accuracy: 1 - loss, ranges: ranges ?? null });
  const a = [p(0, 'train', 2), p(10, 'train', 1), p(10, 'val', 1.5, { input: { min: 0, max: 1 } })];
  const b = [p(5, 'train', 1.8, { input: { min: -0.1, max: 0.9 } })];
  assert.deepEqual(joinCurves([a, b], 'loss'), [[0, 5, 10], [2, null, 1], [null, 1.8, null]]);
  assert.deepEqual(joinCurves([a, b], 'val_loss'), [[10], [1.5], [null]]);
  assert.deepEqual(rangeNames([a, b]), ['input']);
  assert.deepEqual(joinRanges([a, b], 'input'), [[5, 10], [null, 0], [null, 1], [-0.1, null], [0.9, null]]);
});
