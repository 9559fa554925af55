/**
 * TFLite's fixed-point requantization against hand-worked values, and against
 * a slow BigInt transcription of gemmlowp's formulas on generated inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  INT32_MAX,
  INT32_MIN,
  floorMulAddShift,
  multiplierValue,
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from '../../../../src-main/engine/integer/fixed-point.js';
import { requantizeAcc } from '../../../../src-main/engine/integer/requantize.js';

const Q31_HALF = 2 ** 30; // 0.5 in Q0.31

/** Deterministic generator (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** gemmlowp's SaturatingRoundingDoublingHighMul with 64-bit integers (C++ '/' truncates toward zero). */
function srdhmBig(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n));
}

/** gemmlowp's RoundingDivideByPOT with BigInt: floor shift plus the rounding bit. */
function rdbpotBig(x: number, e: number): number {
  const bx = BigInt(x);
  const mask = (1n << BigInt(e)) - 1n;
  const remainder = bx & mask;
  const threshold = (mask >> 1n) + (x < 0 ? 1n : 0n);
  return Number((bx >> BigInt(e)) + (remainder > threshold ? 1n : 0n));
}

describe('QuantizeMultiplier (quantization_util.cc)', () => {
  test('hand-worked significands and shifts', () => {
    assert.deepEqual(quantizeMultiplier(0.5), { multiplier: 2 ** 30, shift: 0 });
    assert.deepEqual(quantizeMultiplier(1), { multiplier: 2 ** 30, shift: 1 }); // frexp(1) = 0.5·2^1
    assert.deepEqual(quantizeMultiplier(0.75), { multiplier: 1610612736, shift: 0 });
    assert.deepEqual(quantizeMultiplier(3), { multiplier: 1610612736, shift: 2 }); // shift > 0: a left shift
    // 0.1 = 0.8·2^-3; 0.8·2^31 = 1717986918.4 → 1717986918.
    assert.deepEqual(quantizeMultiplier(0.1), { multiplier: 1717986918, shift: -3 });
    assert.deepEqual(quantizeMultiplier(-0.75), { multiplier: -1610612736, shift: 0 });
    assert.deepEqual(quantizeMultiplier(0), { multiplier: 0, shift: 0 });
  });

  test('a significand rounding up to 2^31 is halved and the shift raised', () => {
    // 1 − 2^-40 = q·2^0 with q·2^31 = 2^31 − 2^-9, which rounds to 2^31.
    assert.deepEqual(quantizeMultiplier(1 - 2 ** -40), { multiplier: 2 ** 30, shift: 1 });
  });

  test('shifts below −31 flush to zero; −31 itself is kept', () => {
    assert.deepEqual(quantizeMultiplier(2 ** -32), { multiplier: 2 ** 30, shift: -31 });
    assert.deepEqual(quantizeMultiplier(2 ** -33), { multiplier: 0, shift: 0 });
    assert.deepEqual(quantizeMultiplier(1e-300), { multiplier: 0, shift: 0 });
  });

  test('single rounding caps the shift at 30', () => {
    assert.deepEqual(quantizeMultiplier(2 ** 40, 'double'), { multiplier: 2 ** 30, shift: 41 });
    assert.deepEqual(quantizeMultiplier(2 ** 40, 'single'), { multiplier: INT32_MAX, shift: 30 });
  });

  test('the significand is within half a Q31 unit of the real multiplier', () => {
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const real = 2 ** (-30 + 40 * r()) * (1 + r());
      const m = quantizeMultiplier(real);
      assert.ok(m.multiplier >= 2 ** 30 && m.multiplier < 2 ** 31, `${real}: ${m.multiplier}`);
      assert.ok(Math.abs(multiplierValue(m) - real) <= 2 ** (m.shift - 32) * (1 + 1e-9), `${real}`);
    }
  });

  test('refuses a non-finite multiplier', () => {
    assert.throws(() => quantizeMultiplier(Number.NaN), /not finite/);
    assert.throws(() => quantizeMultiplier(Infinity), /not finite/);
  });
});

