/**
 * gemmlowp's fixed-point arithmetic (fixedpoint/fixedpoint.h) that TFLite's
 * int8 reference kernels build on, on JS numbers holding int32 / int16 raw
 * values, bit for bit:
 *
 *  - a FixedPoint<int32, m> (Qm.(31−m)) is its raw int32; a product of two is
 *    SaturatingRoundingDoublingHighMul of the raws (integer bits add up), a sum
 *    the plain (wrapping) int32 sum; Rescale moves integer bits with
 *    SaturatingRoundingMultiplyByPOT (saturating left shift, or a right shift
 *    rounding half away from zero);
 *  - exp on [−1/4, 0) by a Taylor expansion around −1/8, exp of any negative
 *    value by a barrel shifter of exp(−2^k) constants, 1 / (1 + x) on (0, 1)
 *    by three Newton–Raphson steps, and logistic(x) from those;
 *  - the int16 helpers of TFLite's int8 HARD_SWISH: SaturatingRoundingDoublingHighMul,
 *    the truncating SaturatingDoublingHighMul and a saturating left shift.
 *
 * The constants are gemmlowp's raw values of exp(−1/8), 1/3, 48/17, −32/17 and
 * exp(−2^k) in their fixed-point formats.
 */
import { roundingDivideByPOT, saturatingRoundingDoublingHighMul } from './fixed-point.js';

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;
const INT16_MAX = 32767;
const INT16_MIN = -32768;

const mul = saturatingRoundingDoublingHighMul;
/** int32 addition as the raw C++ operators compute it (two's-complement wrap). */
const add = (a: number, b: number) => (a + b) | 0;
const sub = (a: number, b: number) => (a - b) | 0;

/** gemmlowp's SaturatingRoundingMultiplyByPOT<exponent> on an int32. */
export function saturatingRoundingMultiplyByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  if (exponent < 0) return roundingDivideByPOT(x, -exponent);
  const threshold = 2 ** (31 - exponent) - 1;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (x * 2 ** exponent) | 0;
}

/** Rescale<dstBits> of a value with srcBits integer bits. */
function rescale(x: number, srcBits: number, dstBits: number): number {
  return saturatingRoundingMultiplyByPOT(x, srcBits - dstBits);
}

/** gemmlowp's RoundingHalfSum for int32: (a + b + sign) / 2, the division truncating toward zero. */
export function roundingHalfSum(a: number, b: number): number {
  const sum = a + b; // exact in a double
  return Math.trunc((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/** exp(a) for a in [−1/4, 0), Q0.31 in and out. */
export function expOnIntervalBetweenNegativeOneQuarterAnd0Excl(a: number): number {
  const constantTerm = 1895147668; // exp(−1/8)
  const oneThird = 715827883;
  const x = add(a, 1 << 28); // a + 1/8
  const x2 = mul(x, x);
  const x3 = mul(x2, x);
  const x4 = mul(x2, x2);
  const x4Over4 = roundingDivideByPOT(x4, 2);
  const poly = roundingDivideByPOT(add(mul(add(x4Over4, x3), oneThird), x2), 1);
  return add(constantTerm, mul(constantTerm, add(x, poly)));
}

/** exp(−2^k) for k = −2 … 4, Q0.31, and the bit of the input they stand for. */
const EXP_BARREL: [exponent: number, multiplier: number][] = [
  [-2, 1672461947],
  [-1, 1302514674],
  [0, 790015084],
  [1, 290630308],
  [2, 39332535],
  [3, 720401],
  [4, 242],
];

/** exp(a) for a ≤ 0 given with `integerBits` integer bits (raw int32); result Q0.31. */
export function expOnNegativeValues(a: number, integerBits: number): number {
  const fractionalBits = 31 - integerBits;
  const oneQuarter = 2 ** (fractionalBits - 2);
  const mask = oneQuarter - 1;
  const aModQuarterMinusOneQuarter = sub(a & mask, oneQuarter);
  let result = expOnIntervalBetweenNegativeOneQuarterAnd0Excl(rescale(aModQuarterMinusOneQuarter, integerBits, 0));
  const remainder = sub(aModQuarterMinusOneQuarter, a);
  for (const [exponent, multiplier] of EXP_BARREL) {
    if (integerBits <= exponent) continue;
    const bit = fractionalBits + exponent;
    if ((remainder & (bit === 31 ? INT32_MIN : 1 << bit)) !== 0) result = mul(result, multiplier);
  }
  if (integerBits > 5) {
    const clamp = -(2 ** (36 - integerBits)); // −32 in the input's format
    if (a < clamp) result = 0;
  }
  return a === 0 ? INT32_MAX : result;
}

/** 1 / (1 + a) for a in (0, 1), Q0.31 in and out. */
export function oneOverOnePlusXForXIn01(a: number): number {
  const halfDenominator = roundingHalfSum(a, INT32_MAX); // Q0
  const c48Over17 = 1515870810; // Q2.29
  const cNeg32Over17 = -1010580540; // Q2.29
  const oneQ2 = 1 << 29;
  let x = add(c48Over17, mul(halfDenominator, cNeg32Over17)); // Q2
  for (let i = 0; i < 3; i++) {
    const halfDenominatorTimesX = mul(halfDenominator, x); // Q2
    const oneMinus = sub(oneQ2, halfDenominatorTimesX); // Q2
    x = add(x, rescale(mul(x, oneMinus), 4, 2));
  }
  // ExactMulByPot<−1> turns Q2 into Q1 without touching the raw value; then Q1 → Q0.
  return rescale(x, 1, 0);
}

/** gemmlowp's logistic of a raw value with `integerBits` integer bits; result Q0.31. */
export function logistic(a: number, integerBits: number): number {
  if (a === 0) return 1 << 30; // one half
  const positive = a > 0;
  const abs = positive ? a : -a | 0;
  const resultIfPositive = oneOverOnePlusXForXIn01(expOnNegativeValues(-abs | 0, integerBits));
  return positive ? resultIfPositive : sub(INT32_MAX, resultIfPositive);
}

// ---------------------------------------------------------------------------
// int16 helpers of the int8 HARD_SWISH kernel

/** gemmlowp's SaturatingRoundingDoublingHighMul for int16: (a·b + nudge) / 2^15, truncated, saturating −1·−1. */
export function srdhm16(a: number, b: number): number {
  if (a === INT16_MIN && b === INT16_MIN) return INT16_MAX;
  const ab = a * b;
  const nudge = ab >= 0 ? 1 << 14 : 1 - (1 << 14);
  return Math.trunc((ab + nudge) / 32768);
}

/** TFLite's SaturatingDoublingHighMul for int16 (ARM SQDMULH): a·b / 2^15 truncated toward zero, saturating −1·−1. */
export function sdhm16(a: number, b: number): number {
  if (a === INT16_MIN && b === INT16_MIN) return INT16_MAX;
  return Math.trunc((a * b) / 32768);
}

/** TFLite's SaturatingLeftShift for int16: value · 2^amount clamped to int16. */
export function saturatingLeftShift16(value: number, amount: number): number {
  const r = value * 2 ** amount;
  return r > INT16_MAX ? INT16_MAX : r < INT16_MIN ? INT16_MIN : r;
}
