/** A sensitivity run's layers: stored with the run's end in one transaction, read back in graph order, exact SQNR as null. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SensitivityLayer } from '../../../src-main/api/records.js';
import { seed, tempStore } from './helpers.js';

const layer = (name: string, position: number, extra: Partial<SensitivityLayer> = {}): SensitivityLayer => ({
  layer: name,
  op: 'conv2d',
  position,
  weight: `${name}/kernel`,
  activation: `${name}/output`,
  quantizedAlone: { accuracy: 0.8, sqnr: 41.5 },
  floatAlone: { accuracy: 0.85, sqnr: null },
  weightsAlone: { accuracy: 0.81, sqnr: 50.25 },
  activationAlone: { accuracy: 0.82, sqnr: 44 },
  ...extra,
});

test('layers are stored with the run and read back in graph order', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'sensitivity', config: { modelId, datasetId, sensitivity: { subset: 100 } } });
  const layers = [layer('b', 3), layer('input', 0, { op: 'input', weight: null, weightsAlone: null })];
  store.tensors.saveRunResults(run.id, { tensors: [], sensitivity: layers, floatAccuracy: 0.86, quantAccuracy: 0.84 });
  assert.equal(store.runs.get(run.id)!.status, 'done');
  assert.deepEqual(store.sensitivity.list(run.id), [layers[1], layers[0]]);
  assert.equal(store.runs.get(run.id)!.config.sensitivity?.subset, 100);
});

test('a layer that cannot be stored leaves the run as it was: no row, still running', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'sensitivity', config: { modelId, datasetId } });
  store.runs.markRunning(run.id, 'cpu');
  assert.throws(() => store.tensors.saveRunResults(run.id, { tensors: [], sensitivity: [layer('a', 1), layer('a', 2)] }), /UNIQUE/);
  assert.deepEqual(store.sensitivity.list(run.id), []);
  assert.equal(store.runs.get(run.id)!.status, 'running');
});
