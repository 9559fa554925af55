/** The sensitivity table's ranking, texts and bars, and the culprit loop from a sensitivity run (a PTQ child). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SensitivityLayer } from '../../../../src-main/api/contract.js';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import { culpritRun } from '../../../../src-renderer/lib/data/culprit.js';
import { barLength, caseAccuracy, caseSqnr, rankSensitivity, sqnrScale } from '../../../../src-renderer/lib/data/sensitivity.js';

const layer = (name: string, position: number, alone: number, sqnr: number | null): SensitivityLayer => ({
  layer: name,
  op: 'conv2d',
  position,
  weight: `${name}/kernel`,
  activation: `${name}/output`,
  quantizedAlone: { accuracy: alone, sqnr },
  floatAlone: { accuracy: 0.8, sqnr: 30 },
  weightsAlone: null,
  activationAlone: { accuracy: alone, sqnr },
});

test('worst first: the larger accuracy drop quantized alone, then the lower SQNR, exact last, then graph order', () => {
  const rows = rankSensitivity([layer('a', 0, 0.9, 40), layer('b', 1, 0.85, 50), layer('c', 2, 0.9, 35), layer('d', 3, 0.9, null), layer('e', 4, 0.9, 40)], 0.9);
  assert.deepEqual(rows.map((r) => r.layer), ['b', 'c', 'a', 'e', 'd']);
  assert.ok(Math.abs(rows[0]!.drop - 5) < 1e-9, 'five points lost');
  assert.equal(rows[4]!.drop, 0);
});

test('case texts: accuracy with its change from float in points, SQNR or exact, a dash for a case the layer lacks', () => {
  assert.equal(caseAccuracy({ accuracy: 0.8633, sqnr: 40 }, 0.8666), '86.33 % (−0.33)');
  assert.equal(caseAccuracy({ accuracy: 0.87, sqnr: 40 }, 0.86), '87.00 % (+1.00)');
  assert.equal(caseAccuracy({ accuracy: 0.86, sqnr: 40 }, 0.86), '86.00 % (±0.00)');
  assert.equal(caseAccuracy(null, 0.86), '–');
  assert.equal(caseSqnr({ accuracy: 0.86, sqnr: 41.26 }), '41.3 dB');
  assert.equal(caseSqnr({ accuracy: 0.86, sqnr: null }), 'exact');
});

test('bars: the axis ends at the highest finite SQNR rounded up to 10 dB (capped at 80), exact and beyond draw full', () => {
  const rows = rankSensitivity([layer('a', 0, 0.9, 43), layer('b', 1, 0.9, null)], 0.9);
  assert.equal(sqnrScale(rows), 50);
  assert.equal(barLength({ accuracy: 1, sqnr: 25 }, 50), 0.5);
  assert.equal(barLength({ accuracy: 1, sqnr: null }, 50), 1);
  assert.equal(barLength({ accuracy: 1, sqnr: 137 }, 50), 1);
  assert.equal(barLength(null, 50), 0);
  assert.equal(sqnrScale(rankSensitivity([layer('a', 0, 0.9, 137)], 0.9)), 80);
});

test('a fix from a sensitivity run is a PTQ run of its config with the override and without the subset; from a PTQ run, the same kind', () => {
  const config = RunConfig.parse({ modelId: 1, datasetId: 2, sensitivity: { subset: 300 }, overrides: [{ layer: 'x', float: true }] });
  const child = culpritRun({ kind: 'sensitivity', config }, 'conv2d', '16');
  assert.equal(child.kind, 'ptq');
  assert.equal('sensitivity' in child.config, false);
  assert.deepEqual(child.config.overrides, [{ layer: 'x', float: true }, { layer: 'conv2d', weightBits: 16, activationBits: 16 }]);
  const ptq = culpritRun({ kind: 'ptq', config: RunConfig.parse({ modelId: 1, datasetId: 2 }) }, 'dense', 'float');
  assert.equal(ptq.kind, 'ptq');
  assert.deepEqual(ptq.config.overrides, [{ layer: 'dense', float: true }]);
});
