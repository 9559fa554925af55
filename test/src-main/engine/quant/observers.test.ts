/**
 * The one-pass observers (minmax = AllValues, lastvalue = LastValue,
 * movingaverage = MovingAverage) on closed-form inputs, per tensor and per
 * channel, on cpu and wasm (whose min/max run through different strategies:
 * a JS loop vs XNNPACK pooling), plus the shared contract: errors, non-finite
 * input, memory, no mutation, config round trips.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Estimator, type EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { createObserver, observerEquals, observerFromConfig } from '../../../../src-main/engine/quant/observers/index.js';
import { computeQParams, qparamsEquals } from '../../../../src-main/engine/quant/qparams.js';
import { BACKENDS, gaussian, setupBackends, use } from './helpers.js';

before(setupBackends);

const f = Math.fround;
const est = (kind: EstimatorKind, extra: Partial<Estimator> = {}) => Estimator.parse({ kind, ...extra });
const perTensor: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' };
const perChannel: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' };
const ALL: EstimatorKind[] = ['minmax', 'lastvalue', 'movingaverage', 'percentile', 'mse', 'entropy'];

/** Runs every pass an observer needs over `batches`. */
function feed(o: ReturnType<typeof createObserver>, batches: tf.Tensor[]): void {
  for (let p = 0; p < o.passes; p++) for (const b of batches) o.observe(b, p);
}

