// The live training chart's data: train and validation on one step axis,
// quantizer ranges grouped by name, the newest figures; and the throttle that
// keeps refreshes at ~2 per second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunCurvePoint } from '../../../../src-main/api/contract.js';
import { defaultRangeGroup, groupedRangeNames, latestFigures, rangeGroup, rangeSeries, splitSeries } from '../../../../src-renderer/lib/data/live-curves.js';
import { throttle, type Timers } from '../../../../src-renderer/lib/data/throttle.js';

const train = (step: number, loss: number, accuracy: number, ranges: RunCurvePoint['ranges'] = null): RunCurvePoint => ({ step, epoch: step / 10, split: 'train', loss, accuracy, ranges });
const val = (step: number, loss: number, accuracy: number): RunCurvePoint => ({ step, epoch: step / 10, split: 'val', loss, accuracy, ranges: null });

test('train and validation share one step axis, null where a split logged nothing', () => {
  const points = [train(5, 2.0, 0.3), train(10, 1.5, 0.5), val(10, 1.6, 0.45), train(15, 1.2, 0.6), val(20, 1.1, 0.62)];
  assert.deepEqual(splitSeries(points, 'loss'), [
    [5, 10, 15, 20],
    [2.0, 1.5, 1.2, null],
    [null, 1.6, null, 1.1],
  ]);
  assert.deepEqual(splitSeries(points, 'accuracy')[2], [null, 0.45, null, 0.62]);
  assert.deepEqual(splitSeries([], 'loss'), [[], [], []]);
});

test('points arriving out of order are sorted by step; a repeated step keeps the last value', () => {
  assert.deepEqual(splitSeries([train(10, 1, 0.5), train(5, 2, 0.3), train(10, 0.9, 0.55)], 'loss'), [[5, 10], [2, 0.9], [null, null]]);
});

test('range names group as the engine names them: input, <layer>/output, <layer>/kernel', () => {
  assert.equal(rangeGroup('input'), 'input');
  assert.equal(rangeGroup('conv1/output'), 'activation');
  assert.equal(rangeGroup('conv1/kernel'), 'kernel');
  const points = [
    train(1, 1, 0.1, { input: { min: 0, max: 1 }, 'conv1/output': { min: 0, max: 3 }, 'conv1/kernel': { min: -0.5, max: 0.4 } }),
    train(2, 1, 0.1, { input: { min: 0, max: 1 }, 'conv1/output': { min: 0, max: 3.5 }, 'dense/output': { min: -4, max: 6 }, 'conv1/kernel': { min: -0.6, max: 0.4 } }),
  ];
  assert.deepEqual(groupedRangeNames(points), { input: ['input'], activation: ['conv1/output', 'dense/output'], kernel: ['conv1/kernel'] });
  assert.equal(defaultRangeGroup(groupedRangeNames(points)), 'activation');
  assert.equal(defaultRangeGroup({ input: [], activation: [], kernel: [] }), null);
  assert.equal(defaultRangeGroup({ input: ['input'], activation: [], kernel: ['k/kernel'] }), 'kernel');
});

test('range series: min and max per quantizer over the steps that logged ranges', () => {
  const points = [
    train(1, 1, 0.1, { 'a/output': { min: 0, max: 3 } }),
    val(1, 1, 0.1),
    train(2, 1, 0.1, { 'a/output': { min: 0, max: 3.5 }, 'b/output': { min: -4, max: 6 } }),
    train(3, 1, 0.1, null),
  ];
  assert.deepEqual(rangeSeries(points, ['a/output', 'b/output']), [
    [1, 2],
    [0, 0],
    [3, 3.5],
    [null, -4],
    [null, 6],
  ]);
  assert.deepEqual(rangeSeries(points, []), [[]]);
});

test('the newest train and validation figures', () => {
  assert.equal(latestFigures([]), null);
  const latest = latestFigures([train(5, 2, 0.3), val(10, 1.6, 0.45), train(10, 1.5, 0.5)]);
  assert.deepEqual(latest, { step: 10, epoch: 1, loss: 1.5, accuracy: 0.5, valLoss: 1.6, valAccuracy: 0.45 });
  assert.deepEqual(latestFigures([val(3, 1, 0.2)]), { step: 3, epoch: 0.3, loss: null, accuracy: null, valLoss: 1, valAccuracy: 0.2 });
});

/** Fake clock: timers run when `advance` passes them. */
function fakeTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 0;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 1;
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout(h) {
      timers = timers.filter((t) => t.id !== h);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        now = due.at;
        due.fn();
      }
      now = end;
    },
    pending: () => timers.length,
  };
}

test('throttle: first call at once, a burst folds into one trailing call, at most one per interval', () => {
  const t = fakeTimers();
  let calls = 0;
  const f = throttle(() => calls++, 500, t);
  f();
  assert.equal(calls, 1, 'leading call');
  for (let i = 0; i < 20; i++) {
    t.advance(10);
    f();
  }
  assert.equal(calls, 1, 'burst within the interval waits');
  assert.equal(t.pending(), 1, 'one trailing call scheduled');
  t.advance(300);
  assert.equal(calls, 2, 'trailing call at the end of the interval');
  t.advance(1000);
  assert.equal(calls, 2, 'nothing more without calls');
  f();
  assert.equal(calls, 3, 'after a quiet interval the next call runs at once');

  // 10 events a second for 3 seconds: about 2 calls a second.
  calls = 0;
  for (let i = 0; i < 30; i++) {
    f();
    t.advance(100);
  }
  t.advance(1000);
  assert.ok(calls >= 5 && calls <= 7, `${calls} calls in 3 s`);
});

test('throttle: flush runs the pending call now, cancel drops it', () => {
  const t = fakeTimers();
  let calls = 0;
  const f = throttle(() => calls++, 500, t);
  f();
  f();
  f.flush();
  assert.equal(calls, 2);
  assert.equal(t.pending(), 0);
  f.flush();
  assert.equal(calls, 2, 'flush without a pending call does nothing');
  t.advance(100);
  f();
  f.cancel();
  t.advance(1000);
  assert.equal(calls, 2, 'cancelled');
});
