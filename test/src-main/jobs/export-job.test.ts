/**
 * Export as an engine job through the whole studio: API → export jobs →
 * engine worker → onnxruntime → SQLite. A small real PTQ run of the built-in
 * fashion_cnn on the bundled Fashion-MNIST subset is exported; checks the
 * progress events (every step, verification per batch), that a cancel in the
 * middle of verification leaves no file and no row, and that bad requests
 * (run still running, existing path, missing folder, a path outside the web
 * host's export folder) are refused before anything is written or stored.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { events, type ExportFailed, type ExportFinished, type ExportProgress, type ExportRecord } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { ExportJobs } from '../../../src-main/jobs/export-job-manager.js';
import { isInside, resolveExportPath } from '../../../src-main/jobs/export-job-paths.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let runId: number;
let modelId: number;
let datasetId: number;
let out: string;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input, { validateOutputs: true });
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { code: r.error.code });
  return r.output as T;
}

/** Events of one export job, until it finishes or fails. */
function follow(exportJobId: () => number): { progress: ExportProgress[]; end: Promise<ExportFinished | ExportFailed> } {
  const progress: ExportProgress[] = [];
  let off = () => {};
  const end = new Promise<ExportFinished | ExportFailed>((resolve) => {
    off = studio.events.subscribe((event, payload) => {
      const p = payload as { exportJobId: number };
      if (p.exportJobId !== exportJobId()) return;
      // Every export event is what the contract says it is.
      if (event.startsWith('exports.')) events[event].parse(payload);
      if (event === 'exports.progress') progress.push(payload as ExportProgress);
      if (event === 'exports.finished' || event === 'exports.failed') resolve(payload as ExportFinished | ExportFailed);
    });
  });
  return { progress, end: end.finally(() => off()) };
}

/** Nothing but `names` in `dir` (no temporary files left). */
function filesIn(dir: string): string[] {
  return readdirSync(dir).sort();
}

before(async () => {
  studio = await openStudio({ dbPath: path.join(tempDir(), 'studio.sqlite'), host: 'cli', backend: 'wasm' });
  modelId = (await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' })).id;
  datasetId = (await call<{ id: number; name: string }[]>('datasets.list', {})).find((d) => d.name === 'fashion-mnist-sample')!.id;
  // 1000 eval samples: 10 batches of 100 per verification pass, so a cancel lands in the middle.
  const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 100, seed: 0 }, eval: { count: 1000, seed: 1 } } });
  await studio.runs.settled(run.id);
  runId = run.id;
  out = tempDir('studio-export-job-');
});

after(async () => {
  await studio.close();
});

