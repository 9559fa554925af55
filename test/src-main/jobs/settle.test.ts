/**
 * settleWithin: jobs that settle end the wait and leave no timer behind
 * (a pending timer kept a finished CLI process alive for the grace period);
 * jobs that do not settle end it after the grace period.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settleWithin } from '../../../src-main/jobs/settle.js';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('settled jobs leave no pending timer', async () => {
  const before = timers();
  await settleWithin([Promise.resolve(1), Promise.reject(new Error('failed job'))], 60_000);
  assert.equal(timers(), before);
  await settleWithin([], 60_000);
  assert.equal(timers(), before);
});

test('a job that never settles is waited for at most the grace period', async () => {
  let settled = false;
  await settleWithin([new Promise(() => {})], 20).then(() => (settled = true));
  assert.equal(settled, true);
  assert.equal(timers(), 0);
});
