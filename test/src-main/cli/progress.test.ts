// Piped progress: whole lines, each step printed once complete, long steps every few seconds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PipedProgress, progressLine } from '../../../src-main/cli/progress.js';

const step = (phase: string, done: number, total: number, message?: string) => ({ phase, done, total, etaSeconds: null, ...(message ? { message } : {}) });

test('steps that report only their start (0/1) are printed as 1/1 when the next begins; the last on finish', () => {
  const lines: string[] = [];
  const p = new PipedProgress((l) => lines.push(l), 5000, () => 0);
  p.update(step('queued', 0, 1));
  p.update(step('write', 0, 1));
  p.update(step('audit', 0, 1));
  assert.deepEqual(lines, [progressLine(step('queued', 1, 1)), progressLine(step('write', 1, 1))]);
  p.finish();
  assert.equal(lines.at(-1), progressLine(step('audit', 1, 1)));
  assert.ok(lines.every((l) => !l.includes('0/1')));
});

test('a long step prints every `everyMs` while it runs and once at its end, never the same line twice', () => {
  let now = 0;
  const lines: string[] = [];
  const p = new PipedProgress((l) => lines.push(l), 5000, () => now);
  p.update(step('verify', 0, 1000, 'onnxruntime'));
  for (let done = 100; done <= 1000; done += 100) {
    now += 2000;
    p.update(step('verify', done, 1000, 'onnxruntime'));
  }
  p.update(step('verify', 1000, 1000, 'onnxruntime'));
  p.update(step('verify', 0, 1000, 'simulation')); // a second pass of the same phase is a step of its own
  p.finish();
  // At 6 s (300), 12 s (600), 18 s (900), then complete, then the second pass completed by finish().
  assert.deepEqual(
    lines.map((l) => /(\d+)\/1000\s+(\w+)/.exec(l)!.slice(1).join(' ')),
    ['300 onnxruntime', '600 onnxruntime', '900 onnxruntime', '1000 onnxruntime', '1000 simulation'],
  );
});
