import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DatasetSummary, ModelDetail, ModelSummary } from '../../../src-main/api/contract.js';
import { StoreConflictError } from '../../../src-main/store/index.js';
import { seed, tempStore } from './helpers.js';

test('models: insert, list, get, detail, findBySha256, artifact, delete', (t) => {
  const store = tempStore(t);
  const blob = new Uint8Array([1, 2, 3, 250]);
  const model = store.models.insert({
    name: 'mobilenet-mini', source: 'imported', format: 'keras', path: '/models/mm.keras', sha256: 'aa11',
    inputShape: [32, 32, 3], numClasses: 10, layerCount: 2, paramCount: 100,
    layers: [
      { name: 'input_1', op: 'input', inputs: [], outputShape: [32, 32, 3], params: 0, weightShapes: {} },
      { name: 'dense_1', op: 'dense', inputs: ['input_1'], outputShape: [10], params: 100, weightShapes: { kernel: [9, 10], bias: [10] }, activation: 'softmax' },
    ],
    artifact: blob,
  });
  assert.deepEqual(ModelSummary.parse(model), model);
  assert.equal(model.description, '');
  assert.deepEqual(store.models.list(), [model]);
  assert.deepEqual(store.models.get(model.id), model);
  assert.deepEqual(store.models.findBySha256('aa11'), model);
  assert.equal(store.models.findBySha256('zz'), undefined);
  const detail = store.models.getDetail(model.id)!;
  assert.deepEqual(ModelDetail.parse(detail), detail);
  assert.deepEqual(detail.layers[1]?.weightShapes, { kernel: [9, 10], bias: [10] });
  assert.deepEqual(store.models.artifact(model.id), { path: null, bytes: blob });

  assert.throws(() => store.models.insert({ ...model, name: 'again' }), StoreConflictError);
  assert.equal(store.models.list().length, 1);

  assert.equal(store.models.delete(model.id), true);
  assert.equal(store.models.delete(model.id), false);
  assert.equal(store.models.get(model.id), undefined);
});

test('datasets: insert, list, get, getStored, findBySha256, delete', (t) => {
  const store = tempStore(t);
  const dataset = store.datasets.insert({
    name: 'cifar-subset', source: 'imported', format: 'npz', path: '/data/c.npz', sha256: 'bb22', count: 500,
    inputShape: [32, 32, 3], numClasses: 10, description: 'first 500', preprocessing: { mean: [0.5, 0.5, 0.5], std: 0.25 },
    artifactPath: '/cache/c.bin',
  });
  assert.deepEqual(DatasetSummary.parse(dataset), dataset);
  assert.deepEqual(store.datasets.list(), [dataset]);
  assert.deepEqual(store.datasets.findBySha256('bb22'), dataset);
  assert.deepEqual(store.datasets.getStored(dataset.id), {
    ...dataset, sha256: 'bb22', preprocessing: { mean: [0.5, 0.5, 0.5], std: 0.25 }, artifactPath: '/cache/c.bin',
  });
  assert.throws(() => store.datasets.insert({ ...dataset, preprocessing: {} , sha256: 'bb22' }), StoreConflictError);
  assert.equal(store.datasets.delete(dataset.id), true);
  assert.equal(store.datasets.get(dataset.id), undefined);
});

test('a model or dataset used by a run cannot be deleted', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'float', config: { modelId, datasetId } });
  assert.throws(() => store.models.delete(modelId), /used by 1 run/);
  assert.throws(() => store.datasets.delete(datasetId), StoreConflictError);
  store.runs.finish(run.id, { status: 'cancelled' });
  store.runs.delete(run.id);
  assert.equal(store.models.delete(modelId), true);
  assert.equal(store.datasets.delete(datasetId), true);
});

test('curves append in batches and read back in step order; exports list by run', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'qat', config: { modelId, datasetId, training: {} } });
  store.runs.markRunning(run.id, 'wasm');
  store.curves.append(run.id, [
    { step: 10, epoch: 0.5, split: 'train', loss: 0.9, accuracy: 0.6, ranges: { 'dense_1/kernel': { min: -0.4, max: 0.41 } } },
    { step: 20, epoch: 1, split: 'train', loss: Number.NaN, accuracy: null },
  ]);
  store.curves.append(run.id, [{ step: 20, epoch: 1, split: 'val', loss: 1.1, accuracy: 0.55 }]);
  store.curves.append(run.id, []);
  assert.throws(() => store.curves.append(run.id, [
    { step: 30, epoch: 1.5, split: 'train', loss: 1, accuracy: 1 },
    { step: 31, epoch: 1.5, split: 'test' as 'val', loss: 1, accuracy: 1 },
  ]), /CHECK/);
  assert.deepEqual(store.curves.list(run.id), [
    { step: 10, epoch: 0.5, split: 'train', loss: 0.9, accuracy: 0.6, ranges: { 'dense_1/kernel': { min: -0.4, max: 0.41 } } },
    { step: 20, epoch: 1, split: 'train', loss: null, accuracy: null, ranges: null },
    { step: 20, epoch: 1, split: 'val', loss: 1.1, accuracy: 0.55, ranges: null },
  ]);

  const e = store.exports.insert({ runId: run.id, format: 'tflite', path: '/x/a.tflite', size: 2048, sha256: 'cc', audit: { int8Ops: 12 } });
  assert.equal(e.runId, run.id);
  assert.deepEqual(e.verification, {});
  assert.deepEqual(e.audit, { int8Ops: 12 });
  assert.match(e.createdAt, /Z$/);
  assert.deepEqual(store.exports.listByRun(run.id), [e]);
  assert.deepEqual(store.exports.listByRun(999), []);
  assert.throws(() => store.exports.insert({ ...e, runId: 999 }), /run 999 does not exist/);
});
