/**
 * percentile / mse / entropy: the search functions against closed forms and
 * slow references, the observers on ramps and on a Gaussian with outliers
 * (the histogram estimators must clip the outliers, minmax must not), the
 * exact streaming histogram growth, and the two-pass protocol.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Estimator, type EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { binsPerChannel, createObserver, HistogramObserver, MANY_CHANNEL_BINS } from '../../../../src-main/engine/quant/observers/index.js';
import { ChannelHistograms } from '../../../../src-main/engine/quant/observers/histogram.js';
import { balancedWindows, coarseToFineArgmin, COARSE_CANDIDATES, entropyRange, expectedSquaredError, histQuantile, klDivergence, mseRange, percentileRange } from '../../../../src-main/engine/quant/observers/search.js';
import { channelQParams } from '../../../../src-main/engine/quant/qparams.js';
import { assertClose, BACKENDS, empiricalMse, gaussian, rng, setupBackends, use } from './helpers.js';

before(setupBackends);

const est = (kind: EstimatorKind, extra: Partial<Estimator> = {}) => Estimator.parse({ kind, ...extra });
const asym = (bits = 8, granularity: 'per-tensor' | 'per-channel' = 'per-tensor'): QuantSpec => ({ bits, symmetric: false, narrowRange: false, granularity });
const symN = (bits = 8, granularity: 'per-tensor' | 'per-channel' = 'per-tensor'): QuantSpec => ({ bits, symmetric: true, narrowRange: true, granularity });

function twoPass(kind: EstimatorKind, spec: QuantSpec, data: Float32Array, extra: Partial<Estimator> = {}, shape = [data.length], axis?: number) {
  const o = createObserver(est(kind, extra), spec, axis !== undefined ? { axis } : {});
  const x = tf.tensor(data, shape);
  for (let p = 0; p < o.passes; p++) o.observe(x, p);
  x.dispose();
  return o;
}

test('histQuantile interpolates inside the bin where the cumulative count is reached', () => {
  const counts = Float64Array.from([2, 0, 4, 2]); // bins of width 0.5 from 1
  assert.equal(histQuantile(counts, 1, 0.5, 0), 1);
  assert.equal(histQuantile(counts, 1, 0.5, 1), 1.25); // half of bin 0
  assert.equal(histQuantile(counts, 1, 0.5, 2), 1.5); // end of bin 0 (the empty bin is skipped)
  assert.equal(histQuantile(counts, 1, 0.5, 3), 2.125); // a quarter into bin 2 = [2, 2.5)
  assert.equal(histQuantile(counts, 1, 0.5, 8), 3);
});

test('percentile on a uniform ramp: two-sided for asymmetric, |x| for symmetric (closed form ± one bin)', () => {
  // 0, 1, …, 9999: keeping 99 % drops 50 values from each end → [≈50, ≈9949].
  const ramp = Float32Array.from({ length: 10000 }, (_, i) => i);
  const a = twoPass('percentile', asym(), ramp, { percentile: 99 }).range();
  const w = 9999 / 2048;
  assertClose(a.min[0]!, 50, w, 'lower quantile');
  assertClose(a.max[0]!, 9949, w, 'upper quantile');
  // −5000 … 4999: 99 % of |x| lies below ≈ 4950.
  const signed = Float32Array.from({ length: 10000 }, (_, i) => i - 5000);
  const s = twoPass('percentile', symN(), signed, { percentile: 99 }).range();
  assertClose(s.max[0]!, 4950, 5000 / 2048, 'symmetric threshold');
  assert.equal(s.min[0], -s.max[0]!);
  // percentile 100 is exactly the data range.
  const full = twoPass('percentile', asym(), ramp, { percentile: 100 }).range();
  assert.deepEqual([full.min[0], full.max[0]], [0, 9999]);
});

test('expectedSquaredError equals a fine numerical integral of the fake-quant error (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 12 }),
      fc.double({ min: -3, max: 0, noNaN: true }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      fc.integer({ min: 2, max: 6 }),
      fc.double({ min: -2, max: 0, noNaN: true }),
      fc.double({ min: 0.05, max: 1.5, noNaN: true }),
      (cs, lo, width, bits, rmin, span) => {
        const counts = Float64Array.from(cs);
        const q = channelQParams(rmin, rmin + span, { bits, symmetric: false, narrowRange: false });
        const got = expectedSquaredError(counts, lo, width, q.nudgedMin, q.nudgedMax, q.scale);
        // Midpoint rule with 4000 points per bin, error of q(x) computed directly.
        let want = 0;
        const M = 4000;
        for (let i = 0; i < counts.length; i++) {
          if (counts[i] === 0) continue;
          let s = 0;
          for (let k = 0; k < M; k++) {
            const x = lo + (i + (k + 0.5) / M) * width;
            const c = Math.min(Math.max(x, q.nudgedMin), q.nudgedMax);
            const qx = q.nudgedMin + Math.round((c - q.nudgedMin) / q.scale) * q.scale;
            s += (x - qx) ** 2;
          }
          want += (counts[i]! * s) / M;
        }
        assert.ok(Math.abs(got - want) <= 1e-3 * want + 1e-9, `closed form ${got} vs integral ${want}`);
      },
    ),
    { numRuns: 150 },
  );
});

test('expectedSquaredError: wide bins inside the range give s²/12 per element (closed form)', () => {
  const s = 0.125;
  const counts = Float64Array.from([3, 5]);
  // Bins [0, 1) and [1, 2) inside a grid from nmin = −1 to nmax = 3 with step 1/8: whole cells only.
  assertClose(expectedSquaredError(counts, 0, 1, -1, 3, s), (8 * s * s) / 12, 1e-15, 'rounding noise');
  // Everything above nmax = 0 (clip): ∫₀¹ x² = 1/3, ∫₁² x² = 7/3.
  assertClose(expectedSquaredError(counts, 0, 1, -1, 0, s), 3 / 3 + (5 * 7) / 3, 1e-12, 'clipping error');
});

test('MSE search picks (within 1 %) the best range of a brute-force reference on the raw samples', () => {
  const data = gaussian(40000, 11);
  for (const bits of [3, 4, 8]) {
    // Symmetric narrow: brute force over 600 thresholds t, error of the real fake quant on every sample.
    const spec = symN(bits);
    const amax = data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let bestRef = Infinity;
    for (let k = 1; k <= 600; k++) {
      const t = (amax * k) / 600;
      const q = channelQParams(-t, t, spec);
      bestRef = Math.min(bestRef, empiricalMse(data, q.scale, q.nudgedMin, q.nudgedMax));
    }
    const r = twoPass('mse', spec, data).range();
    const q = channelQParams(r.min[0]!, r.max[0]!, spec);
    const got = empiricalMse(data, q.scale, q.nudgedMin, q.nudgedMax);
    assert.ok(got <= bestRef * 1.01, `${bits}-bit symmetric: chosen t=${r.max[0]} has MSE ${got}, reference best ${bestRef}`);
    if (bits <= 4) assert.ok(r.max[0]! < amax * 0.8, `${bits}-bit: clips the tails (t=${r.max[0]}, max ${amax})`);
  }
  // Asymmetric on ReLU'd data: reference over the upper bound (the lower is 0 either way).
  const relu = data.map((v) => Math.max(0, v));
  const max = relu.reduce((m, v) => Math.max(m, v), 0);
  const spec = asym(4);
  let bestRef = Infinity;
  for (let k = 1; k <= 600; k++) {
    const q = channelQParams(0, (max * k) / 600, spec);
    bestRef = Math.min(bestRef, empiricalMse(relu, q.scale, q.nudgedMin, q.nudgedMax));
  }
  const r = twoPass('mse', spec, relu).range();
  assert.equal(r.min[0], 0);
  const q = channelQParams(r.min[0]!, r.max[0]!, spec);
  const got = empiricalMse(relu, q.scale, q.nudgedMin, q.nudgedMax);
  assert.ok(got <= bestRef * 1.01, `4-bit asymmetric: MSE ${got} vs reference ${bestRef}`);
});

test('MSE on uniform data keeps (almost) the full range: clipping a uniform tail never pays at 8 bits', () => {
  const r = rng(5);
  const u = Float32Array.from({ length: 20000 }, () => 2 * r() - 1);
  const s = twoPass('mse', symN(8), u).range();
  assert.ok(s.max[0]! > 0.98, `t = ${s.max[0]}`);
  const e = twoPass('entropy', symN(8), u).range();
  assert.ok(e.max[0]! > 0.9, `entropy t = ${e.max[0]}`);
});

test('klDivergence worked by hand (TensorRT expansion of Q, outliers folded into the edge bin)', () => {
  const counts = Float64Array.from([4, 0, 2, 2]);
  // nq = 2: chunk [0,2) sum 4 over 1 non-zero bin → 0.5; chunk [2,4) sum 4 over 2 bins → 0.25 each. P = Q → 0.
  assertClose(klDivergence(counts, 0, 4, 2, 0, 0), 0, 1e-15, 'no loss');
  // 2 outliers above: P = [4, 0, 2, 4]/10, Q unchanged.
  const want = 0.4 * Math.log(0.4 / 0.5) + 0.2 * Math.log(0.2 / 0.25) + 0.4 * Math.log(0.4 / 0.25);
  assertClose(klDivergence(counts, 0, 4, 2, 0, 2), want, 1e-12, 'with outliers');
  // Merging unequal bins loses information: [4, 2] into one chunk → Q = [0.5, 0.5], P = [2/3, 1/3].
  const two = Float64Array.from([4, 2]);
  assertClose(klDivergence(two, 0, 2, 1, 0, 0), (2 / 3) * Math.log(4 / 3) + (1 / 3) * Math.log(2 / 3), 1e-12, 'merge');
  assert.equal(klDivergence(Float64Array.from([0, 0]), 0, 2, 1, 3, 0), Infinity);
});

test('coarseToFineArgmin finds the exact minimum of unimodal scores with ~300 evaluations', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0.1, max: 3, noNaN: true }), (K, where, p) => {
      const m = Math.floor(where * (K - 1));
      let calls = 0;
      const k = coarseToFineArgmin(K, (i) => (calls++, Math.abs(i - m) ** p));
      assert.equal(k, m);
      assert.ok(calls <= COARSE_CANDIDATES + 2 * Math.ceil(K / COARSE_CANDIDATES) + 1, `${calls} scores for ${K} candidates`);
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 300) },
  );
  assert.equal(coarseToFineArgmin(5, () => 1), 0, 'ties keep the lowest index');
  assert.equal(coarseToFineArgmin(0, () => 0), -1);
});

test('balancedWindows trims the side with the smaller clipped tail, widest first', () => {
  const w = balancedWindows(Float64Array.from([5, 1, 1, 1, 2]), 2);
  assert.deepEqual(w, [[0, 5], [0, 4], [0, 3], [0, 2]]);
  const v = balancedWindows(Float64Array.from([1, 3, 3, 3, 2]), 3);
  // left 0+1 ≤ right 0+2 → trim left; then 1+3 > 0+2 → trim right.
  assert.deepEqual(v, [[0, 5], [1, 5], [1, 4]]);
});

for (const backend of BACKENDS) {
  test(`${backend}: a Gaussian with outliers — percentile, mse and entropy clip them, minmax does not`, async () => {
    await use(backend);
    const data = new Float32Array(200003);
    data.set(gaussian(200000, 21));
    data.set([60, 60, -55], 200000);
    const mm = twoPass('minmax', asym(), data).range();
    assert.deepEqual([mm.min[0], mm.max[0]], [-55, 60]);
    for (const [kind, spec, extra] of [
      ['percentile', asym(8), { percentile: 99.99 }],
      ['percentile', symN(8), { percentile: 99.99 }],
      ['mse', symN(4), {}],
      ['mse', asym(4), {}],
      ['entropy', symN(8), {}],
      // The narrowest entropy candidate is 2^bits = 256 bins: with 2048 bins over [−55, 60] that is
      // 14 units wide, so asymmetric 8-bit needs a finer histogram to reach into the bulk.
      ['entropy', asym(8), { bins: 8192 }],
    ] as const) {
      const r = twoPass(kind, spec, data, extra).range();
      const label = `${kind} ${spec.symmetric ? 'sym' : 'asym'} ${spec.bits}-bit → [${r.min[0]}, ${r.max[0]}]`;
      assert.ok(r.max[0]! < 10 && r.min[0]! > -10, `${label}: outliers not clipped`);
      assert.ok(r.max[0]! > 2 && r.min[0]! < -2, `${label}: clipped into the bulk`);
    }
  });

  test(`${backend}: per-channel histograms are independent — channel c scaled by c+1 gets a range scaled by c+1`, async () => {
    await use(backend);
    const C = 5;
    const N = 4000;
    const base = gaussian(N, 9);
    const data = new Float32Array(N * C);
    for (let i = 0; i < N; i++) for (let c = 0; c < C; c++) data[i * C + c] = base[i]! * (c + 1);
    for (const [kind, spec] of [
      ['percentile', symN(8, 'per-channel')],
      ['mse', symN(4, 'per-channel')],
      ['entropy', symN(8, 'per-channel')],
      ['percentile', asym(8, 'per-channel')],
    ] as const) {
      const o = twoPass(kind, spec, data, { percentile: 99.9, bins: 1024 }, [N, C], 1);
      const r = o.range();
      assert.equal(r.max.length, C);
      for (let c = 1; c < C; c++) {
        // Same data up to scale: same bin pattern, so the same relative threshold (float rounding only).
        assertClose(r.max[c]! / (c + 1), r.max[0]!, 1e-3 * r.max[0]!, `${kind} channel ${c}`);
      }
      assert.equal(o.qparams().scale.length, C);
    }
  });
}

test('streaming histograms grow exactly: the merged counts equal a direct histogram on the final grid', () => {
  // The one allowed difference: a value exactly on an old span's top edge sat in that span's
  // closed last bin, while on the wider grid it opens the next bin.
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.double({ min: -50, max: 50, noNaN: true }), fc.double({ min: 0, max: 40, noNaN: true })), { minLength: 1, maxLength: 6 }), fc.boolean(), fc.integer({ min: 1, max: 1e6 }), (batches, abs, seed) => {
      const h = new ChannelHistograms(1, 64, abs);
      const r = rng(seed);
      const all: number[] = [];
      const tops: number[] = [];
      for (const [center, spread] of batches) {
        // Dyadic values (multiples of 1/64) so bin edges are exact in binary: no float ties at edges.
        const b = Array.from({ length: 50 }, () => Math.round((center + (r() - 0.5) * spread) * 64) / 64);
        let lo = Math.min(...b);
        let hi = Math.max(...b);
        if (abs) (hi = Math.max(Math.abs(lo), Math.abs(hi))), (lo = 0);
        if (h.isSet(0)) tops.push(h.lo[0]! + 64 * h.width[0]!);
        h.grow(0, lo, hi);
        h.fill(b, [b.length], undefined);
        all.push(...b);
      }
      const direct = new ChannelHistograms(1, 64, abs);
      direct.lo[0] = h.lo[0]!;
      direct.width[0] = h.width[0]!;
      direct.fill(all, [all.length], undefined);
      assert.equal(h.total(0), all.length);
      if (h.width[0]! === 0) return;
      const onTop = all.filter((v) => tops.includes(abs ? Math.abs(v) : v)).length;
      let l1 = 0;
      for (let i = 0; i < 64; i++) l1 += Math.abs(h.channel(0)[i]! - direct.channel(0)[i]!);
      assert.ok(l1 <= 2 * onTop, `merged and direct histograms differ by ${l1} counts, ${onTop} values on old top edges`);
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 300) },
  );
});

test('streaming (observe without a pass) agrees with two passes when every batch has the same span', () => {
  const data = gaussian(20000, 4);
  const x = tf.tensor(data, [10, 2000]);
  const batches = tf.split(x, 10, 0);
  for (const kind of ['percentile', 'mse', 'entropy'] as const) {
    const two = createObserver(est(kind, { percentile: 99.9 }), symN(8));
    const stream = createObserver(est(kind, { percentile: 99.9 }), symN(8));
    for (const b of batches) two.observe(b, 0);
    for (const b of batches) two.observe(b, 1);
    for (const b of batches) stream.observe(b);
    const a = two.range().max[0]!;
    const s = stream.range().max[0]!;
    // Streaming histograms are coarser (grown by integer factors), so allow a few bins of the wider one.
    assertClose(s, a, 0.05 * a, `${kind}: streaming ${s} vs two-pass ${a}`);
  }
  tf.dispose([x, ...batches]);
});

test('two-pass protocol: pass 1 before pass 0, range before pass 1, mixing modes all throw clearly', () => {
  const x = tf.tensor([1, 2, 3]);
  const o = createObserver(est('mse'), asym(), { name: 'relu_1' });
  assert.equal(o.passes, 2);
  assert.throws(() => o.observe(x, 1), /pass 1 before any pass-0 batch/);
  o.observe(x, 0);
  assert.throws(() => o.range(), /'relu_1'.*pass 1 never ran/);
  assert.throws(() => o.observe(x), /without a pass after two-pass/);
  o.observe(x, 1);
  assert.throws(() => o.observe(x, 0), /pass 0 after pass 1/);
  assert.ok(o.range().max[0]! > 0);
  const s = createObserver(est('entropy'), asym());
  s.observe(x);
  assert.throws(() => s.observe(x, 0), /after streaming/);
  x.dispose();
});

test('pass-1 values outside the pass-0 span land in the edge bins (counted, not lost)', () => {
  const o = createObserver(est('percentile', { bins: 128 }), asym()) as HistogramObserver;
  const a = tf.tensor([0, 1, 2, 3, 4]);
  const b = tf.tensor([-10, 10]);
  o.observe(a, 0);
  o.observe(a, 1);
  o.observe(b, 1);
  const h = o.histogram()!;
  assert.equal(h.counts.reduce((s, v) => s + v, 0), 7);
  assert.equal(h.counts[0], 2);
  assert.equal(h.counts[127], 2);
  assert.deepEqual([o.range().min[0]! >= 0, o.range().max[0]! <= 4], [true, true]);
  tf.dispose([a, b]);
});

test('many channels use at most 512 bins each; few channels keep the configured bins', () => {
  assert.equal(binsPerChannel(2048, 64), 2048);
  assert.equal(binsPerChannel(2048, 300), MANY_CHANNEL_BINS);
  assert.equal(binsPerChannel(256, 300), 256);
  const x = tf.randomNormal([4, 300], 0, 1, 'float32', 1);
  const o = createObserver(est('entropy'), symN(8, 'per-channel'), { axis: 1 }) as HistogramObserver;
  o.observe(x, 0);
  o.observe(x, 1);
  assert.equal(o.histogram(0)!.counts.length, 512);
  assert.equal(o.qparams().scale.length, 300);
  x.dispose();
});

test('search results are clamped to the data: never wider than the observed values', () => {
  const h = { counts: Float64Array.from([0, 5, 5, 0]), lo: 0, width: 1, abs: false, dataMin: 1.2, dataMax: 2.7 };
  for (const r of [percentileRange(h, 100), percentileRange(h, 90), mseRange(h, { bits: 8, symmetric: false, narrowRange: false }), entropyRange(h, { bits: 1 + 1, symmetric: false, narrowRange: false })]) {
    assert.ok(r[0] >= 1.2 && r[1] <= 2.7, `[${r}]`);
  }
});
