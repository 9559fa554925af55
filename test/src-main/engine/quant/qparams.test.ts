/**
 * computeQParams against TF's Nudge worked by hand (float32 at every step;
 * the expected literals were also checked with numpy.float32).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { QuantSpec } from '../../../../src-main/api/run-config.js';
import {
  adjustRange,
  computeQParams,
  EPS,
  integerQParams,
  nudge,
  qparamsEquals,
  qparamsFromJSON,
  qparamsToJSON,
  roundHalfAway,
} from '../../../../src-main/engine/quant/qparams.js';

const f = Math.fround;
const asym = (bits: number, narrowRange = false): QuantSpec => ({ bits, symmetric: false, narrowRange, granularity: 'per-tensor' });
const sym = (bits: number, narrowRange: boolean): QuantSpec => ({ bits, symmetric: true, narrowRange, granularity: 'per-tensor' });

function one(min: number, max: number, spec: QuantSpec) {
  const q = computeQParams([min], [max], spec);
  return { scale: q.scale[0]!, zp: q.zeroPoint[0]!, nmin: q.nudgedMin[0]!, nmax: q.nudgedMax[0]!, q };
}

test('8-bit [-1, 1]: float32 quotient 127.49999 gives zero point 127, not 128', () => {
  // scale = f32(2/255); -(-1)/scale in float32 = 127.49999237 < 127.5, so std::round → 127.
  const r = one(-1, 1, asym(8));
  assert.equal(r.scale, f(2 / 255));
  assert.equal(f(0 - f(-1 / r.scale)), f(127.49999));
  assert.equal(r.zp, 127);
  assert.equal(r.nmin, f(-127 * f(2 / 255)));
  assert.equal(r.nmin, f(-0.9960785));
  assert.equal(r.nmax, f(1.0039216));
  assert.equal(r.q.qmin, 0);
  assert.equal(r.q.qmax, 255);
});

test('8-bit narrow range [-1, 1]: scale 1/127, zero point 128, nudged range exactly [-1, 1]', () => {
  const r = one(-1, 1, asym(8, true));
  assert.equal(r.q.qmin, 1);
  assert.equal(r.scale, f(2 / 254));
  assert.equal(r.zp, 128);
  assert.equal(r.nmin, -1);
  assert.equal(r.nmax, 1);
});

test('4-bit [-0.25, 1.25]: zero point from min is 2.5 in float32 and rounds half away to 3, shifting the range', () => {
  const r = one(-0.25, 1.25, asym(4));
  assert.equal(r.q.qmax, 15);
  assert.equal(r.scale, f(0.1));
  assert.equal(r.zp, 3);
  assert.equal(r.nmin, f(-0.3));
  assert.equal(r.nmax, f(1.2));
});

test('range [0.5, 2] not containing zero is widened to [0, 2] (asymmetric) or [-2, 2] (symmetric narrow)', () => {
  const a = one(0.5, 2, asym(8));
  assert.equal(a.zp, 0);
  assert.equal(a.scale, f(2 / 255));
  assert.equal(a.nmin, 0);
  assert.equal(a.nmax, f(255 * f(2 / 255)));
  assert.equal(a.nmax, 2);
  const s = one(0.5, 2, sym(8, true));
  assert.equal(s.scale, f(4 / 254));
  assert.equal(s.zp, 128);
  assert.equal(s.nmin, -2);
  assert.equal(s.nmax, 2);
  // A range entirely below zero: [-3, -1] → [-3, 0], zero point at qmax.
  const neg = one(-3, -1, asym(8));
  assert.equal(neg.zp, 255);
  assert.equal(neg.nmax, 0);
  assert.equal(neg.nmin, -3);
});

test('all-zero tensor: scale is EPS, no division by zero; symmetric keeps the middle zero point', () => {
  const a = one(0, 0, asym(8));
  assert.equal(EPS, 2 ** -23);
  assert.equal(a.scale, 2 ** -23); // max raised to 255·EPS, scale = 255·EPS / 255
  assert.equal(a.zp, 0);
  assert.equal(a.nmin, 0);
  assert.equal(a.nmax, f(255 * 2 ** -23));
  const s = one(0, 0, sym(8, true));
  // hi = 254·EPS, mirrored to [-254·EPS, 254·EPS]; scale = 508·EPS/254 = 2·EPS; zp = 1 + 127 = 128.
  assert.equal(s.scale, 2 ** -22);
  assert.equal(s.zp, 128);
  assert.equal(s.nmin, -s.nmax);
  assert.ok(Number.isFinite(s.scale) && s.scale > 0);
});

test('symmetric narrow int8: [-127, 127] with zero point 0 in the signed domain', () => {
  const r = one(-1, 0.5, sym(8, true));
  assert.equal(r.scale, f(1 / 127));
  assert.equal(r.zp, 128);
  const i = integerQParams(r.q, 'signed');
  assert.equal(i.qmin, -127);
  assert.equal(i.qmax, 127);
  assert.equal(i.zeroPoint[0], 0);
  const u = integerQParams(r.q, 'unsigned');
  assert.equal(u.qmin, 1);
  assert.equal(u.zeroPoint[0], 128);
});

test('symmetric full-range int8: [-128, 127]·s with s = 1/127 for [-1, 1] (tfmot ratio -127/128)', () => {
  const r = one(-1, 1, sym(8, false));
  const [lo, hi] = adjustRange(-1, 1, sym(8, false));
  assert.equal(lo, f(-128 / 127));
  assert.equal(hi, 1);
  assert.equal(r.scale, f(1 / 127));
  assert.equal(r.zp, 128);
  assert.equal(r.nmin, f(-1.007874));
  assert.equal(r.nmax, 1);
  assert.equal(integerQParams(r.q, 'signed').zeroPoint[0], 0);
});

test('per-channel gives vectors of the channel count; errors name the tensor and channel', () => {
  const spec: QuantSpec = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' };
  const q = computeQParams([-1, -2, 0], [1, 0.5, 0], spec, { name: 'k', axis: 3 });
  assert.equal(q.scale.length, 3);
  assert.equal(q.axis, 3);
  assert.deepEqual(Array.from(q.zeroPoint), [128, 128, 128]);
  assert.equal(q.scale[1], f(4 / 254));
  assert.throws(() => computeQParams([0, NaN], [1, 1], spec, { name: 'k' }), /'k'.*channel 1.*not finite/);
  assert.throws(() => computeQParams([2], [1], asym(8)), /min 2 > max 1/);
  assert.throws(() => computeQParams([0, 0], [1, 1], asym(8)), /per-tensor spec but 2/);
  assert.throws(() => computeQParams([], [], spec), /no channels/);
});

test('property: nudged range contains 0 exactly on the grid, zero point in [qmin, qmax], scale ≥ EPS', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 16 }),
      fc.boolean(),
      fc.boolean(),
      fc.float({ min: -1e4, max: 1e4, noNaN: true }),
      fc.float({ min: -1e4, max: 1e4, noNaN: true }),
      (bits, symmetric, narrowRange, a, b) => {
        const spec: QuantSpec = { bits, symmetric, narrowRange, granularity: 'per-tensor' };
        const r = one(Math.min(a, b), Math.max(a, b), spec);
        assert.ok(r.scale >= EPS * 0.999);
        assert.ok(r.zp >= r.q.qmin && r.zp <= r.q.qmax);
        assert.ok(r.nmin <= 0 && r.nmax >= 0);
        if (symmetric) assert.equal(r.zp, 2 ** (bits - 1), 'symmetric zero point is the middle of the grid');
        // nudged_min = (qmin − zp)·scale exactly as float32
        assert.equal(r.nmin, f((r.q.qmin - r.zp) * r.scale));
      },
    ),
    { numRuns: 500 },
  );
});

test('nudge clamps the zero point to the grid, roundHalfAway rounds ties away from zero', () => {
  assert.equal(nudge(0.5, 1, 0, 255).zeroPoint, 0); // zp_from_min < qmin
  assert.equal(nudge(-1, -0.5, 0, 255).zeroPoint, 255); // > qmax
  assert.equal(roundHalfAway(2.5), 3);
  assert.equal(roundHalfAway(-2.5), -3);
  assert.equal(roundHalfAway(2.4999998), 2);
});

test('JSON round trip keeps every float32 bit; equality notices a one-ulp change', () => {
  const q = computeQParams([-0.3, -1.7], [0.9, 2.1], { bits: 7, symmetric: false, narrowRange: true, granularity: 'per-channel' }, { axis: 1 });
  const back = qparamsFromJSON(JSON.parse(JSON.stringify(qparamsToJSON(q))));
  assert.ok(qparamsEquals(q, back));
  assert.ok(back.scale instanceof Float32Array && back.zeroPoint instanceof Int32Array);
  const j = qparamsToJSON(q);
  j.scale[1] = f(j.scale[1]! * (1 + 2 ** -23));
  assert.ok(!qparamsEquals(q, qparamsFromJSON(j)));
  assert.throws(() => qparamsFromJSON({ ...qparamsToJSON(q), zeroPoint: [1] }), /differ in length/);
});
