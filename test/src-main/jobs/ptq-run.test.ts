/**
 * A PTQ run through the whole studio: API → run manager → engine worker
 * thread → SQLite. Checks what lands in the real database file (read back
 * with a separate connection), that progress streams while the API keeps
 * answering, and that cancel and bad input leave nothing half-written.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { JobProgress, RunDetail } from '../../../src-main/api/contract.js';
import { formatPtqSummary } from '../../../src-main/cli/run-commands.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let dbPath: string;
let modelId: number;
let datasetId: number;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  dbPath = path.join(tempDir(), 'studio.sqlite');
  studio = await openStudio({ dbPath, host: 'cli', backend: 'wasm' });
  const model = await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' });
  modelId = model.id;
  const datasets = await call<{ id: number; name: string }[]>('datasets.list', {});
  const sample = datasets.find((d) => d.name === 'fashion-mnist-sample');
  assert.ok(sample, 'the bundled Fashion-MNIST subset is registered on first start');
  datasetId = sample.id;
});

after(async () => {
  await studio.close();
});

const small = () => ({ modelId, datasetId, calibration: { count: 200, seed: 0 }, eval: { count: 200, seed: 1 } });

describe('PTQ through the studio', () => {
  test('a per-channel run stores one row per tensor and per-channel vectors of the channel count', async () => {
    const progress: JobProgress[] = [];
    const off = studio.events.subscribe((e, p) => {
      if (e === 'job.progress') progress.push(p as JobProgress);
    });
    const run = await call<{ id: number; name: string }>('runs.start', { kind: 'ptq', config: small() });
    assert.match(run.name, /_8w8a_sym_narrow_perch_minmax$/);
    // The API answers while the job runs.
    const listed = await call<{ id: number }[]>('runs.list', {});
    assert.ok(listed.some((r) => r.id === run.id));
    await studio.runs.settled(run.id);
    off();
    const detail = await call<{ status: string; error: string | null; quantAccuracy: number; tensors: { layer: string; role: string; channels: number }[]; lint: { code: string }[] }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'done', detail.error ?? '');
    assert.ok(detail.lint.some((f) => f.code === 'bn-folded'), 'lint says which BN folds where');
    assert.ok(progress.some((p) => p.phase === 'calibrate') && progress.some((p) => p.phase === 'evaluate'));
    // Calibrated natively from inside the engine worker thread, and the CLI summary says so.
    const full = await call<RunDetail>('runs.get', { id: run.id });
    assert.equal((full.summary as { calibration: { runtime: string } }).calibration.runtime, 'onnxruntime');
    assert.match(formatPtqSummary(full), /samples\/s, onnxruntime, \d+ threads?\)/);

    const db = new Database(dbPath, { readonly: true });
    try {
      const rows = db
        .prepare(`SELECT t.layer, t.role, t.channels, length(c.scale) AS scaleBytes, length(c.min) AS minBytes FROM run_tensors t LEFT JOIN run_channels c ON c.tensor_id = t.id WHERE t.run_id = ? AND t.role = 'weight'`)
        .all(run.id) as { layer: string; channels: number; scaleBytes: number; minBytes: number }[];
      assert.deepEqual(
        rows.map((r) => [r.layer, r.channels]),
        [['conv2d', 32], ['conv2d_1', 64], ['dense', 128], ['dense_1', 10]],
      );
      for (const r of rows) {
        assert.equal(r.scaleBytes, 4 * r.channels, `${r.layer}: float32 scale per channel`);
        assert.equal(r.minBytes, 4 * r.channels);
      }
      const hist = db.prepare(`SELECT COUNT(*) AS n FROM histograms WHERE run_id = ?`).get(run.id) as { n: number };
      const tensors = db.prepare(`SELECT COUNT(*) AS n FROM run_tensors WHERE run_id = ?`).get(run.id) as { n: number };
      assert.equal(hist.n, tensors.n, 'a histogram per tensor');
    } finally {
      db.close();
    }
  });

  test('a run queued behind another of the same model and samples takes its float figures; other samples do not', async () => {
    type Evaluation = { floatKey?: string; floatFrom?: number };
    const evaluation = (d: RunDetail) => (d.summary as { evaluation: Evaluation }).evaluation;
    // Both started at once: the second reads the store when it leaves the queue, after the first stored its figures.
    const first = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { ...small(), weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } } });
    const second = await call<{ id: number }>('runs.start', { kind: 'ptq', config: small() });
    await studio.runs.settled(second.id);
    const [a, b] = [await call<RunDetail>('runs.get', { id: first.id }), await call<RunDetail>('runs.get', { id: second.id })];
    assert.equal(b.status, 'done', b.error ?? '');
    assert.match(evaluation(a).floatKey ?? '', /^[0-9a-f]{64}$/);
    assert.equal(evaluation(b).floatKey, evaluation(a).floatKey);
    assert.equal(evaluation(b).floatFrom, first.id);
    assert.match(formatPtqSummary(b), new RegExp(`; float figures from run ${first.id}\\)`));
    assert.equal(b.floatAccuracy, a.floatAccuracy);
    assert.equal(b.floatLoss, a.floatLoss);
    assert.notEqual(b.quantLoss, a.quantLoss, 'per-tensor and per-channel simulations differ');

    const other = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { ...small(), eval: { count: 150, seed: 1 } } });
    await studio.runs.settled(other.id);
    const c = await call<RunDetail>('runs.get', { id: other.id });
    assert.equal(evaluation(c).floatFrom, undefined);
    assert.notEqual(evaluation(c).floatKey, evaluation(a).floatKey);
  });

  test('cancel stops the run within a batch, marks it cancelled and stores no tensors', async () => {
    const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { ...small(), calibration: { count: 2000, seed: 0 }, eval: { count: 2000, seed: 1 }, estimator: { kind: 'entropy' } } });
    await new Promise<void>((resolve) => {
      const off = studio.events.subscribe((e, p) => {
        if (e === 'job.progress' && (p as JobProgress).runId === run.id) {
          off();
          resolve();
        }
      });
    });
    assert.deepEqual(await call('runs.cancel', { id: run.id }), { cancelled: true });
    await studio.runs.settled(run.id);
    const detail = await call<{ status: string; tensors: unknown[] }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'cancelled');
    assert.equal(detail.tensors.length, 0);
  });

  test('bad input is refused before a run row is written', async () => {
    const before = (await call<unknown[]>('runs.list', {})).length;
    const r = await dispatch(studio.handlers, 'runs.start', { kind: 'ptq', config: { ...small(), weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel', axis: 7 } } });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /axis 7/);
    const bits = await dispatch(studio.handlers, 'runs.start', { kind: 'ptq', config: { ...small(), weights: { bits: 1, symmetric: true, narrowRange: true, granularity: 'per-channel' } } });
    assert.equal(bits.ok, false);
    if (!bits.ok) assert.equal(bits.error.code, 'invalid_input');
    assert.equal((await call<unknown[]>('runs.list', {})).length, before);
  });

  test('runs.lint previews findings and the default name without storing anything', async () => {
    const out = await call<{ findings: { code: string; layer: string | null }[]; defaultName: string }>('runs.lint', { kind: 'ptq', config: { ...small(), weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' } } });
    assert.match(out.defaultName, /_4w8a_sym_narrow_perten_minmax$/);
    assert.ok(out.findings.some((f) => f.code === 'bn-folded' && f.layer !== null));
  });
});
