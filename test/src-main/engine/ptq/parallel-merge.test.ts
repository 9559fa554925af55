/**
 * mergeObserverConfigs on hand-made shards: the merged state equals the state
 * of one observer that saw every batch (NaN/±Inf and empty channels
 * included), histograms merge only after a shared pass 0, and order-dependent
 * estimators are refused.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Estimator, type EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { mergeObserverConfigs } from '../../../../src-main/engine/parallel/merge-observers.js';
import { createObserver, observerFromConfig, type Observer } from '../../../../src-main/engine/quant/observers/index.js';
import type { BaseObserver } from '../../../../src-main/engine/quant/observers/base.js';

before(async () => {
  await initBackend('wasm');
});

const perChannel: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' };
const est = (kind: EstimatorKind) => Estimator.parse({ kind, bins: 256 });

function batches(): tf.Tensor[] {
  return [
    tf.tensor2d([1, NaN, -3, 2, 0.5, 4], [3, 2]),
    tf.tensor2d([7, Infinity, -1, -Infinity], [2, 2]),
    tf.tensor2d([-2, 5, 3, 6, 0, -7], [3, 2]),
  ];
}

test('minmax: shards merged equal one observer over all batches, NaN/±Inf flags included', () => {
  const xs = batches();
  const all = createObserver(est('minmax'), perChannel, { axis: 1, name: 'a' });
  for (const x of xs) all.observe(x);
  const a = createObserver(est('minmax'), perChannel, { axis: 1, name: 'a' });
  const b = createObserver(est('minmax'), perChannel, { axis: 1, name: 'a' });
  a.observe(xs[0]!);
  b.observe(xs[1]!);
  b.observe(xs[2]!);
  const merged = mergeObserverConfigs([a.toConfig(), b.toConfig()]);
  assert.deepEqual(merged, all.toConfig());
  assert.deepEqual(Array.from(observerFromConfig(merged).range().min), [-3, -7]);
  // A shard that saw nothing changes nothing.
  const empty = createObserver(est('minmax'), perChannel, { axis: 1, name: 'a' });
  assert.deepEqual(mergeObserverConfigs([a.toConfig(), b.toConfig(), empty.toConfig()]), all.toConfig());
  tf.dispose(xs);
});

test('two-pass histograms: pass-0 merge, restore into every shard, pass-1 merge equals the serial observer', () => {
  for (const kind of ['percentile', 'mse', 'entropy'] as const) {
    const xs = batches();
    const all = createObserver(est(kind), perChannel, { axis: 1, name: 'h' });
    for (const p of [0, 1]) for (const x of xs) all.observe(x, p);
    const shards: Observer[] = [0, 1].map(() => createObserver(est(kind), perChannel, { axis: 1, name: 'h' }));
    const parts = [[xs[0]!], [xs[1]!, xs[2]!]];
    shards.forEach((o, i) => parts[i]!.forEach((x) => o.observe(x, 0)));
    const pass0 = mergeObserverConfigs(shards.map((o) => o.toConfig()), 0);
    for (const o of shards) (o as BaseObserver).restore(pass0.state);
    shards.forEach((o, i) => parts[i]!.forEach((x) => o.observe(x, 1)));
    const merged = mergeObserverConfigs(shards.map((o) => o.toConfig()), 1);
    assert.deepEqual(merged, all.toConfig(), kind);
    assert.deepEqual(observerFromConfig(merged).range(), all.range(), kind);
    tf.dispose(xs);
  }
});

test('histograms binned over different spans are refused (pass 1 must start from the merged pass 0)', () => {
  const xs = batches();
  const shards = [0, 1].map(() => createObserver(est('percentile'), perChannel, { axis: 1, name: 'h' }));
  shards[0]!.observe(xs[0]!, 0);
  shards[0]!.observe(xs[0]!, 1);
  shards[1]!.observe(xs[2]!, 0);
  shards[1]!.observe(xs[2]!, 1);
  assert.throws(() => mergeObserverConfigs(shards.map((o) => o.toConfig()), 1), /different pass-0 states|different spans/);
  tf.dispose(xs);
});

test('lastvalue and movingaverage depend on batch order: refused', () => {
  for (const kind of ['lastvalue', 'movingaverage'] as const) {
    const o = createObserver(est(kind), perChannel, { axis: 1 });
    assert.throws(() => mergeObserverConfigs([o.toConfig(), o.toConfig()]), /batch order/);
  }
});
