/**
 * fakeQuant forward against a slow per-element JS reference (fast-check, all
 * three rounding modes, per-tensor and per-channel, cpu and wasm), and the STE
 * gradients against hand-worked values.
 *
 * Tolerance: the reference rounds every step to float32 like the tensor ops,
 * so the results must be equal; an off-by-one rounding shows as a difference
 * of one scale step, far above the 1e-6·scale allowed for a last-ulp difference
 * in a backend's division.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import type { QuantSpec } from '../../../../src-main/api/run-config.js';
import { fakeQuant, fakeQuantWithMinMaxVars, ROUNDING_MODES, type RoundingMode } from '../../../../src-main/engine/quant/fake-quant.js';
import { computeQParams } from '../../../../src-main/engine/quant/qparams.js';
import { BACKENDS, fakeQuantRef, setupBackends, use } from './helpers.js';

before(setupBackends);

const f = Math.fround;

function check(x: Float32Array, shape: number[], spec: QuantSpec, mins: number[], maxs: number[], axis: number | undefined, rounding: RoundingMode): void {
  const qp = computeQParams(mins, maxs, spec, axis !== undefined ? { axis } : {});
  const want = fakeQuantRef(x, shape, qp, axis, rounding);
  const got = tf.tidy(() => fakeQuant(tf.tensor(x, shape), qp, { rounding }).dataSync());
  for (let i = 0; i < x.length; i++) {
    const c = axis === undefined ? 0 : Math.floor(i / shape.slice(axis + 1).reduce((a, b) => a * b, 1)) % shape[axis]!;
    const tol = 1e-6 * qp.scale[c]!;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
      assert.fail(`${rounding} x=${x[i]} (channel ${c}, scale ${qp.scale[c]}, zp ${qp.zeroPoint[c]}): got ${got[i]}, reference ${want[i]}`);
    }
  }
}

/** Values around a range: random, exact grid points and exact ties between grid points. */
function values(r: () => number, n: number, lo: number, hi: number, scale: number, nmin: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 3;
    if (k === 0) out[i] = lo - (hi - lo) * 0.25 + r() * (hi - lo) * 1.5;
    else if (k === 1) out[i] = nmin + Math.floor(r() * 40) * scale + 0.5 * scale; // a tie in the shifted domain
    else out[i] = (Math.floor(r() * 40) - 20 + 0.5) * scale; // a tie in the signed domain
  }
  return out;
}

const specArb = fc.record({ bits: fc.integer({ min: 2, max: 8 }), symmetric: fc.boolean(), narrowRange: fc.boolean() });
const rangeArb = fc.tuple(fc.float({ min: -8, max: 4, noNaN: true }), fc.float({ min: Math.fround(0.01), max: 8, noNaN: true })).map(([a, w]) => [a, f(a + w)] as [number, number]);

