import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { INTERRUPTED_QUEUED, INTERRUPTED_RUNNING, openStore } from '../../../src-main/store/index.js';
import { seed, tempDir } from './helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'hold-running.js');

test('runs left running or queued by a closed store become interrupted on reopen', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  let store = openStore(file);
  const { modelId, datasetId } = seed(store);
  const config = { modelId, datasetId };
  const running = store.runs.create({ kind: 'ptq', config });
  assert.equal(store.runs.markRunning(running.id, 'cpu'), true);
  const queued = store.runs.create({ kind: 'ptq', config });
  const done = store.runs.create({ kind: 'float', config });
  store.runs.markRunning(done.id, 'cpu');
  store.runs.finish(done.id, { status: 'done', floatAccuracy: 0.5 });
  store.close(); // without finishing the first two

  store = openStore(file);
  t.after(() => store.close());
  assert.equal(store.recoveredRuns, 2);
  assert.deepEqual([...store.recoveredRunIds].sort(), [running.id, queued.id].sort());
  const r = store.runs.get(running.id)!;
  assert.equal(r.status, 'interrupted');
  assert.equal(r.error, INTERRUPTED_RUNNING);
  assert.match(r.error!, /process .*stopped/);
  assert.ok(r.finishedAt && !Number.isNaN(Date.parse(r.finishedAt)) && r.finishedAt.endsWith('Z'));
  const q = store.runs.get(queued.id)!;
  assert.equal(q.status, 'interrupted');
  assert.equal(q.error, INTERRUPTED_QUEUED);
  assert.equal(store.runs.get(done.id)?.status, 'done');
  // An interrupted run can no longer be finished by a late writer.
  assert.equal(store.runs.finish(running.id, { status: 'done' }), false);
});

test('a store open in the same process keeps its running runs on a second open', (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  const first = openStore(file);
  t.after(() => first.close());
  const { modelId, datasetId } = seed(first);
  const run = first.runs.create({ kind: 'ptq', config: { modelId, datasetId } });
  first.runs.markRunning(run.id, 'cpu');
  const second = openStore(file);
  t.after(() => second.close());
  assert.equal(second.recoveredRuns, 0);
  assert.equal(second.runs.get(run.id)?.status, 'running');
});

test('runs of a SIGKILLed process become interrupted; those of a live one are left alone', async (t) => {
  const file = path.join(tempDir(t), 'studio.db');
  openStore(file).close();
  const child = fork(CHILD, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const [ids] = (await once(child, 'message')) as [{ running: number; queued: number }];

  // While the child lives, its runs belong to it.
  let store = openStore(file);
  assert.equal(store.recoveredRuns, 0);
  assert.equal(store.runs.get(ids.running)?.status, 'running');
  assert.equal(store.runs.get(ids.queued)?.status, 'queued');
  store.close();

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  assert.equal(code, null);
  assert.equal(signal, 'SIGKILL');

  store = openStore(file);
  t.after(() => store.close());
  assert.equal(store.recoveredRuns, 2);
  const running = store.runs.get(ids.running)!;
  assert.equal(running.status, 'interrupted');
  assert.equal(running.backend, 'cpu');
  assert.equal(running.error, INTERRUPTED_RUNNING);
  assert.ok(running.startedAt && running.finishedAt && running.finishedAt >= running.startedAt);
  const queued = store.runs.get(ids.queued)!;
  assert.equal(queued.status, 'interrupted');
  assert.equal(queued.parentId, ids.running);
  // Recovery happens once.
  store.close();
  store = openStore(file);
  assert.equal(store.recoveredRuns, 0);
});
