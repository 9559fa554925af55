import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RUN_SORT, nextRunSort, sortModels, sortRuns } from '../../../../src-renderer/lib/data/sort.js';
import { config, run } from './fixtures.js';

const ids = (runs: { id: number }[]) => runs.map((r) => r.id);

test('runs open newest first', () => {
  const runs = [run(1), run(3), run(2)];
  assert.deepEqual(ids(sortRuns(runs, DEFAULT_RUN_SORT)), [3, 2, 1]);
});

test('sorting returns a copy and leaves the input alone', () => {
  const runs = [run(1), run(2)];
  const sorted = sortRuns(runs, { key: 'createdAt', dir: 'desc' });
  assert.notEqual(sorted, runs);
  assert.deepEqual(ids(runs), [1, 2]);
});

test('names sort naturally (run_2 before run_10), case-insensitively', () => {
  const runs = [run(1, { name: 'run_10' }), run(2, { name: 'Run_2' }), run(3, { name: 'alpha' })];
  assert.deepEqual(ids(sortRuns(runs, { key: 'name', dir: 'asc' })), [3, 2, 1]);
  assert.deepEqual(ids(sortRuns(runs, { key: 'name', dir: 'desc' })), [1, 2, 3]);
});

test('missing accuracies go last in both directions', () => {
  const runs = [run(1, { quantAccuracy: 0.8 }), run(2, { quantAccuracy: null, status: 'running' }), run(3, { quantAccuracy: 0.85 })];
  assert.deepEqual(ids(sortRuns(runs, { key: 'quantAccuracy', dir: 'desc' })), [3, 1, 2]);
  assert.deepEqual(ids(sortRuns(runs, { key: 'quantAccuracy', dir: 'asc' })), [1, 3, 2]);
});

test('delta sorts by the accuracy change in points', () => {
  const runs = [
    run(1, { floatAccuracy: 0.9, quantAccuracy: 0.85 }), // -5
    run(2, { floatAccuracy: 0.9, quantAccuracy: 0.899 }), // -0.1
    run(3, { floatAccuracy: null, quantAccuracy: 0.9 }), // none
    run(4, { floatAccuracy: 0.8, quantAccuracy: 0.79 }), // -1
  ];
  assert.deepEqual(ids(sortRuns(runs, { key: 'delta', dir: 'asc' })), [1, 4, 2, 3]);
  assert.deepEqual(ids(sortRuns(runs, { key: 'delta', dir: 'desc' })), [2, 4, 1, 3]);
});

test('status sorts what needs attention first', () => {
  const runs = [run(1, { status: 'done' }), run(2, { status: 'failed' }), run(3, { status: 'running' }), run(4, { status: 'queued' })];
  assert.deepEqual(ids(sortRuns(runs, { key: 'status', dir: 'asc' })), [3, 4, 2, 1]);
});

test('config sorts by its summary; ties fall back to newest id first', () => {
  const w4 = config({ weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } });
  const runs = [run(1), run(2, { config: w4 }), run(3)];
  assert.deepEqual(ids(sortRuns(runs, { key: 'config', dir: 'asc' })), [2, 3, 1]);
});

test('a new column starts in its natural direction, the same one flips', () => {
  assert.deepEqual(nextRunSort(DEFAULT_RUN_SORT, 'createdAt'), { key: 'createdAt', dir: 'asc' });
  assert.deepEqual(nextRunSort(DEFAULT_RUN_SORT, 'name'), { key: 'name', dir: 'asc' });
  assert.deepEqual(nextRunSort({ key: 'name', dir: 'asc' }, 'quantAccuracy'), { key: 'quantAccuracy', dir: 'desc' });
});

test('models sort by name, then id', () => {
  const m = (id: number, name: string) => ({
    id,
    name,
    source: 'builtin' as const,
    format: 'keras',
    path: null,
    sha256: '',
    inputShape: [28, 28, 1],
    numClasses: 10,
    layerCount: 1,
    paramCount: 1,
    description: '',
    createdAt: '',
  });
  assert.deepEqual(ids(sortModels([m(2, 'mlp'), m(1, 'cnn'), m(3, 'cnn')])), [1, 3, 2]);
});