for (const backend of BACKENDS) {
  for (const rounding of ROUNDING_MODES) {
    test(`${backend}: per-tensor fake quant matches the JS reference (${rounding})`, async () => {
      await use(backend);
      fc.assert(
        fc.property(specArb, rangeArb, fc.integer({ min: 1, max: 2 ** 30 }), (s, [lo, hi], seed) => {
          const spec: QuantSpec = { ...s, granularity: 'per-tensor' };
          const qp = computeQParams([lo], [hi], spec);
          let st = seed;
          const r = () => ((st = (st * 1103515245 + 12345) >>> 0), st / 2 ** 32);
          check(values(r, 96, lo, hi, qp.scale[0]!, qp.nudgedMin[0]!), [4, 24], spec, [lo], [hi], undefined, rounding);
        }),
        { numRuns: 60 },
      );
    });

    test(`${backend}: per-channel fake quant matches the JS reference on every axis (${rounding})`, async () => {
      await use(backend);
      fc.assert(
        fc.property(specArb, fc.array(rangeArb, { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 2 ** 30 }), (s, ranges, axis, seed) => {
          const spec: QuantSpec = { ...s, granularity: 'per-channel' };
          const shape = [2, 2, 2];
          shape[axis] = 3;
          const size = 12;
          let st = seed;
          const r = () => ((st = (st * 1103515245 + 12345) >>> 0), st / 2 ** 32);
          const x = new Float32Array(size * 4);
          const big = [...shape];
          big[axis === 0 ? 1 : 0]! *= 4;
          const mins = ranges.map((v) => v[0]);
          const maxs = ranges.map((v) => v[1]);
          const qp = computeQParams(mins, maxs, spec);
          x.set(values(r, x.length, Math.min(...mins), Math.max(...maxs), Math.min(...qp.scale), qp.nudgedMin[0]!));
          check(x, big, spec, mins, maxs, axis, rounding);
        }),
        { numRuns: 60 },
      );
    });
  }

  test(`${backend}: rounding modes differ exactly where the hand-worked ties say`, async () => {
    await use(backend);
    // 8-bit [-1,1]: scale s = f32(2/255), zero point 127, nudged_min = -127 s.
    const qp = computeQParams([-1], [1], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
    const s = qp.scale[0]!;
    // x = -2.5 s: half-up works on (x - nudged_min)/s = 124.5 → 125 → out = -2 s;
    // half-even: round(-2.5) = -2 → -2 s; half-away: -3 → -3 s.
    const x = tf.tensor([f(-2.5 * s), f(3.5 * s)]);
    const out = (r: RoundingMode) => Array.from(tf.tidy(() => fakeQuant(x, qp, { rounding: r }).dataSync()));
    assert.deepEqual(out('half-up'), [f(f(125 * s) + qp.nudgedMin[0]!), f(f(131 * s) + qp.nudgedMin[0]!)]);
    assert.deepEqual(out('half-even'), [f(-2 * s), f(4 * s)]);
    assert.deepEqual(out('half-away'), [f(-3 * s), f(4 * s)]);
    x.dispose();
  });

  test(`${backend}: STE gradient of fakeQuant is dy inside [nudged_min, nudged_max] and 0 outside`, async () => {
    await use(backend);
    const qp = computeQParams([-1], [1], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
    // nudged range [-0.9960785, 1.0039216]; the bounds themselves pass the gradient (≤).
    const xs = [-2, -0.9960785, -0.5, 0, 0.5, 1.0039216, 1.5, 3];
    const dy = [1, 2, 3, 4, 5, 6, 7, 8];
    const before = tf.memory().numTensors;
    const g = tf.tidy(() => {
      const x = tf.tensor(xs);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fakeQuant(t, qp), tf.tensor(dy))))(x).dataSync();
    });
    assert.deepEqual(Array.from(g), [0, 2, 3, 4, 5, 6, 0, 0]);
    assert.equal(tf.memory().numTensors, before);
  });

  test(`${backend}: fakeQuantWithMinMaxVars gradients: dmin/dmax are the dy sums below/above, per channel`, async () => {
    await use(backend);
    const spec: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' };
    const r = tf.tidy(() => {
      const x = tf.tensor([-2, -0.5, 0.5, 1.5, 3]);
      const dy = tf.tensor([1, 2, 3, 4, 5]);
      const [gx, gmin, gmax] = tf.grads((a: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor) => tf.sum(tf.mul(fakeQuantWithMinMaxVars(a, lo, hi, spec), dy)))([x, tf.scalar(-1), tf.scalar(1)]);
      return [gx!.dataSync(), gmin!.dataSync(), gmax!.dataSync(), gmin!.shape] as const;
    });
    assert.deepEqual(Array.from(r[0]), [0, 2, 3, 0, 0]);
    assert.deepEqual(Array.from(r[1]), [1]); // only x = -2 is below -0.996
    assert.deepEqual(Array.from(r[2]), [9]); // 1.5 and 3 are above 1.0039: 4 + 5
    assert.deepEqual(r[3], []);

    // Per channel: shape [3, 2], channel axis 1 with ranges [-1, 1] and [0, 4].
    const pc: QuantSpec = { ...spec, granularity: 'per-channel' };
    const p = tf.tidy(() => {
      const x = tf.tensor([[-3, -1], [0.5, 2], [2, 9]]);
      const dy = tf.tensor([[1, 2], [3, 4], [5, 6]]);
      const [gx, gmin, gmax] = tf.grads((a: tf.Tensor, lo: tf.Tensor, hi: tf.Tensor) => tf.sum(tf.mul(fakeQuantWithMinMaxVars(a, lo, hi, pc, { axis: 1 }), dy)))([x, tf.tensor([-1, 0]), tf.tensor([1, 4])]);
      return [gx!.dataSync(), gmin!.dataSync(), gmax!.dataSync()] as const;
    });
    // Channel 0 (nudged ≈ [-0.996, 1.004]): -3 below, 0.5 inside, 2 above. Channel 1 ([0, 4] exact): -1 below, 2 inside, 9 above.
    assert.deepEqual(Array.from(p[0]), [0, 0, 3, 4, 0, 0]);
    assert.deepEqual(Array.from(p[1]), [1, 2]);
    assert.deepEqual(Array.from(p[2]), [5, 6]);
  });
}

test('fakeQuant rejects per-channel qparams whose length does not match the axis', () => {
  const qp = computeQParams([-1, -1], [1, 1], { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' }, { name: 'w' });
  const x = tf.zeros([3, 4]);
  assert.throws(() => fakeQuant(x, qp, { axis: 1, name: 'w' }), /2 channel qparams but axis 1/);
  assert.throws(() => fakeQuant(x, qp, { axis: 2 }), /axis 2 does not exist/);
  x.dispose();
});
