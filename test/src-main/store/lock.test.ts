/**
 * Another process holding the database's write lock (a child process with
 * its own better-sqlite3 connection in BEGIN EXCLUSIVE) while a run stores
 * its result: a lock shorter than the retry window loses nothing (the run is
 * done, stored after the lock went); a longer one keeps the result in a
 * recovery file named in the run's label, and the next start says "finished
 * but its result could not be stored", not "interrupted". Also: opening under
 * the lock, and a database this user cannot write (a child running as nobody).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { RESULT_RETRY_ENV } from '../../../src-main/store/busy.js';
import { openStore } from '../../../src-main/store/index.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const holders: ChildProcess[] = [];
after(() => {
  for (const h of holders) if (h.exitCode === null) h.kill('SIGKILL');
});

/** A child process that takes the write lock, says "locked", holds it `ms`, then commits and exits. */
function holdLock(db: string, ms: number): Promise<{ child: ChildProcess; lockedAt: number; released: Promise<number> }> {
  const script = `
    const Database = require(${JSON.stringify(path.join(root, 'node_modules', 'better-sqlite3'))});
    const db = new Database(${JSON.stringify(db)}, { timeout: 60000 });
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${ms});
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  const released = new Promise<number>((resolve) => child.on('exit', () => resolve(Date.now())));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve({ child, lockedAt: Date.now(), released });
    });
    child.on('error', reject);
  });
}

async function call<T>(studio: Studio, method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

/** Starts a PTQ run and takes the lock as soon as it is running; resolves when the run is settled. */
async function runUnderLock(studio: Studio, db: string, holdMs: number) {
  const modelId = (await call<{ id: number }[]>(studio, 'models.list', {}))[0]!.id;
  const datasetId = (await call<{ id: number }[]>(studio, 'datasets.list', {}))[0]!.id;
  let lock: Promise<Awaited<ReturnType<typeof holdLock>>> | undefined;
  let runId = 0;
  const off = studio.events.subscribe((event, payload) => {
    const p = payload as { id: number; status: string };
    if (event === 'runs.changed' && p.id === runId && p.status === 'running' && !lock) lock = holdLock(db, holdMs);
  });
  // 2000 eval samples: the run keeps going for a few seconds after it is marked running, so the lock lands before its store.
  runId = (await call<{ id: number }>(studio, 'runs.start', { kind: 'ptq', config: { modelId, datasetId, calibration: { count: 200, seed: 0 }, eval: { count: 2000, seed: 1 } } })).id;
  await studio.runs.settled(runId);
  const finishedAt = Date.now();
  off();
  assert.ok(lock, 'the run was seen running');
  const held = await lock;
  return { runId, held, finishedAt };
}

describe('database locked by another process', () => {
  test('a lock shorter than the retry window: the result is stored once the lock goes', async () => {
    process.env[RESULT_RETRY_ENV] = '20000';
    const db = path.join(tempDir(), 'studio.sqlite');
    const studio = await openStudio({ dbPath: db, host: 'cli', backend: 'wasm' });
    try {
      // 9 s: longer than the 5 s busy timeout, so one attempt alone would fail.
      const { runId, held, finishedAt } = await runUnderLock(studio, db, 9000);
      const releasedAt = await held.released;
      const run = studio.store.runs.get(runId)!;
      assert.equal(run.status, 'done', run.error ?? '');
      assert.ok(finishedAt >= releasedAt - 50, 'the store waited for the lock to be released');
      assert.ok(studio.store.tensors.tensors(runId).length > 0);
      assert.equal(existsSync(path.join(path.dirname(db), 'recovered-results', `run-${runId}.json`)), false);
    } finally {
      await studio.close();
    }
  });

  test('a lock longer than the retry window: the result is kept in a recovery file and the run is labelled so, not "interrupted"', async () => {
    process.env[RESULT_RETRY_ENV] = '3000';
    const db = path.join(tempDir(), 'studio.sqlite');
    let studio = await openStudio({ dbPath: db, host: 'cli', backend: 'wasm' });
    let runId: number;
    let held: Awaited<ReturnType<typeof holdLock>>;
    try {
      ({ runId, held } = await runUnderLock(studio, db, 25000));
      const file = path.join(path.dirname(db), 'recovered-results', `run-${runId}.json`);
      assert.ok(existsSync(file), 'recovery file written');
      const kept = JSON.parse(readFileSync(file, 'utf8')) as { runId: number; reason: string; result: { tensors: unknown[] } };
      assert.equal(kept.runId, runId);
      assert.match(kept.reason, new RegExp(`the database ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} stayed locked by another process`));
      assert.ok(kept.result.tensors.length > 0, 'the computed result is in the file');
    } finally {
      await studio.close();
    }
    await held.released;
    studio = await openStudio({ dbPath: db, host: 'cli', backend: 'wasm' });
    try {
      const run = studio.store.runs.get(runId)!;
      assert.equal(run.status, 'failed');
      assert.equal(run.error, `finished but its result could not be stored: ${path.join(path.dirname(db), 'recovered-results', `run-${runId}.json`)}`);
    } finally {
      await studio.close();
      delete process.env[RESULT_RETRY_ENV];
    }
  });

  test('opening under another process\'s write lock: nothing to write, so it opens; a lock error would name the stage and path', async () => {
    const db = path.join(tempDir(), 'studio.sqlite');
    openStore(db).close();
    const held = await holdLock(db, 6000);
    const store = openStore(db, { busyTimeoutMs: 500 });
    assert.equal(store.runs.list().length, 0);
    assert.throws(() => store.transaction(() => store.runs.rename(1, 'x')), /locked/);
    store.close();
    held.child.kill('SIGKILL');
  });

  test('a database this user cannot write is refused at open, naming the path', { skip: process.getuid?.() !== 0 ? 'needs root to run a child as nobody' : false }, () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const db = path.join(dir, 'studio.sqlite');
    openStore(db).close();
    const script = `import(${JSON.stringify(path.join(root, 'dist', 'src-main', 'store', 'index.js'))}).then((m) => { try { m.openStore(${JSON.stringify(db)}); console.log('opened'); } catch (e) { console.log(e.message); } });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', uid: 65534, gid: 65534 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), `Cannot open the store at ${db}: the database file ${db} is read-only for this user (EACCES); the studio needs to write there (make it writable, or copy the database somewhere writable and open it with --db).`);
  });
});
