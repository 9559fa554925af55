/** Metrics against hand-computed values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { ClassificationAccumulator, ClipCounter, clippedMass, HistogramAccumulator, SqnrAccumulator, sqnrDb } from '../../../src-main/engine/metrics.js';
import { computeQParams } from '../../../src-main/engine/quant/qparams.js';
import { fakeQuant } from '../../../src-main/engine/quant/fake-quant.js';
import { mulberry32 } from '../../../src-main/io/data/split.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('SQNR: 10·log10(Σref² / Σ(ref−test)²) summed over batches; Infinity for no error, NaN for nothing', async () => {
  await tf.setBackend('cpu');
  const s = new SqnrAccumulator();
  assert.ok(Number.isNaN(s.value()));
  const ref = tf.tensor([1, 2, 3, 4]);
  const test1 = tf.tensor([1, 2, 3, 5]);
  s.add(ref, test1); // S = 30, N = 1
  close(s.value(), 10 * Math.log10(30), 1e-12, 'one batch');
  const ref2 = tf.tensor([[2], [0]]);
  const test2 = tf.tensor([[0], [0]]);
  s.add(ref2, test2); // S = 34, N = 5 (sums, not a mean of ratios)
  close(s.value(), 10 * Math.log10(34 / 5), 1e-12, 'two batches');
  assert.equal(s.perChannel(), null);
  const same = new SqnrAccumulator();
  same.add(ref, ref);
  assert.equal(same.value(), Infinity);
  const zeroSignal = new SqnrAccumulator();
  zeroSignal.add(test2, ref2);
  assert.equal(zeroSignal.value(), -Infinity);
  assert.throws(() => s.add(ref, ref2), /differs/);
  tf.dispose([ref, test1, ref2, test2]);
});

test('SQNR per channel along an axis (negative axes allowed)', () => {
  const r = tf.tensor([[1, 2], [3, 4]]);
  const t = tf.tensor([[1, 2], [3, 5]]);
  const s = new SqnrAccumulator({ axis: -1 });
  assert.equal(s.perChannel(), null);
  s.add(r, t);
  const pc = s.perChannel()!;
  assert.equal(pc.length, 2);
  assert.equal(pc[0], Infinity); // channel 0: 1, 3 unchanged
  close(pc[1]!, 10 * Math.log10(20 / 1), 1e-5, 'channel 1'); // 2² + 4² over (4−5)²
  close(s.value(), 10 * Math.log10(30), 1e-12, 'total');
  assert.equal(s.channelAxis, 1);
  const wrong = tf.zeros([2, 3]);
  assert.throws(() => s.add(wrong, wrong), /channel count changed from 2 to 3/);
  tf.dispose([r, t, wrong]);
  assert.ok(Number.isNaN(sqnrDb(NaN, 1)));
});

test('property: per-tensor SQNR equals a direct float64 computation', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.float({ min: -10, max: 10, noNaN: true }), fc.float({ min: -1, max: 1, noNaN: true })), { minLength: 1, maxLength: 50 }), (pairs) => {
      const ref = pairs.map((p) => p[0]);
      const noisy = pairs.map((p) => Math.fround(p[0] + p[1]));
      const s = new SqnrAccumulator();
      const a = tf.tensor(ref);
      const b = tf.tensor(noisy);
      s.add(a, b);
      tf.dispose([a, b]);
      let S = 0;
      let N = 0;
      for (let i = 0; i < ref.length; i++) {
        const r = Math.fround(ref[i]!);
        S += r * r;
        N += (r - noisy[i]!) ** 2;
      }
      const want = N === 0 ? Infinity : 10 * Math.log10(S / N);
      if (Number.isFinite(want)) close(s.value(), want, 1e-9 * Math.abs(want) + 1e-9, 'sqnr');
      else assert.equal(s.value(), want);
    }),
    { numRuns: 200 },
  );
});

test('ClipCounter: fraction more than half a step outside the nudged range, per tensor and per channel', () => {
  // 8-bit [-1, 1] → nudged [-0.9960785, 1.0039216], step 2/255: −1 is half a step below, so rounding, not clipping.
  const qp = computeQParams([-1], [1], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
  const c = new ClipCounter(qp);
  assert.ok(Number.isNaN(c.rate()));
  const step = qp.scale[0]!;
  const x = tf.tensor([-1, -1 - step * 0.01, -0.99, 0, 1.0, 1.004, qp.nudgedMax[0]! + step * 0.6, 2, qp.nudgedMax[0]!, NaN]);
  c.add(x); // clipped: −1 − 0.01 step (0.51 step out), nudged_max + 0.6 step, 2 → 3 of 10 (−1, 1.004 and NaN are not)
  assert.equal(c.clipped, 3);
  assert.equal(c.rate(), 3 / 10);
  // Per channel along axis 0: channel 0 range [0, 1], channel 1 range [-4, 4] (narrow symmetric).
  const pq = computeQParams([0, -4], [1, 4], { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' });
  const pcc = new ClipCounter(pq, 0);
  const y = tf.tensor([[-2, 0.5, 1.5], [-5, 3, 4]]);
  pcc.add(y); // channel 0 sym range [-1, 1]: −2 and 1.5 clipped; channel 1 [-4, 4]: −5 clipped
  assert.equal(pcc.rate(), 3 / 6);
  const bad = tf.zeros([3, 3]);
  assert.throws(() => pcc.add(bad), /2 channel ranges but axis 0/);
  tf.dispose([x, y, bad]);
});

test('HistogramAccumulator: equal bins, last bin closed, underflow / overflow / NaN counted apart', () => {
  const h = new HistogramAccumulator(0, 4, 4);
  h.add([-1, 0, 0.5, 1, 3.99, 4, 5, NaN, Infinity, -Infinity]);
  const t = tf.tensor([2.5, 1.999]);
  h.add(t);
  t.dispose();
  assert.deepEqual(Array.from(h.counts()), [2, 2, 1, 2]);
  assert.equal(h.underflow, 2);
  assert.equal(h.overflow, 2);
  assert.equal(h.nan, 1);
  assert.equal(h.total, 12);
  const copy = h.counts();
  copy[0] = 99;
  assert.equal(h.counts()[0], 2);
  assert.throws(() => new HistogramAccumulator(1, 1, 4), /lo < hi/);
  assert.throws(() => new HistogramAccumulator(0, 1, 0), /positive integer/);
});

test('HistogramAccumulator: every value lands in floor((v − lo) / width), also on and one float32 step around each bin edge', () => {
  fc.assert(
    fc.property(fc.float({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }), fc.float({ min: Math.fround(1e-3), max: 200, noNaN: true }), fc.integer({ min: 1, max: 4096 }), (lo, span, bins) => {
      const hi = lo + span;
      const h = new HistogramAccumulator(lo, hi, bins);
      const width = (hi - lo) / bins;
      // Values at the float32 nearest each edge and its neighbours: where a product and a quotient could part.
      const edges = Array.from({ length: bins + 1 }, (_, k) => Math.fround(lo + k * width));
      const values = Float32Array.from(edges.flatMap((e) => [e, nextFloat32(e, -1), nextFloat32(e, 1)]));
      h.add(values);
      const expected = new Uint32Array(bins);
      for (const v of values) if (v >= lo && v <= hi) expected[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
      assert.deepEqual(Array.from(h.counts()), Array.from(expected));
    }),
    { numRuns: 200, seed: 7 },
  );
  // Found by search: values on a bin edge where (v − lo) · (1 / width) falls just below the integer the quotient reaches.
  for (const [lo, span, bins, v, bin] of [
    [-4.618687629699707, 9.341361999511719, 7, 0.719233512878418, 4],
    [-3.777010917663574, 5.307991981506348, 10, -1.1230149269104004, 5],
    [4.872618675231934, 5.752122402191162, 100, 7.633637428283691, 48],
  ] as const) {
    const h = new HistogramAccumulator(lo, lo + span, bins);
    h.add([v]);
    assert.equal(h.counts()[bin], 1, `${v} in bin ${bin} of ${bins} over [${lo}, ${lo + span}]`);
  }
});

/** The float32 next to `x` towards ±∞. */
function nextFloat32(x: number, direction: 1 | -1): number {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (x === 0) return direction * 1.4e-45;
  i[0]! += (x > 0) === (direction > 0) ? 1 : -1;
  return f[0]!;
}

