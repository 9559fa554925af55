// Overlays of the graph view: values per layer from run tensor records and
// their colour scales, checked against the scales' definitions (SQNR hue
// linear from 0 at 10 dB to 120 at 40 dB; A − B diverging on ±max|Δ|, square
// root; clip rate white to red on [0, max]).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LintFinding, TensorRecord } from '../../../../../src-main/api/contract.js';
import { OVERLAYS, clipColor, computeOverlay, divergingColor, sqnrColor, type OverlayRun } from '../../../../../src-renderer/lib/data/graph/overlays.js';

function tensor(layer: string, role: string, sqnr: number | null, extra: Partial<TensorRecord> = {}): TensorRecord {
  return { layer, role, granularity: 'per-tensor', axis: null, bits: 8, symmetric: true, narrowRange: false, channels: 1, min: -1, max: 1, scale: 2 / 255, zeroPoint: 0, sqnr, clipRate: null, ...extra };
}
const run = (id: number, tensors: TensorRecord[], lint: LintFinding[] = []): OverlayRun => ({ id, name: `run${id}`, tensors, lint });
const hue = (color: string) => Number(/^hsl\((\d+),/.exec(color)![1]);

test('SQNR colours: hue 0 at or below 10 dB, 120 at or above 40 dB, linear between', () => {
  assert.equal(hue(sqnrColor(-5)), 0);
  assert.equal(hue(sqnrColor(10)), 0);
  assert.equal(hue(sqnrColor(25)), 60);
  assert.equal(hue(sqnrColor(32.5)), 90);
  assert.equal(hue(sqnrColor(40)), 120);
  assert.equal(hue(sqnrColor(55)), 120);
});

test('weight and activation SQNR overlays read their role (the model input counts as an activation)', () => {
  const a = run(1, [tensor('conv', 'weight', 38.2), tensor('conv', 'activation', 21), tensor('input', 'input', 45), tensor('relu', 'activation', Number.NaN)]);
  const w = computeOverlay('weight-sqnr', ['input', 'conv', 'relu'], a, null);
  assert.deepEqual([...w.marks.keys()], ['conv']);
  assert.equal(w.marks.get('conv')!.text, '38.2 dB');
  assert.equal(w.marks.get('conv')!.color, sqnrColor(38.2));
  const x = computeOverlay('activation-sqnr', ['input', 'conv', 'relu'], a, null);
  assert.deepEqual([...x.marks.entries()].map(([k, m]) => [k, m.value]), [['input', 45], ['conv', 21]]);
  assert.equal(x.legend.length, 4);
});

test('A − B: per-channel minus per-tensor, blue where A is better, red where worse, span the largest |Δ|', () => {
  const perChannel = run(1, [tensor('c1', 'weight', 40), tensor('c2', 'weight', 30), tensor('c3', 'weight', 20)]);
  const perTensor = run(2, [tensor('c1', 'weight', 28), tensor('c2', 'weight', 31), tensor('c4', 'weight', 10)]);
  const o = computeOverlay('weight-sqnr-diff', ['c1', 'c2', 'c3', 'c4'], perChannel, perTensor);
  assert.deepEqual([...o.marks.entries()].map(([k, m]) => [k, m.value]), [['c1', 12], ['c2', -1]]);
  assert.equal(o.marks.get('c1')!.text, '+12.0 dB');
  assert.equal(o.marks.get('c2')!.text, '−1.0 dB');
  assert.equal(o.marks.get('c1')!.color, divergingColor(12, 12));
  assert.equal(hue(o.marks.get('c1')!.color), 215);
  assert.equal(hue(o.marks.get('c2')!.color), 0);
  // Square-root scale: a quarter of the span is half the saturation (75% at full).
  assert.equal(divergingColor(3, 12), 'hsl(215, 38%, 79%)');
  assert.equal(divergingColor(0, 12), 'hsl(215, 0%, 95%)');
  assert.match(o.legend[0]!.label, /−12\.0 dB/);
  // Tiny differences do not saturate: the span is at least 1 dB.
  const tiny = computeOverlay('weight-sqnr-diff', ['c1'], run(1, [tensor('c1', 'weight', 30.2)]), run(2, [tensor('c1', 'weight', 30)]));
  assert.equal(tiny.marks.get('c1')!.color, divergingColor(0.2, 1));
});

test('clip rate: white at 0 to red at the largest rate, at least 0.1%', () => {
  const a = run(1, [tensor('a', 'activation', 30, { clipRate: 0 }), tensor('b', 'activation', 30, { clipRate: 0.004 }), tensor('c', 'activation', 30, { clipRate: 0.002 })]);
  const o = computeOverlay('clip-rate', ['a', 'b', 'c'], a, null);
  assert.equal(o.marks.get('b')!.color, clipColor(1, 1));
  assert.equal(o.marks.get('c')!.color, clipColor(0.5, 1));
  assert.equal(o.marks.get('a')!.color, clipColor(0, 1));
  assert.equal(o.marks.get('b')!.text, '0.400%');
  const small = computeOverlay('clip-rate', ['a'], run(1, [tensor('a', 'activation', 30, { clipRate: 0.0005 })]), null);
  assert.equal(small.marks.get('a')!.color, clipColor(0.5, 1));
});

test('bits and granularity after overrides, lint by worst severity', () => {
  const a = run(
    1,
    [tensor('c1', 'weight', 30, { granularity: 'per-channel', bits: 4 }), tensor('c1', 'activation', 30), tensor('c2', 'weight', 30, { bits: 16 }), tensor('c2', 'activation', 30, { bits: 16 })],
    [
      { severity: 'info', layer: 'c2', code: 'x', message: '', fix: '' },
      { severity: 'warning', layer: 'c2', code: 'no-range', message: '', fix: '' },
      { severity: 'error', layer: null, code: 'model', message: '', fix: '' },
    ],
  );
  const bits = computeOverlay('bits', ['c1', 'c2', 'f'], a, null);
  assert.deepEqual([...bits.marks.entries()].map(([k, m]) => [k, m.text]), [['c1', 'w4 a8'], ['c2', 'w16 a16']]);
  assert.notEqual(bits.marks.get('c1')!.color, bits.marks.get('c2')!.color);
  assert.deepEqual(bits.legend.map((l) => l.label), ['w4 a8', 'w16 a16']);
  const g = computeOverlay('granularity', ['c1', 'c2'], a, null);
  assert.deepEqual(g.legend.map((l) => l.label), ['per-channel', 'per-tensor']);
  const lint = computeOverlay('lint', ['c1', 'c2'], a, null);
  assert.deepEqual([...lint.marks.entries()].map(([k, m]) => [k, m.text]), [['c2', 'warning: no-range']]);
});

test('the export diff is in the menu; its marks come from a source (the layer diff of an export), an exact tensor written "exact"', () => {
  const entry = OVERLAYS.find((o) => o.kind === 'export-diff')!;
  assert.equal(entry.unavailable, undefined);
  assert.equal(computeOverlay('export-diff', ['c1'], null, null).marks.size, 0);
  const withSource = computeOverlay('export-diff', ['c1', 'c2'], null, null, { 'export-diff': () => new Map([['c1', 25], ['c2', Infinity], ['zz', 3]]) });
  assert.deepEqual([...withSource.marks.entries()].map(([k, m]) => [k, m.text]), [['c1', '25.0 dB'], ['c2', 'exact']]);
  assert.match(computeOverlay('export-diff', ['c1'], null, null, { 'export-diff': () => new Map() }).title, /no verified ONNX or TFLite export/);
});
