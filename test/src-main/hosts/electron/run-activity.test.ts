// Taskbar progress, sleep blocking and the end-of-run notification, driven by the studio's own events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../../../src-main/api/events.js';
import { enableRunActivity } from '../../../../src-main/hosts/electron/run-activity.js';
import { FakeShell } from './fake-shell.js';

const progress = (runId: number, done: number, total: number) => ({ runId, phase: 'calibrate', done, total, etaSeconds: null });

test('sleep is blocked from the first running run to the last one ending; the taskbar follows progress and clears', () => {
  const events = new EventBus();
  const shell = new FakeShell();
  let now = 0;
  const off = enableRunActivity(events, shell, { longRunSeconds: 60, now: () => now });
  events.emit('job.progress', progress(1, 1, 4)); // not known to be running yet: ignored
  assert.deepEqual(shell.calls, []);
  events.emit('runs.changed', { id: 1, status: 'running' });
  events.emit('runs.changed', { id: 1, status: 'running' }); // QAT repeats 'running' with each curve point
  events.emit('job.progress', progress(1, 1, 4));
  events.emit('runs.changed', { id: 2, status: 'running' });
  events.emit('job.progress', progress(2, 3, 4));
  assert.equal(shell.of('blockSleep').length, 1);
  assert.deepEqual(shell.of('setProgress'), [[0.25], [0.75]]);
  now = 10_000;
  events.emit('runs.changed', { id: 1, status: 'done' });
  assert.equal(shell.sleepBlocked, true, 'run 2 still works');
  now = 61_000;
  events.emit('runs.changed', { id: 2, status: 'failed' });
  assert.equal(shell.sleepBlocked, false);
  assert.deepEqual(shell.of('setProgress').at(-1), [-1]);
  // Run 1 took 10 s (no notification); run 2 took 61 s, past the 60 s threshold.
  assert.deepEqual(shell.of('notify'), [['Run 2 failed', 'after 1 min 1 s; open the studio to see its results']]);
  off();
  events.emit('runs.changed', { id: 3, status: 'running' });
  assert.equal(shell.sleepBlocked, false, 'unsubscribed');
});

test('a long run the user cancelled ends without a notification', () => {
  const events = new EventBus();
  const shell = new FakeShell();
  let now = 0;
  enableRunActivity(events, shell, { longRunSeconds: 1, now: () => now });
  events.emit('runs.changed', { id: 7, status: 'running' });
  now = 5000;
  events.emit('runs.changed', { id: 7, status: 'cancelled' });
  assert.deepEqual(shell.of('notify'), []);
  assert.equal(shell.sleepBlocked, false);
});