describe('export job', () => {
  test('ONNX: progress through every step, verification batch by batch, then one stored record', async () => {
    let id = 0;
    const { progress, end } = follow(() => id);
    const dest = path.join(out, 'run.onnx');
    const job = await call<{ exportJobId: number; path: string }>('exports.start', { runId, format: 'onnx', path: dest });
    id = job.exportJobId;
    assert.equal(job.path, dest);
    const outcome = await end;
    assert.ok('export' in outcome, (outcome as ExportFailed).message);
    const phases = [...new Set(progress.map((p) => p.phase))];
    assert.deepEqual(phases, ['rebuild', 'write', 'audit', 'verify', 'store']);
    // Two passes of 1000 samples in batches of 100: the studio simulation, then onnxruntime.
    for (const stage of ['studio simulation', 'onnxruntime']) {
      const done = progress.filter((p) => p.phase === 'verify' && p.message === stage).map((p) => p.done);
      assert.deepEqual(done, [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], stage);
    }
    const record = outcome.export;
    assert.equal(record.path, dest);
    assert.equal(record.size, readFileSync(dest).byteLength);
    assert.ok((record.verification['agreement'] as number) >= 0.995);
    assert.deepEqual(filesIn(out), ['run.onnx']);
    const listed = await call<ExportRecord[]>('exports.list', { runId });
    assert.deepEqual(listed.map((r) => r.id), [record.id]);
  });

  test('cancel during verification: no file, no temporary file, no row', async () => {
    const before = (await call<ExportRecord[]>('exports.list', { runId })).length;
    let id = 0;
    let cancelled: boolean | null = null;
    const off = studio.events.subscribe((event, payload) => {
      const p = payload as ExportProgress;
      if (event === 'exports.progress' && p.exportJobId === id && p.phase === 'verify' && cancelled === null) {
        cancelled = studio.exports.cancel(id);
      }
    });
    const { progress, end } = follow(() => id);
    const dest = path.join(out, 'cancelled.onnx');
    id = (await call<{ exportJobId: number }>('exports.start', { runId, format: 'onnx', path: dest })).exportJobId;
    const outcome = (await end) as ExportFailed;
    off();
    assert.equal(cancelled, true);
    assert.equal(outcome.cancelled, true, outcome.message);
    assert.match(outcome.message, /cancelled/);
    // Stopped within the first verification pass, not after it.
    const last = progress.filter((p) => p.phase === 'verify').at(-1)!;
    assert.ok(last.message === 'studio simulation' && last.done < 1000, `last verify report ${last.message} ${last.done}`);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(filesIn(out), ['run.onnx']);
    assert.equal((await call<ExportRecord[]>('exports.list', { runId })).length, before);
  });

  test('overwrite asked for, then cancelled after the new file was written: the old file never moved and is unchanged', async () => {
    const dir = tempDir('studio-export-replace-');
    const previous = path.join(dir, 'shipped.onnx');
    writeFileSync(previous, 'the model shipped last week');
    let id = 0;
    let sawNewFile = false;
    let oldInPlace = false;
    const off = studio.events.subscribe((event, payload) => {
      const p = payload as ExportProgress;
      if (event === 'exports.progress' && p.exportJobId === id && p.phase === 'verify' && !sawNewFile) {
        // The new file is written (as a staging copy beside it) and being verified; the old one stays in place until the rename.
        sawNewFile = readdirSync(dir).some((n) => /^\.shipped\.onnx\.\d+\.[0-9a-f]{8}\.staging\.onnx$/.test(n));
        oldInPlace = readFileSync(previous, 'utf8') === 'the model shipped last week';
        studio.exports.cancel(id);
      }
    });
    const { end } = follow(() => id);
    id = (await call<{ exportJobId: number }>('exports.start', { runId, format: 'onnx', path: previous, overwrite: true })).exportJobId;
    const outcome = (await end) as ExportFailed;
    off();
    assert.equal(outcome.cancelled, true, outcome.message);
    assert.ok(sawNewFile, 'the cancel came after the new file was written');
    assert.ok(oldInPlace, 'the old file stayed in place while the new one was verified');
    assert.equal(readFileSync(previous, 'utf8'), 'the model shipped last week');
    assert.deepEqual(filesIn(dir), ['shipped.onnx']);
  });

  test('a run still running is refused, and so is an existing path; neither writes or stores', async () => {
    const running = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 } } });
    await assert.rejects(call('exports.start', { runId: running.id, format: 'params', path: path.join(out, 'busy.json') }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'conflict');
      assert.match(e.message, new RegExp(`run ${running.id} is (queued|running); only a finished run can be exported`));
      return true;
    });
    await call('runs.cancel', { id: running.id });
    await studio.runs.settled(running.id);

    const existing = path.join(out, 'existing.json');
    writeFileSync(existing, 'keep me');
    await assert.rejects(call('exports.start', { runId, format: 'params', path: existing }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'conflict');
      assert.match(e.message, new RegExp(`${existing.replace(/[.]/g, '\\.')} already exists`));
      return true;
    });
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    await assert.rejects(call('exports.start', { runId, format: 'params', path: path.join(out, 'no-such-folder', 'x.json') }), /cannot write .*no-such-folder.*its folder \S*no-such-folder does not exist/);
    assert.deepEqual(filesIn(out), ['existing.json', 'run.onnx']);
    assert.equal((await call<ExportRecord[]>('exports.list', { runId })).length, 1);

    // Asked for: overwritten through exports.create (the awaited job the CLI uses).
    const record = await call<ExportRecord>('exports.create', { runId, format: 'params', path: existing, overwrite: true, verify: false });
    assert.notEqual(readFileSync(existing, 'utf8'), 'keep me');
    assert.deepEqual(record.verification['extraPaths'], [path.join(out, 'existing.csv')]);
  });
});

