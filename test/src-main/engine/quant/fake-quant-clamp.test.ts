/**
 * The half-up fake quant clamps in the normalised domain
 * (u = (x − nudged_min)/scale clipped to [0, qmax − qmin]) rather than
 * clamping x to [nudged_min, nudged_max] first as TF writes it. Reference: TF's
 * own order of operations, as tensor ops on the same backend; the two must be
 * bit-identical for every value, in range, beyond either end and on the edges,
 * for 2..16 bits, per tensor and per channel, on cpu and wasm.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { fakeQuant } from '../../../../src-main/engine/quant/fake-quant.js';
import { computeQParams, type QParams } from '../../../../src-main/engine/quant/qparams.js';
import { BACKENDS, rng, setupBackends, use } from './helpers.js';

before(setupBackends);

/** TF's FakeQuantWithMinMaxVars forward in its own order: clamp x, then shift, divide, round half up. */
function tfOrder(x: tf.Tensor, qp: QParams, axis: number | undefined): tf.Tensor {
  return tf.tidy(() => {
    const shape = axis === undefined ? [] : x.shape.map((d, i) => (i === axis ? d : 1));
    const t = (v: Float32Array) => tf.tensor(v, shape);
    const [s, lo, hi] = [t(qp.scale), t(qp.nudgedMin), t(qp.nudgedMax)];
    const clamped = tf.minimum(tf.maximum(x, lo), hi);
    return tf.add(tf.mul(tf.floor(tf.add(tf.div(tf.sub(clamped, lo), s), 0.5)), s), lo);
  });
}

function values(r: () => number, n: number, lo: number, hi: number, qp: QParams): Float32Array {
  const out = new Float32Array(n);
  const w = hi - lo;
  for (let i = 0; i < n; i++) {
    const k = i % 5;
    if (k === 0) out[i] = lo - w + r() * w * 3; // beyond either end too
    else if (k === 1) out[i] = qp.nudgedMax[0]! * (1 + (r() - 0.5) * 1e-6); // around the top edge
    else if (k === 2) out[i] = qp.nudgedMin[0]! * (1 + (r() - 0.5) * 1e-6); // around the bottom edge
    else if (k === 3) out[i] = k % 2 ? qp.nudgedMax[0]! : qp.nudgedMin[0]!;
    else out[i] = qp.nudgedMin[0]! + (Math.floor(r() * 60) + 0.5) * qp.scale[0]!; // ties
  }
  return out;
}

for (const backend of BACKENDS) {
  test(`${backend}: half-up fake quant is bit-identical to TF's clamp-first order (2..16 bits)`, async () => {
    await use(backend);
    const r = rng(5);
    for (let trial = 0; trial < 120; trial++) {
      const bits = 2 + (trial % 15);
      const symmetric = trial % 2 === 0;
      const narrowRange = trial % 3 === 0;
      const perChannel = trial % 4 < 2;
      const C = perChannel ? 3 : 1;
      const mins = Array.from({ length: C }, () => -r() * 10);
      const maxs = Array.from({ length: C }, () => r() * 10 * (trial % 7 === 0 ? 1e-3 : 1));
      const spec = { bits, symmetric, narrowRange, granularity: perChannel ? 'per-channel' : 'per-tensor' } as const;
      const qp = computeQParams(mins, maxs, spec, perChannel ? { axis: 1 } : {});
      const x = tf.tensor(values(r, 60 * C, Math.min(...mins), Math.max(...maxs), qp), [60, C]);
      const got = tf.tidy(() => fakeQuant(x, qp, perChannel ? { axis: 1 } : {}).dataSync());
      const want = tfOrder(x, qp, perChannel ? 1 : undefined);
      assert.deepEqual(Array.from(got), Array.from(want.dataSync()), `trial ${trial}: ${JSON.stringify(spec)}`);
      tf.dispose([x, want]);
    }
  });
}

/** The float32 neighbours of v (one ulp below and above). */
function ulps(v: number): [number, number] {
  const b = new Float32Array([v]);
  const i = new Int32Array(b.buffer);
  const up = new Float32Array(1);
  const down = new Float32Array(1);
  const iu = new Int32Array(up.buffer);
  const id = new Int32Array(down.buffer);
  const away = i[0]! + 1;
  const toward = i[0]! - 1;
  // For positive v, +1 in the bit pattern is one ulp up; for negative v, one ulp down.
  iu[0] = v >= 0 ? away : toward;
  id[0] = v >= 0 ? toward : away;
  return [down[0]!, up[0]!];
}

for (const backend of BACKENDS) {
  test(`${backend}: per-tensor STE mask (clip(x) = x) equals nudged_min ≤ x ≤ nudged_max, edges, ulps, NaN and ±Inf included`, async () => {
    await use(backend);
    const r = rng(9);
    for (let trial = 0; trial < 40; trial++) {
      const spec = { bits: 2 + (trial % 15), symmetric: trial % 2 === 0, narrowRange: trial % 3 === 0, granularity: 'per-tensor' } as const;
      const qp = computeQParams([-r() * 5], [r() * 5], spec);
      const lo = qp.nudgedMin[0]!;
      const hi = qp.nudgedMax[0]!;
      const xs = [lo, hi, ...ulps(lo), ...ulps(hi), 0, -0, NaN, Infinity, -Infinity, ...Array.from({ length: 20 }, () => lo - 1 + r() * (hi - lo + 2))];
      const dy = xs.map((_, i) => i + 1);
      const want = xs.map((v, i) => (v >= lo && v <= hi ? dy[i]! : 0));
      const got = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(fakeQuant(t, qp), tf.tensor(dy))))(tf.tensor(xs)).dataSync());
      assert.deepEqual(Array.from(got), want, `trial ${trial}: range [${lo}, ${hi}]`);
    }
  });
}