describe('SaturatingRoundingDoublingHighMul (gemmlowp)', () => {
  test('hand-worked values: ties round toward +∞ as ARM VQRDMULH', () => {
    assert.equal(saturatingRoundingDoublingHighMul(2 ** 30, 2 ** 30), 2 ** 29); // 0.5 · 0.5 = 0.25
    assert.equal(saturatingRoundingDoublingHighMul(-(2 ** 30), 2 ** 30), -(2 ** 29));
    assert.equal(saturatingRoundingDoublingHighMul(3, Q31_HALF), 2); // 1.5 → 2
    assert.equal(saturatingRoundingDoublingHighMul(-3, Q31_HALF), -1); // −1.5 → −1
    assert.equal(saturatingRoundingDoublingHighMul(-5, Q31_HALF), -2); // −2.5 → −2
    assert.equal(saturatingRoundingDoublingHighMul(5, -Q31_HALF), -2); // negative multiplier, same tie rule
    assert.equal(saturatingRoundingDoublingHighMul(0, INT32_MIN), 0);
  });

  test('INT32_MIN · INT32_MIN saturates to INT32_MAX (the one overflow)', () => {
    assert.equal(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
    // Next to it nothing saturates: −2^31 · (2^31 − 1) / 2^31 = −2147483647 + a tie-free fraction.
    assert.equal(saturatingRoundingDoublingHighMul(INT32_MIN, INT32_MAX), -2147483647);
    assert.equal(saturatingRoundingDoublingHighMul(INT32_MAX, INT32_MAX), 2147483646);
  });

  test('equals the 64-bit formula on generated int32 pairs', () => {
    const r = rng(11);
    const edges = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX, 2 ** 30, -(2 ** 30)];
    const int32 = () => (r() < 0.1 ? edges[Math.floor(r() * edges.length)]! : Math.floor((r() * 2 - 1) * 2 ** Math.floor(r() * 32)) | 0);
    for (let i = 0; i < 20000; i++) {
      const a = int32();
      const b = int32();
      assert.equal(saturatingRoundingDoublingHighMul(a, b), srdhmBig(a, b), `${a} · ${b}`);
    }
  });
});

describe('RoundingDivideByPOT (gemmlowp)', () => {
  test('hand-worked values: halves go away from zero', () => {
    assert.equal(roundingDivideByPOT(5, 1), 3); // 2.5
    assert.equal(roundingDivideByPOT(-5, 1), -3);
    assert.equal(roundingDivideByPOT(6, 2), 2); // 1.5
    assert.equal(roundingDivideByPOT(-6, 2), -2);
    assert.equal(roundingDivideByPOT(7, 2), 2); // 1.75
    assert.equal(roundingDivideByPOT(-7, 2), -2);
    assert.equal(roundingDivideByPOT(-2, 2), -1); // −0.5
    assert.equal(roundingDivideByPOT(2, 2), 1);
    assert.equal(roundingDivideByPOT(-1, 2), 0); // −0.25
    assert.equal(roundingDivideByPOT(123, 0), 123);
    assert.equal(roundingDivideByPOT(INT32_MIN, 31), -1);
    assert.equal(roundingDivideByPOT(INT32_MAX, 31), 1);
    assert.equal(roundingDivideByPOT(-(2 ** 30), 31), -1); // −0.5
  });

  test('equals the 64-bit formula on generated values', () => {
    const r = rng(13);
    for (let i = 0; i < 20000; i++) {
      const x = Math.floor((r() * 2 - 1) * 2 ** 31) | 0;
      const e = Math.floor(r() * 32);
      assert.equal(roundingDivideByPOT(x, e), rdbpotBig(x, e), `${x} >> ${e}`);
    }
  });
});