for (const backend of BACKENDS) {
  test(`${backend}: minmax / lastvalue / movingaverage per tensor, worked by hand`, async () => {
    await use(backend);
    const b1 = tf.tensor([1, 2, 3, 1.5]);
    const b2 = tf.tensor([[-5, 0.5], [0.25, 0]]);
    const r = (kind: EstimatorKind, decay?: number) => {
      const o = createObserver(est(kind, decay ? { decay } : {}), perTensor);
      o.observe(b1);
      o.observe(b2);
      assert.equal(o.batches, 2);
      const { min, max } = o.range();
      assert.equal(min.length, 1);
      return [min[0], max[0]];
    };
    assert.deepEqual(r('minmax'), [-5, 3]);
    assert.deepEqual(r('lastvalue'), [-5, 0.5]);
    // First batch initialises [1, 3]; then 0.9·1 + 0.1·(−5) = 0.4 and 0.9·3 + 0.1·0.5 = 2.75.
    assert.deepEqual(r('movingaverage', 0.9), [f(0.4), f(2.75)]);
    // Default decay 0.999: 0.999·1 + 0.001·(−5) = 0.994.
    assert.deepEqual(r('movingaverage'), [f(0.994), f(0.999 * 3 + 0.001 * 0.5)]);
    tf.dispose([b1, b2]);
  });

  test(`${backend}: per-channel ramps on every axis give each channel its own closed-form range`, async () => {
    await use(backend);
    // x[n, h, w, c] = (c + 1) · (n·100 + h·10 + w) − 50·c: channel c spans [−50c, (c+1)·(2·100 + 4·10 + 5) − 50c].
    const [N, H, W, C] = [3, 5, 6, 4];
    const data = new Float32Array(N * H * W * C);
    let i = 0;
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) data[i++] = (c + 1) * (n * 100 + h * 10 + w) - 50 * c;
    const x = tf.tensor4d(data, [N, H, W, C]);
    for (const [axis, t] of [
      [3, x],
      [-1, x],
      [1, tf.transpose(x, [0, 3, 1, 2])],
      [0, tf.transpose(x, [3, 0, 1, 2])],
    ] as const) {
      const o = createObserver(est('minmax'), perChannel, { axis });
      o.observe(t);
      const { min, max } = o.range();
      assert.equal(o.axis, axis < 0 ? 3 : axis);
      assert.deepEqual(Array.from(min), [0, -50, -100, -150]);
      assert.deepEqual(Array.from(max), [245, 2 * 245 - 50, 3 * 245 - 100, 4 * 245 - 150]);
      const qp = o.qparams();
      assert.equal(qp.scale.length, 4);
      assert.equal(qp.axis, axis < 0 ? 3 : axis);
      assert.ok(qparamsEquals(qp, computeQParams(min, max, perChannel, { axis: o.axis! })));
      if (t !== x) t.dispose();
    }
    x.dispose();
  });

  test(`${backend}: property — minmax per channel equals a JS min/max, lastvalue the last batch, EMA the recurrence`, async () => {
    await use(backend);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 1, max: 4 }), (C, seed, nb) => {
        const batches = Array.from({ length: nb }, (_, b) => gaussian(6 * C, seed + b, b + 1));
        const mm = createObserver(est('minmax'), perChannel, { axis: 1 });
        const lv = createObserver(est('lastvalue'), perChannel, { axis: 1 });
        const ma = createObserver(est('movingaverage', { decay: 0.75 }), perChannel, { axis: 1 });
        const ref = { min: new Array<number>(C).fill(Infinity), max: new Array<number>(C).fill(-Infinity) };
        const ema = { min: new Array<number>(C), max: new Array<number>(C) };
        batches.forEach((d, b) => {
          const t = tf.tensor2d(d, [6, C]);
          for (const o of [mm, lv, ma]) o.observe(t);
          t.dispose();
          for (let c = 0; c < C; c++) {
            let lo = Infinity;
            let hi = -Infinity;
            for (let r = 0; r < 6; r++) {
              lo = Math.min(lo, d[r * C + c]!);
              hi = Math.max(hi, d[r * C + c]!);
            }
            ref.min[c] = Math.min(ref.min[c]!, lo);
            ref.max[c] = Math.max(ref.max[c]!, hi);
            ema.min[c] = b === 0 ? lo : f(0.75 * ema.min[c]! + 0.25 * lo);
            ema.max[c] = b === 0 ? hi : f(0.75 * ema.max[c]! + 0.25 * hi);
            if (b === nb - 1) {
              assert.equal(lv.range().min[c], lo);
              assert.equal(lv.range().max[c], hi);
            }
          }
        });
        assert.deepEqual(Array.from(mm.range().min), ref.min);
        assert.deepEqual(Array.from(mm.range().max), ref.max);
        assert.deepEqual(Array.from(ma.range().min), ema.min);
        assert.deepEqual(Array.from(ma.range().max), ema.max);
      }),
      { numRuns: 40 },
    );
  });

  test(`${backend}: NaN and ±Inf are skipped and flagged, on every backend alike`, async () => {
    await use(backend);
    for (const kind of ALL) {
      const o = createObserver(est(kind), perChannel, { axis: 1 });
      const x = tf.tensor2d([1, NaN, -Infinity, 2, 3, Infinity, -1, 4], [4, 2]);
      feed(o, [x]);
      assert.equal(o.sawNonFinite, true, kind);
      const { min, max } = o.range();
      assert.ok([...min, ...max].every(Number.isFinite), `${kind}: finite range`);
      if (kind === 'minmax') {
        assert.deepEqual(Array.from(min), [-1, 2]);
        assert.deepEqual(Array.from(max), [3, 4]);
      }
      x.dispose();
      const clean = createObserver(est(kind), perTensor);
      const y = tf.tensor([1, 2]);
      feed(clean, [y]);
      assert.equal(clean.sawNonFinite, false);
      y.dispose();
      const bad = createObserver(est(kind), perTensor);
      const z = tf.tensor([NaN, Infinity]);
      feed(bad, [z]);
      assert.throws(() => bad.range(), /no finite values/, kind);
      z.dispose();
    }
  });

  test(`${backend}: observers never change or dispose their input, and leave no tensors behind`, async () => {
    await use(backend);
    for (const kind of ALL) {
      for (const spec of [perTensor, perChannel, { ...perChannel, symmetric: true, narrowRange: true }]) {
        const x = tf.tensor4d(gaussian(2 * 5 * 5 * 8, 7), [2, 5, 5, 8]);
        const copy = Float32Array.from(x.dataSync());
        const before = tf.memory().numTensors;
        // Every pass repeatedly, then the streaming form (histogram observers) repeatedly.
        const o = createObserver(est(kind, { bins: 256 }), spec, { axis: 3 });
        for (let p = 0; p < o.passes; p++) for (let i = 0; i < 10; i++) o.observe(x, p);
        o.qparams();
        const s = createObserver(est(kind, { bins: 256 }), spec, { axis: 3 });
        for (let i = 0; i < 10; i++) s.observe(x);
        s.qparams();
        assert.equal(tf.memory().numTensors, before, `${kind}: tensors grew`);
        assert.equal(x.isDisposed, false);
        assert.deepEqual(x.dataSync(), copy, `${kind}: input changed`);
        x.dispose();
      }
    }
  });
}

test('cpu and wasm agree exactly on per-channel and per-tensor minmax of the same data', async () => {
  const data = gaussian(64 * 7 * 7 * 16, 3);
  const ranges: Record<string, Float32Array[]> = {};
  for (const backend of BACKENDS) {
    await use(backend);
    const x = tf.tensor4d(data, [64, 7, 7, 16]);
    const out: Float32Array[] = [];
    for (const [spec, axis] of [[perChannel, 3], [perChannel, 1], [perTensor, undefined]] as const) {
      const o = createObserver(est('minmax'), spec, axis !== undefined ? { axis } : {});
      o.observe(x);
      out.push(o.range().min, o.range().max);
    }
    ranges[backend] = out;
    x.dispose();
  }
  assert.deepEqual(ranges.cpu, ranges.wasm);
  await use('cpu');
});

