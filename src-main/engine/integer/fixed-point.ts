/**
 * TFLite's fixed-point requantization, on JS numbers, bit for bit:
 *
 *  - quantizeMultiplier: TFLite's QuantizeMultiplier
 *    (tensorflow/lite/kernels/internal/quantization_util.cc). A real
 *    multiplier m becomes a Q0.31 significand and a power-of-two exponent,
 *    m ≈ M · 2^(shift − 31) with M in [2^30, 2^31): frexp gives
 *    m = q · 2^shift with q in [0.5, 1); M = round_half_away(q · 2^31); if that
 *    rounds up to 2^31, M = 2^30 and shift + 1; a shift below −31 flushes to
 *    M = 0, shift = 0. (Single rounding additionally caps shift at 30.)
 *  - multiplyByQuantizedMultiplier: MultiplyByQuantizedMultiplier (common.h /
 *    common.cc). The default build ("double rounding"):
 *      RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x · 2^max(shift,0), M), max(−shift, 0))
 *    where SaturatingRoundingDoublingHighMul (gemmlowp fixedpoint.h, ARM's
 *    VQRDMULH) is (a·b + (a·b ≥ 0 ? 2^30 : 1 − 2^30)) / 2^31 truncated toward
 *    zero, saturating the one overflow INT32_MIN · INT32_MIN to INT32_MAX, and
 *    RoundingDivideByPOT is a right shift rounding half away from zero.
 *    TFLITE_SINGLE_ROUNDING builds instead compute
 *      (x · M + 2^(30 − shift)) >> (31 − shift)   (one rounding, half up).
 *
 * The 64-bit products are computed exactly with doubles by splitting one
 * factor into 16-bit halves (see floorMulAddShift); no BigInt on the hot path.
 */

export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
const TWO16 = 65536;
const TWO30 = 1073741824;

export type RequantRounding = 'double' | 'single';

export interface QuantizedMultiplier {
  /** Q0.31 significand, in [2^30, 2^31) (negated for a negative multiplier), or 0. */
  multiplier: number;
  /** Power-of-two exponent: real ≈ multiplier · 2^(shift − 31). Positive = left shift. */
  shift: number;
}

/** `std::round`: halves go away from zero. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/**
 * floor((a·b + add) / 2^t), exact for integers |a| ≤ 2^31, |b| ≤ 2^31,
 * |add| < 2^52 and 0 ≤ t ≤ 62, provided the result fits comfortably in a
 * double (it always does when it fits in int32). a·b is split as
 * a·bh·2^16 + a·bl with 0 ≤ bl < 2^16, each part below 2^47.
 */
export function floorMulAddShift(a: number, b: number, add: number, t: number): number {
  const bh = Math.floor(b / TWO16);
  const bl = b - bh * TWO16;
  const hi = a * bh;
  const c = a * bl + add;
  const cHi = Math.floor(c / TWO16);
  const cLo = c - cHi * TWO16; // 0 ≤ cLo < 2^16
  const z = hi + cHi; // a·b + add = z·2^16 + cLo
  if (t >= 16) return Math.floor(z / 2 ** (t - 16)); // floor(floor(y/2^16)/2^(t−16)) = floor(y/2^t)
  return z * 2 ** (16 - t) + Math.floor(cLo / 2 ** t);
}

/** gemmlowp's SaturatingRoundingDoublingHighMul for int32 a, b. */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const negative = (a < 0 && b > 0) || (a > 0 && b < 0);
  // C++ '/' truncates toward zero: floor for a non-negative numerator, ceil (= −floor(−y)) otherwise.
  if (!negative) return floorMulAddShift(a, b, TWO30, 31) | 0;
  return -floorMulAddShift(-a, b, TWO30 - 1, 31) | 0;
}

/** gemmlowp's RoundingDivideByPOT: x / 2^exponent rounded to nearest, halves away from zero; 0 ≤ exponent ≤ 31. */
export function roundingDivideByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x;
  const mask = exponent === 31 ? 0x7fffffff : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/** Mantissa in [0.5, 1) and exponent of a finite non-zero double, as C's frexp. */
function frexp(v: number): { q: number; e: number } {
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a)) + 1;
  let q = a / 2 ** e;
  while (q >= 1) {
    q /= 2;
    e++;
  }
  while (q < 0.5) {
    q *= 2;
    e--;
  }
  return { q: v < 0 ? -q : q, e };
}

/** TFLite's QuantizeMultiplier (see the module comment). Throws on NaN or an infinite multiplier. */
export function quantizeMultiplier(real: number, rounding: RequantRounding = 'double'): QuantizedMultiplier {
  if (!Number.isFinite(real)) throw new Error(`requantization multiplier ${real} is not finite`);
  // Below 2^-900 the shift is far under −31: flushed to zero as TFLite does (and 2^e would underflow here).
  if (real === 0 || Math.abs(real) < 2 ** -900) return { multiplier: 0, shift: 0 };
  const { q, e } = frexp(real);
  let shift = e;
  let fixed = roundHalfAway(q * 2 ** 31);
  if (Math.abs(fixed) === 2 ** 31) {
    fixed /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  if (rounding === 'single' && shift > 30) return { multiplier: INT32_MAX, shift: 30 };
  return { multiplier: fixed, shift };
}

/**
 * TFLite's MultiplyByQuantizedMultiplier(int32 x, M, shift): x · M · 2^(shift − 31)
 * rounded to an integer. x · 2^shift for a positive shift wraps like the C
 * int32 product (Math.imul); a caller keeps x small enough that it does not.
 */
export function multiplyByQuantizedMultiplier(x: number, multiplier: number, shift: number, rounding: RequantRounding = 'double'): number {
  if (rounding === 'single') {
    const total = 31 - shift;
    return floorMulAddShift(x, multiplier, 2 ** (total - 1), total) | 0;
  }
  const left = shift > 0 ? shift : 0;
  const right = shift > 0 ? 0 : -shift;
  const shifted = left > 0 ? Math.imul(x, 1 << left) : x;
  return roundingDivideByPOT(saturatingRoundingDoublingHighMul(shifted, multiplier), right);
}

/** The real number a quantized multiplier stands for: M · 2^(shift − 31). */
export function multiplierValue(m: QuantizedMultiplier): number {
  return m.multiplier * 2 ** (m.shift - 31);
}