describe('TFLite through the job', () => {
  test('integerIo gives a file with int8 input and output, verified as such in the interpreter', async () => {
    const dest = path.join(tempDir('studio-export-tflite-'), 'run.tflite');
    const record = await call<ExportRecord>('exports.create', { runId, format: 'tflite', path: dest, integerIo: true });
    const v = record.verification as { settings: { io: string }; agreement: number; integer?: { agreementWithRuntime?: number } };
    assert.equal(v.settings.io, 'int8');
    assert.ok(v.agreement >= 0.995, `agreement ${v.agreement}`);
    assert.equal(typeof v.integer?.agreementWithRuntime, 'number', 'the integer reference is part of the report');
  });
});

describe('a run the format cannot express', () => {
  test('12-bit activations to ONNX (QuantizeLinear stores 4, 8 or 16): the job fails naming the tensor and the file format; no file, no row', async () => {
    const run = await call<{ id: number }>('runs.start', {
      kind: 'ptq',
      config: { modelId, datasetId, calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 }, activations: { bits: 12, symmetric: false, narrowRange: false, granularity: 'per-tensor' } },
    });
    await studio.runs.settled(run.id);
    let id = 0;
    const { end } = follow(() => id);
    const dest = path.join(out, 'a12.onnx');
    id = (await call<{ exportJobId: number }>('exports.start', { runId: run.id, format: 'onnx', path: dest })).exportJobId;
    const outcome = (await end) as ExportFailed;
    assert.equal(outcome.cancelled, false);
    assert.match(outcome.message, /activation .* has 12 bits; ONNX QuantizeLinear saturates at its type's range, so activations must have 4, 8 or 16 bits/);
    assert.ok(outcome.message.startsWith(`cannot export run ${run.id} to ${dest}: `), outcome.message);
    assert.equal(existsSync(dest), false);
    assert.deepEqual(await call<ExportRecord[]>('exports.list', { runId: run.id }), []);
    // exports.create reports the same failure as an API error.
    await assert.rejects(call('exports.create', { runId: run.id, format: 'onnx', path: dest }), /failed: .*has 12 bits/);

  });
});

describe('web host export folder', () => {
  test('resolveExportPath: names inside are taken, .. and symlinks out of the folder are refused', async () => {
    const root = tempDir('studio-export-dir-');
    const folder = path.join(root, 'exports');
    const outside = path.join(root, 'outside');
    mkdirSync(outside);
    const policy = { folder };
    assert.equal(await resolveExportPath(policy, 'model.onnx'), path.join(folder, 'model.onnx'));
    assert.ok(existsSync(folder), 'the folder is created on demand');
    assert.equal(await resolveExportPath(policy, path.join(folder, 'a.onnx')), path.join(folder, 'a.onnx'));
    symlinkSync(outside, path.join(folder, 'link'));
    for (const bad of ['../x.onnx', path.join(outside, 'x.onnx'), 'link/x.onnx', 'sub/../../x.onnx', '.']) {
      await assert.rejects(resolveExportPath(policy, bad), /is outside the export folder/, bad);
    }
    await assert.rejects(resolveExportPath({ folder: null }, 'relative.onnx'), /must be absolute/);
    assert.equal(isInside('/a/b', '/a/bc'), false);
    assert.equal(isInside('/a/b', '/a/b/c'), true);
  });

  test('an export job under the folder policy refuses a path outside and writes a bare name inside', async () => {
    const root = tempDir('studio-export-web-');
    const folder = path.join(root, 'exports');
    const jobs = new ExportJobs(studio.store, studio.engine, studio.events, { folder });
    await assert.rejects(jobs.start({ runId, format: 'params', path: path.join(root, 'escape.json') }), /escape\.json is outside the export folder/);
    assert.deepEqual(readdirSync(root), ['exports']);
    const job = await jobs.start({ runId, format: 'params', path: 'inside.json', verify: false });
    assert.equal(job.path, path.join(folder, 'inside.json'));
    const outcome = await jobs.outcome(job.exportJobId)!;
    assert.ok(outcome.ok);
    assert.deepEqual(filesIn(folder), ['inside.csv', 'inside.json']);
  });
});