describe('MultiplyByQuantizedMultiplier', () => {
  test('hand-worked values with shift > 0, = 0 and < 0, positive and negative x', () => {
    const three = quantizeMultiplier(3); // shift 2
    assert.equal(multiplyByQuantizedMultiplier(3, three.multiplier, three.shift), 9);
    assert.equal(multiplyByQuantizedMultiplier(-3, three.multiplier, three.shift), -9);
    const one = quantizeMultiplier(1); // shift 1
    assert.equal(multiplyByQuantizedMultiplier(100, one.multiplier, one.shift), 100);
    const tenth = quantizeMultiplier(0.1); // shift −3
    assert.equal(multiplyByQuantizedMultiplier(1000, tenth.multiplier, tenth.shift), 100);
    assert.equal(multiplyByQuantizedMultiplier(-1000, tenth.multiplier, tenth.shift), -100);
    assert.equal(multiplyByQuantizedMultiplier(14, 2 ** 30, 0), 7);
  });

  test('double rounding: 5 · 0.25 = 1.25 comes out 2 (2.5 → 3, then 1.5 → 2); single rounding gives 1', () => {
    assert.equal(multiplyByQuantizedMultiplier(5, 2 ** 30, -1, 'double'), 2);
    assert.equal(multiplyByQuantizedMultiplier(5, 2 ** 30, -1, 'single'), 1);
    // Single rounding ties go up: 1.5 → 2, −1.5 → −1.
    assert.equal(multiplyByQuantizedMultiplier(3, 2 ** 30, 0, 'single'), 2);
    assert.equal(multiplyByQuantizedMultiplier(-3, 2 ** 30, 0, 'single'), -1);
  });

  test('the INT32_MIN saturating case passes through with no right shift', () => {
    assert.equal(multiplyByQuantizedMultiplier(INT32_MIN, INT32_MIN, 0), INT32_MAX);
  });

  test('equals round(acc · M) within 1 LSB, and the BigInt formula exactly', () => {
    const r = rng(17);
    for (let i = 0; i < 20000; i++) {
      const acc = Math.floor((r() * 2 - 1) * 2 ** 24);
      const real = 2 ** (-20 + 20 * r()) * (0.5 + r() / 2);
      const m = quantizeMultiplier(real);
      const got = multiplyByQuantizedMultiplier(acc, m.multiplier, m.shift);
      assert.ok(Math.abs(got - Math.round(acc * real)) <= 1, `${acc} · ${real}: ${got}`);
      const left = Math.max(m.shift, 0);
      assert.equal(got, rdbpotBig(srdhmBig(acc * 2 ** left, m.multiplier), Math.max(-m.shift, 0)));
      const single = multiplyByQuantizedMultiplier(acc, m.multiplier, m.shift, 'single');
      const total = BigInt(31 - m.shift);
      assert.equal(single, Number((BigInt(acc) * BigInt(m.multiplier) + (1n << (total - 1n))) >> total));
    }
  });

  test("requantizeAcc's inlined loop equals multiplyByQuantizedMultiplier per channel", () => {
    const r = rng(19);
    const reals = [1e-4, 0.5, 1e-7, 0.999999, 3.7, 0.0123, 2 ** -32];
    const ms = reals.map((x) => quantizeMultiplier(x));
    const req = {
      multiplier: Int32Array.from(ms.map((m) => m.multiplier)),
      shift: Int32Array.from(ms.map((m) => m.shift)),
      zeroPoint: -3,
      min: INT32_MIN,
      max: INT32_MAX,
      rounding: 'double' as const,
    };
    const acc = Int32Array.from({ length: 7000 }, () => Math.floor((r() * 2 - 1) * 2 ** Math.floor(r() * 30)));
    acc[0] = INT32_MIN;
    acc[1] = INT32_MAX;
    const out = new Int32Array(acc.length);
    requantizeAcc(acc, req, out);
    for (let i = 0; i < acc.length; i++) {
      const c = i % reals.length;
      assert.equal(out[i], (multiplyByQuantizedMultiplier(acc[i]!, req.multiplier[c]!, req.shift[c]!) - 3) | 0, `acc ${acc[i]} channel ${c}`);
    }
  });

  test('floorMulAddShift is exact where a·b exceeds 2^53', () => {
    const a = INT32_MAX;
    const b = INT32_MAX - 2;
    for (const t of [0, 5, 16, 31, 45, 62]) {
      const want = (BigInt(a) * BigInt(b) + 12345n) >> BigInt(t);
      if (want > 2n ** 52n) continue;
      assert.equal(floorMulAddShift(a, b, 12345, t), Number(want), `t ${t}`);
    }
    assert.equal(floorMulAddShift(-a, b, 0, 31), Number((BigInt(-a) * BigInt(b)) >> 31n));
    assert.equal(floorMulAddShift(-1000, 3001, 7, 3), Number((-1000n * 3001n + 7n) >> 3n));
  });
});
