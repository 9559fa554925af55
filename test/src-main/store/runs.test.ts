import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { RunDetail, RunSummary } from '../../../src-main/api/contract.js';
import { StoreConflictError, StoreNotFoundError } from '../../../src-main/store/index.js';
import { seed, tempStore } from './helpers.js';

test('list joins model and dataset names, parses config, newest first, and matches RunSummary', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store, 'Fashion CNN');
  const first = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  const second = store.runs.create({
    kind: 'qat',
    name: 'my qat',
    config: { modelId, datasetId, training: { epochs: 2 }, overrides: [{ layer: 'dense_1', float: true }] },
    parentId: first.id,
  });

  const list = store.runs.list();
  assert.deepEqual(list.map((r) => r.id), [second.id, first.id]);
  const [qat, ptq] = list as [RunSummary, RunSummary];
  assert.deepEqual(RunSummary.parse(qat), qat, 'already the contract shape');
  assert.equal(ptq.name, 'fashion_cnn_8w8a_sym_narrow_perch_minmax', 'default name from the model name');
  assert.equal(qat.name, 'my qat');
  assert.equal(qat.modelName, 'Fashion CNN');
  assert.match(qat.datasetName, /^Fashion-MNIST/);
  assert.equal(qat.status, 'queued');
  assert.equal(qat.parentId, first.id);
  assert.equal(qat.config.training?.epochs, 2);
  assert.equal(qat.config.training?.optimizer, 'adam', 'defaults filled');
  assert.equal(qat.config.weights.granularity, 'per-channel');
  assert.deepEqual(qat.config.overrides, [{ layer: 'dense_1', float: true }]);
  assert.match(qat.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(store.runs.children(first.id).map((r) => r.id), [second.id]);
});

test('lifecycle: queued -> running -> done, and late updates are refused', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  assert.equal(store.runs.markRunning(run.id, 'tensorflow'), true);
  assert.equal(store.runs.markRunning(run.id, 'wasm'), false, 'already running');
  assert.equal(store.runs.setMetrics(run.id, { floatAccuracy: 0.91, floatLoss: 0.3 }), true);
  assert.equal(
    store.runs.finish(run.id, {
      status: 'done',
      quantAccuracy: 0.9,
      quantLoss: Number.NaN,
      summary: { accuracyDrop: 0.01 },
      lint: [{ severity: 'warning', layer: 'conv_1', code: 'wide-range', message: 'range is wide', fix: 'use percentile' }],
    }),
    true,
  );
  assert.equal(store.runs.fail(run.id, 'too late'), false);
  assert.equal(store.runs.finish(run.id, { status: 'cancelled' }), false);

  const detail = store.runs.detail(run.id)!;
  assert.deepEqual(RunDetail.parse(detail), detail);
  assert.equal(detail.status, 'done');
  assert.equal(detail.backend, 'tensorflow');
  assert.equal(detail.floatAccuracy, 0.91, 'kept from setMetrics');
  assert.equal(detail.quantAccuracy, 0.9);
  assert.equal(detail.quantLoss, null, 'NaN is stored as null');
  assert.equal(detail.error, null);
  assert.deepEqual(detail.summary, { accuracyDrop: 0.01 });
  assert.equal(detail.lint[0]?.code, 'wide-range');
  assert.deepEqual(detail.tensors, []);
  assert.ok(detail.startedAt! <= detail.finishedAt!);

  const failed = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  assert.equal(store.runs.fail(failed.id, 'layer lambda_1 is not supported'), true);
  const f = store.runs.get(failed.id)!;
  assert.equal(f.status, 'failed');
  assert.equal(f.error, 'layer lambda_1 is not supported');
  assert.ok(f.finishedAt);
  assert.equal(store.runs.markRunning(failed.id, 'cpu'), false);
});

test('create refuses missing model, dataset or parent; rename; unknown ids', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  assert.throws(() => store.runs.create({ kind: 'ptq', config: { modelId: 99, datasetId } }), StoreNotFoundError);
  assert.throws(() => store.runs.create({ kind: 'ptq', config: { modelId, datasetId: 99 } }), StoreNotFoundError);
  assert.throws(() => store.runs.create({ kind: 'ptq', config: { modelId, datasetId }, parentId: 99 }), StoreNotFoundError);
  assert.throws(() => store.runs.create({ kind: 'ptq', config: { modelId, datasetId, weights: { bits: 1, symmetric: true, narrowRange: true, granularity: 'per-tensor' } } }), /bits must be between 2 and 16/);
  assert.equal(store.runs.list().length, 0);

  const run = store.runs.create({ kind: 'float', config: { modelId, datasetId } });
  assert.equal(store.runs.rename(run.id, 'baseline')?.name, 'baseline');
  assert.equal(store.runs.rename(999, 'x'), undefined);
  assert.equal(store.runs.get(999), undefined);
  assert.equal(store.runs.detail(999), undefined);
  assert.deepEqual(store.runs.delete(999), { deleted: false, exportPaths: [] });
});