test('clippedMass: uniform within bins, partial bins count their share', () => {
  const counts = [10, 10, 10, 10]; // over [0, 4]
  assert.equal(clippedMass(counts, 0, 4, 0.5, 3), 15 / 40); // half of bin 0, all of bin 3
  assert.equal(clippedMass(counts, 0, 4, -1, 5), 0);
  assert.equal(clippedMass(counts, 0, 4, 1, 1), 1);
  assert.equal(clippedMass([0, 8, 0, 0], 0, 4, 1.25, 4), 0.25);
  assert.ok(Number.isNaN(clippedMass([0, 0], 0, 1, 0, 1)));
});

test('ClassificationAccumulator: accuracy and stable mean cross-entropy from logits and from probabilities', () => {
  const a = new ClassificationAccumulator();
  assert.ok(Number.isNaN(a.accuracy()) && Number.isNaN(a.loss()));
  const logits = tf.tensor2d([[2, 1, 0], [0, 0, 5]]);
  a.add(logits, Int32Array.from([0, 1]), { fromLogits: true });
  // Row 0: logsumexp(2,1,0) − 2 = log(e² + e + 1) − 2; row 1: logsumexp(0,0,5) − 0 = log(2 + e⁵).
  const want = (Math.log(Math.exp(2) + Math.exp(1) + 1) - 2 + Math.log(2 + Math.exp(5))) / 2;
  close(a.loss(), want, 1e-12, 'logit loss');
  close(want, 2.710496, 1e-6, 'hand value'); // (0.407606 + 5.013386) / 2
  assert.equal(a.accuracy(), 0.5);
  assert.equal(a.count, 2);
  // Huge logits stay finite (log-softmax, not softmax then log).
  const big = new ClassificationAccumulator();
  const bl = tf.tensor2d([[1000, 0], [0, 1000]]);
  const labels = tf.tensor1d([0, 0], 'int32');
  big.add(bl, labels, { fromLogits: true });
  close(big.loss(), 500, 1e-9, 'large logits'); // (0 + 1000) / 2
  // Probabilities: −log clip(p_y, 1e−7, 1 − 1e−7); a zero probability costs −log(1e−7) = 16.118.
  const p = new ClassificationAccumulator();
  const probs = tf.tensor2d([[0.7, 0.2, 0.1], [0, 1, 0]]);
  p.add(probs, [0, 0], { fromLogits: false });
  close(p.loss(), (-Math.log(Math.fround(0.7)) - Math.log(1e-7)) / 2, 1e-9, 'probability loss');
  close(p.loss(), 8.237385, 1e-6, 'hand value');
  assert.equal(p.accuracy(), 0.5);
  // Ties go to the first index, as tf.argMax.
  const tie = new ClassificationAccumulator();
  const tl = tf.tensor2d([[1, 1]]);
  tie.add(tl, [0], { fromLogits: true });
  assert.equal(tie.accuracy(), 1);
  assert.throws(() => tie.add(tl, [2], { fromLogits: true }), /label 2 .* not a class index/);
  assert.throws(() => tie.add(tl, [0, 1], { fromLogits: true }), /1 outputs but 2 labels/);
  tf.dispose([logits, bl, labels, probs, tl]);
});