test('contract errors: nothing observed, channel count change, missing axis, bad pass', () => {
  for (const kind of ALL) {
    const o = createObserver(est(kind), perChannel, { axis: 1, name: 'dense_1/kernel' });
    assert.throws(() => o.range(), /nothing observed/);
    assert.throws(() => o.qparams(), /nothing observed/);
    const a = tf.zeros([4, 3]);
    const b = tf.zeros([4, 5]);
    const c = tf.zeros([4]);
    o.observe(a, 0);
    assert.throws(() => o.observe(b, 0), /'dense_1\/kernel'.*channel count changed from 3 to 5/);
    assert.throws(() => o.observe(c, 0), /axis 1 does not exist/);
    assert.throws(() => o.observe(a, 2), /pass/);
    tf.dispose([a, b, c]);
  }
});

test('empty tensors are ignored; an all-zero tensor gives the EPS-wide qparams without dividing by zero', () => {
  for (const kind of ALL) {
    const o = createObserver(est(kind), perTensor);
    const e = tf.zeros([0, 4]);
    const z = tf.zeros([8]);
    feed(o, [e]);
    assert.equal(o.batches, 0);
    feed(o, [z]);
    assert.equal(o.batches, 1);
    assert.deepEqual([o.range().min[0], o.range().max[0]], [0, 0]);
    const qp = o.qparams();
    assert.equal(qp.scale[0], 2 ** -23);
    assert.equal(qp.zeroPoint[0], 0);
    tf.dispose([e, z]);
  }
});

test('a per-tensor spec ignores an axis; a per-channel spec without one uses spec.axis, else the last axis', () => {
  const x = tf.zeros([2, 3, 4]);
  const pt = createObserver(est('minmax'), perTensor, { axis: 1 });
  pt.observe(x);
  assert.equal(pt.axis, undefined);
  assert.equal(pt.range().min.length, 1);
  const last = createObserver(est('minmax'), perChannel);
  assert.equal(last.axis, -1); // resolved on the first batch
  last.observe(x);
  assert.equal(last.axis, 2);
  assert.equal(last.qparams().scale.length, 4);
  const fromSpec = createObserver(est('minmax'), { ...perChannel, axis: 1 });
  fromSpec.observe(x);
  assert.equal(fromSpec.qparams().scale.length, 3);
  assert.equal(fromSpec.qparams().axis, 1);
  x.dispose();
});

test('reset() forgets everything, including the channel count', () => {
  const o = createObserver(est('minmax'), perChannel, { axis: 1 });
  const a = tf.tensor2d([[1, 2]]);
  const b = tf.tensor2d([[5, 6, 7]]);
  o.observe(a);
  o.reset();
  assert.equal(o.batches, 0);
  assert.throws(() => o.range(), /nothing observed/);
  o.observe(b);
  assert.deepEqual(Array.from(o.range().max), [5, 6, 7]);
  tf.dispose([a, b]);
});

test('toConfig is plain JSON; observerFromConfig restores the state and continues identically (all estimators)', () => {
  for (const kind of ALL) {
    for (const spec of [perTensor, { ...perChannel, symmetric: true, narrowRange: true }]) {
      const o = createObserver(est(kind, { bins: 256, decay: 0.5, percentile: 99 }), spec, { axis: -1, name: 'act' });
      const b1 = tf.tensor2d(gaussian(40, 1), [10, 4]);
      const b2 = tf.tensor2d(gaussian(40, 2, 3), [10, 4]);
      if (o.passes === 1) o.observe(b1);
      else o.observe(b1, 0), o.observe(b2, 0), o.observe(b1, 1);
      const json = JSON.parse(JSON.stringify(o.toConfig()));
      assert.deepEqual(json, o.toConfig(), `${kind}: toConfig survives JSON`);
      const back = observerFromConfig(json);
      assert.ok(observerEquals(o, back));
      assert.equal(back.kind, kind);
      assert.equal(back.axis, o.axis);
      assert.equal(back.batches, o.batches);
      assert.ok(qparamsEquals(o.qparams(), back.qparams()));
      // Continue both with the same batch: still equal.
      o.observe(b2, o.passes - 1);
      back.observe(b2, back.passes - 1);
      assert.ok(observerEquals(o, back));
      assert.deepEqual(o.range(), back.range());
      const fresh = createObserver(est(kind, { bins: 256, decay: 0.5, percentile: 99 }), spec, { axis: -1, name: 'act' });
      assert.ok(!observerEquals(o, fresh), 'state is part of equality');
      const restoredFresh = observerFromConfig(JSON.parse(JSON.stringify(fresh.toConfig())));
      assert.ok(observerEquals(fresh, restoredFresh));
      assert.throws(() => restoredFresh.range(), /nothing observed/);
      tf.dispose([b1, b2]);
    }
  }
  // ±Infinity in state (a channel that saw only non-finite values) survives JSON.
  const o = createObserver(est('minmax'), perChannel, { axis: 1 });
  const x = tf.tensor2d([[1, NaN]]);
  o.observe(x);
  const back = observerFromConfig(JSON.parse(JSON.stringify(o.toConfig())));
  assert.ok(observerEquals(o, back));
  assert.throws(() => back.range(), /channel 1 saw no finite values/);
  x.dispose();
});
