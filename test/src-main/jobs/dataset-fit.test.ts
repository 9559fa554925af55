/**
 * A dataset that does not fit the model is refused at the API boundary,
 * before a run exists: runs.lint reports it as an error naming the dataset,
 * the model and the mismatch, and runs.start refuses it (invalid_input) with
 * no run row written. Real studio: SQLite file, engine worker, NPY files.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { DatasetSummary, LintFinding, RunSummary } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';
import { writeNpyDataset } from '../io/data/helpers.js';

let studio: Studio;

before(async () => {
  studio = await openStudio({ dbPath: path.join(tempDir(), 'studio.sqlite'), host: 'cli', backend: 'cpu' });
});

after(async () => {
  await studio.close();
});

async function call<T>(method: string, input: unknown): Promise<{ ok: true; output: T } | { ok: false; error: { code: string; message: string } }> {
  return (await dispatch(studio.handlers, method, input, { validateOutputs: true })) as never;
}

async function importNpy(name: string, shape: number[], classes: number): Promise<DatasetSummary> {
  const r = await call<DatasetSummary>('datasets.import', { path: writeNpyDataset(path.join(tempDir(), name), 60, shape, classes), name });
  assert.ok(r.ok, JSON.stringify(r));
  return r.output;
}

const sampleModel = 1; // fashion_cnn_sample: 28x28x1, 10 classes

test('images of another shape: lint says so naming dataset, model and both shapes; start refuses; no run row', async () => {
  const cifarLike = await importNpy('rgb32', [32, 32, 3], 10);
  const config = { modelId: sampleModel, datasetId: cifarLike.id, calibration: { count: 20 }, eval: { count: 20 } };
  const lint = await call<{ findings: LintFinding[] }>('runs.lint', { kind: 'ptq', config });
  assert.ok(lint.ok);
  const finding = lint.output.findings.find((f) => f.code === 'dataset-mismatch');
  assert.ok(finding, JSON.stringify(lint.output.findings));
  assert.equal(finding.severity, 'error');
  assert.match(finding.message, /^dataset "rgb32" \(32x32x3, 10 classes\) does not fit model "fashion_cnn_sample" \(input 28x28x1, 10 classes\)/);
  // 32·32·3 = 3072 values against 28·28·1 = 784: the sizes the reader's own check gives.
  assert.match(finding.message, /\[32,32,3\] \(3072 values\) but the model expects inputs of shape \[28,28,1\] \(784 values\)/);

  const before = studio.store.runs.list().length;
  for (const kind of ['ptq', 'qat', 'float'] as const) {
    const start = await call<RunSummary>('runs.start', { kind, config });
    assert.ok(!start.ok);
    assert.equal(start.error.code, 'invalid_input');
    assert.match(start.error.message, /dataset "rgb32" .* does not fit model "fashion_cnn_sample"/);
  }
  assert.equal(studio.store.runs.list().length, before, 'no run row was written');
});

test('more label values than the model has outputs: refused naming the labels it could never predict', async () => {
  const twelve = await importNpy('gray12', [28, 28, 1], 12);
  assert.equal(twelve.numClasses, 12);
  const config = { modelId: sampleModel, datasetId: twelve.id, calibration: { count: 20 }, eval: { count: 20 } };
  const start = await call<RunSummary>('runs.start', { kind: 'ptq', config });
  assert.ok(!start.ok);
  assert.match(start.error.message, /dataset "gray12" \(28x28x1, 12 classes\) does not fit model "fashion_cnn_sample" \(input 28x28x1, 10 classes\): .*dataset has 12 classes but the model outputs 10 scores; labels 10\.\.11 could never be predicted/);
});

test('a dataset that fits (the same shape, fewer classes; or flattened for a Dense model) passes the check', async () => {
  const six = await importNpy('gray6', [28, 28, 1], 6);
  const lint = await call<{ findings: LintFinding[] }>('runs.lint', { kind: 'ptq', config: { modelId: sampleModel, datasetId: six.id } });
  assert.ok(lint.ok);
  assert.equal(lint.output.findings.filter((f) => f.code === 'dataset-mismatch').length, 0);
  const dense = await call<{ id: number }>('models.importBuiltin', { name: 'dense_784_256_128_10' });
  assert.ok(dense.ok);
  const flat = await call<{ findings: LintFinding[] }>('runs.lint', { kind: 'ptq', config: { modelId: dense.output.id, datasetId: six.id } });
  assert.ok(flat.ok);
  assert.equal(flat.output.findings.filter((f) => f.code === 'dataset-mismatch').length, 0, '[28,28,1] reshapes to [784] in order');
});