test('ClipCounter agrees with a direct count on the same batch: clipped exactly where the fake-quant error exceeds half a step', () => {
  // An image input scaled to [-1, 1] whose background is black (−1), as a Fashion-MNIST picture at [-1, 1]:
  // the nudged range ends half a step above −1, so before the fix every background pixel read as clipped.
  const next = mulberry32(11);
  const values = Float32Array.from({ length: 4000 }, (_, i) => (i % 2 === 0 ? -1 : next() * 2 - 1));
  const qp = computeQParams([-1], [1], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
  const c = new ClipCounter(qp);
  const x = tf.tensor(values);
  c.add(x);
  assert.equal(c.clipped, 0);
  // Beyond the range: values up to 3 steps past either end, then a direct count by the fake-quant error.
  const step = qp.scale[0]!;
  const wide = Float32Array.from({ length: 4000 }, () => -1 - 3 * step + next() * (2 + 6 * step));
  const w = tf.tensor(wide);
  const counter = new ClipCounter(qp);
  counter.add(w);
  const q = fakeQuant(w, qp).dataSync();
  let direct = 0;
  for (let i = 0; i < wide.length; i++) if (Math.abs(q[i]! - wide[i]!) > step / 2 + 1e-6 * step) direct++;
  assert.ok(direct > 40, `${direct} values beyond the grid`);
  assert.ok(Math.abs(counter.clipped - direct) <= 2, `counter ${counter.clipped}, direct ${direct}`);
  tf.dispose([x, w]);
});