test('deleting a run removes every child row, returns export paths and keeps derived runs', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const run = store.runs.create({ kind: 'qat', config: { modelId, datasetId } });
  const other = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  const child = store.runs.create({ kind: 'ptq', config: { modelId, datasetId }, parentId: run.id });
  for (const id of [run.id, other.id]) {
    store.runs.markRunning(id, 'cpu');
    store.curves.append(id, [
      { step: 1, epoch: 0.1, split: 'train', loss: 1.2, accuracy: 0.5, ranges: { 'conv_1/act': { min: -1, max: 2 } } },
      { step: 1, epoch: 0.1, split: 'val', loss: 1.3, accuracy: 0.45 },
    ]);
    store.tensors.saveRunResults(id, {
      quantAccuracy: 0.8,
      tensors: [
        {
          layer: 'conv_1', role: 'weight', granularity: 'per-channel', axis: 3, bits: 8, symmetric: true, narrowRange: true,
          channels: 2, min: -1, max: 1, scale: 1 / 127, zeroPoint: 0, sqnr: 30, clipRate: 0,
          perChannel: { min: new Float32Array([-1, -0.5]), max: new Float32Array([1, 0.5]), scale: new Float32Array([1 / 127, 0.5 / 127]), zeroPoint: new Int32Array(2) },
        },
      ],
      histograms: [{ layer: 'conv_1', role: 'activation', lo: 0, hi: 6, rangeMin: 0, rangeMax: 5.5, counts: new Uint32Array(128).fill(3) }],
    });
    store.exports.insert({ runId: id, format: 'tflite', path: `/exports/run-${id}.tflite`, size: 1234, sha256: 'abc' });
    store.exports.insert({ runId: id, format: 'tfjs', path: `/exports/run-${id}/model.json`, size: 99, sha256: 'def', verification: { ok: true } });
  }

  store.runs.markRunning(child.id, 'cpu');
  assert.throws(() => store.runs.delete(child.id), StoreConflictError, 'a running run is not deleted');

  const result = store.runs.delete(run.id);
  assert.deepEqual(result, { deleted: true, exportPaths: [`/exports/run-${run.id}.tflite`, `/exports/run-${run.id}/model.json`] });
  assert.equal(store.runs.get(run.id), undefined);
  assert.equal(store.runs.get(child.id)?.parentId, null, 'the derived run lives on');

  // Check the file itself through another connection.
  const db = new Database(store.path, { readonly: true });
  t.after(() => db.close());
  const count = (table: string, where: string) => db.prepare(`SELECT count(*) FROM ${table} WHERE ${where}`).pluck().get();
  for (const table of ['run_tensors', 'histograms', 'run_curves', 'exports']) {
    assert.equal(count(table, `run_id = ${run.id}`), 0, `${table} of the deleted run`);
    assert.ok((count(table, `run_id = ${other.id}`) as number) > 0, `${table} of the other run`);
  }
  assert.equal(count('run_channels', '1'), 1, 'only the other run keeps its channel row');
  assert.equal(store.exports.listByRun(other.id).length, 2);
});

test('floatReferences: the float figures of a model\'s finished runs under their evaluation key, newest first, one per key', (t) => {
  const store = tempStore(t);
  const { modelId, datasetId } = seed(store);
  const other = seed(store, 'Other');
  const done = (model: number, key: string | null, floatAccuracy: number, count = 500) => {
    const run = store.runs.create({ kind: 'ptq', config: { modelId: model, datasetId: model === modelId ? datasetId : other.datasetId } });
    store.runs.markRunning(run.id, 'wasm');
    store.runs.finish(run.id, { status: 'done', floatAccuracy, floatLoss: 0.25, quantAccuracy: 0.5, summary: { eval: { count }, evaluation: key ? { floatKey: key } : {} } });
    return run.id;
  };
  const a1 = done(modelId, 'key-a', 0.9);
  done(modelId, null, 0.8); // an evaluation without a key (TF.js, or no dataset key)
  const a2 = done(modelId, 'key-a', 0.9);
  const b = done(modelId, 'key-b', 0.7, 200);
  done(other.modelId, 'key-c', 0.6);
  const failed = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  store.runs.finish(failed.id, { status: 'failed', floatAccuracy: 0.1, floatLoss: 1, summary: { eval: { count: 500 }, evaluation: { floatKey: 'key-d' } } });
  // A NaN float loss is stored as null: nothing to reuse.
  const nan = store.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  store.runs.finish(nan.id, { status: 'done', floatAccuracy: 0.9, floatLoss: Number.NaN, summary: { eval: { count: 500 }, evaluation: { floatKey: 'key-e' } } });

  assert.deepEqual(store.runs.floatReferences(modelId), [
    { key: 'key-b', accuracy: 0.7, loss: 0.25, count: 200, runId: b },
    { key: 'key-a', accuracy: 0.9, loss: 0.25, count: 500, runId: a2 },
  ]);
  assert.ok(a1 < a2);
  assert.deepEqual(store.runs.floatReferences(other.modelId).map((r) => r.key), ['key-c']);
});
