// The Export view's reading of a stored layer diff: a report tallied by the
// main side's StepTally on explainable values, stored as JSON as the exports
// table stores it, read back as the table and chart rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstDivergence, layerDiffOrReason, StepTally, type LayerDiffReport } from '../../../../src-main/export/diff/layer-diff.js';
import { CancelledError } from '../../../../src-main/engine/job-context.js';
import { layerDiffOverlayValues, layerDiffSeries, layerDiffVerdict, readLayerDiff } from '../../../../src-renderer/lib/data/layer-diff.js';

function report(): LayerDiffReport {
  const grid = { scale: [0.5], zeroPoint: [-3], channelsFirst: false };
  const exact = new StepTally('conv', 'conv/output', grid);
  // File integers q, simulation values v: steps q − zp = 3, 4 against round(v / 0.5) = 3, 4.
  exact.add([0, 1], [1.5, 2], 2);
  const off = new StepTally('dense', 'dense/output', grid);
  // Steps 0, 1, 2, 3 against 0, 1, 2, 5: one value two steps off (a quarter beyond one); SQNR 10·log10((0+1+4+25)/4) = 8.75 dB.
  off.add([-3, -2, -1, 0], [0, 0.5, 1, 2.5], 4);
  const layers = [exact.result(), off.result()];
  return { format: 'onnx', samples: 2, batchSize: 2, tolerance: 1, layers, firstDivergence: firstDivergence(layers), seconds: 0.1 };
}

test('a stored layer diff reads back as rows in the model order, the diverging layer marked', () => {
  const stored = JSON.parse(JSON.stringify({ agreement: 1, layerDiff: report() })) as Record<string, unknown>;
  const d = readLayerDiff({ verification: stored })!;
  assert.equal(d.firstDivergence, 'dense');
  assert.deepEqual(d.rows.map((r) => [r.index, r.layer, r.maxSteps, r.diverges]), [[1, 'conv', 0, false], [2, 'dense', 2, true]]);
  assert.equal(d.rows[0]!.sqnr, null, 'exact: no noise');
  assert.ok(Math.abs(d.rows[1]!.sqnr! - 10 * Math.log10(7.5)) < 1e-9);
  assert.equal(d.rows[1]!.beyondOne, 0.25);
  assert.equal(d.rows[1]!.offByOne, 0);
  assert.deepEqual(layerDiffSeries(d.rows), [[0, 1], [0, 2], [0, 25]]);
  assert.match(layerDiffVerdict(d), /part at layer dense: more than 1 step off/);
});

test('no diff, or one that does not read: null (older exports, other formats)', () => {
  assert.equal(readLayerDiff({ verification: { agreement: 1 } }), null);
  assert.equal(readLayerDiff({ verification: { layerDiff: { layers: [{ layer: 'x' }] } } }), null);
  assert.equal(readLayerDiff({ verification: { layerDiff: [] } }), null);
});

test("the graph overlay's values: the newest export with a diff, SQNR by layer, exact as +∞", () => {
  const withDiff = { id: 4, verification: JSON.parse(JSON.stringify({ layerDiff: report() })) as Record<string, unknown> };
  const older = { id: 2, verification: { layerDiff: { ...report(), layers: [] } } };
  const newestWithout = { id: 9, verification: { agreement: 1 } };
  const o = layerDiffOverlayValues([older, newestWithout, withDiff]);
  assert.equal(o.exportId, 4);
  assert.deepEqual([...o.values.keys()], ['conv', 'dense']);
  assert.equal(o.values.get('conv'), Infinity);
  assert.ok(Math.abs(o.values.get('dense')! - 10 * Math.log10(7.5)) < 1e-9);
  assert.equal(layerDiffOverlayValues([newestWithout]).exportId, null);
});

test('a diff that could not be made is recorded with its reason, not a failed export; a cancel still stops the export', async () => {
  const failed = await layerDiffOrReason('onnx', () => Promise.reject(new Error('debug copy refused by onnxruntime: Type Error')));
  assert.equal(failed.unavailable, 'debug copy refused by onnxruntime: Type Error');
  assert.deepEqual(failed.layers, []);
  const view = readLayerDiff({ verification: { layerDiff: failed } as Record<string, unknown> })!;
  assert.equal(view.unavailable, failed.unavailable);
  assert.match(layerDiffVerdict(view), /^No layer-by-layer diff: debug copy refused/);
  await assert.rejects(
    layerDiffOrReason('tflite', () => Promise.reject(new CancelledError())),
    (e: unknown) => e instanceof CancelledError,
  );
});
