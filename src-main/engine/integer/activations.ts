/**
 * TFLite's int8 activation kernels, on the integer reference's tensors:
 *
 *  - LOGISTIC (reference_integer_ops::Logistic, int8): the output grid is
 *    fixed at scale 1/256, zero point −128. q − zp_in is rescaled to Q4.27
 *    by MultiplyByQuantizedMultiplier with M·2^shift = frexp(s_in · 2^27),
 *    gemmlowp's fixed-point logistic gives Q0.31, and RoundingDivideByPOT by
 *    23 puts it on the 1/256 grid: no lookup table and no float. Inputs the
 *    Q4.27 format cannot hold (|x| ≥ 16, where the logistic is 0 or 1 on the
 *    1/256 grid) saturate to −128 / 127. (TFLite Micro bounds them with
 *    CalculateInputRadius(4, shift), up to 2× too tight: from an input scale
 *    of 2 on it saturates values the logistic still resolves, and from 8 on
 *    it sends x = 0 to −128. The TFLite interpreter builds a float table;
 *    with the exact bound the reference equals that table on every input.)
 *  - HARD_SWISH (reference_ops::HardSwish, int8): int16 fixed point. The input
 *    goes to a 2^7 finer "hires" scale; M_out = s_in / (128·s_out) and
 *    M_reluish = s_in / (128 · 3/32768), each QuantizeMultiplier-ed then cut to
 *    int16 (DownScaleInt32ToInt16Multiplier), give the value on the output
 *    scale and the relu6(x + 3)/6 factor in [0, 1] (saturating at ±3); their
 *    truncating int16 product, shifted right, is the output.
 *  - LEAKY_RELU (reference_ops::QuantizeLeakyRelu): q − zp_in rescaled by
 *    s_in / s_out when ≥ 0, by s_in·alpha / s_out below (each a quantized
 *    multiplier, the real value computed in float32 as the kernel's Prepare
 *    does). The XNNPACK form (XNNPACK's qs8 leaky ReLU, which tfjs-tflite's
 *    interpreter runs LEAKY_RELU through; measured bit for bit): the two
 *    slopes in Q8, M = round_half_even(256 · f32 slope), and
 *    q_out = floor(((q − zp_in)·M + 128) / 256) + zp_out.
 *  - any activation as a QDQ runtime computes it (elementwise 'float', or an
 *    activation no single TFLite op computes, e.g. swish in a graph not lowered
 *    for TFLite): q_out = round(f(s_in·(q − zp_in)) / s_out) + zp_out, each
 *    input value of the grid computed once into a table.
 */
import type { Activation } from '../graph/types.js';
import { logistic, sdhm16, saturatingLeftShift16, srdhm16 } from './gemmlowp.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier, roundHalfAway, roundingDivideByPOT, type QuantizedMultiplier, type RequantRounding } from './fixed-point.js';
import type { ActQParams } from './tensor.js';

/** TFLite's fixed int8 LOGISTIC output grid. */
export const LOGISTIC_OUTPUT = { scale: 1 / 256, zeroPoint: -128 } as const;
/** TFLite's fixed int8 TANH output grid. */
export const TANH_OUTPUT = { scale: 1 / 128, zeroPoint: 0 } as const;

export function isLogisticGrid(qp: ActQParams): boolean {
  return qp.scale === LOGISTIC_OUTPUT.scale && qp.zeroPoint === LOGISTIC_OUTPUT.zeroPoint && qp.qmin === -128 && qp.qmax === 127;
}

export interface LogisticParams {
  zeroPoint: number;
  radius: number;
  multiplier: number;
  shift: number;
  rounding: RequantRounding;
}

/** LOGISTIC's Prepare (kInputIntegerBits = 4): the input multiplier from s_in, and the smallest |q − zp_in| with |x| ≥ 16. */
export function logisticParams(qin: ActQParams, rounding: RequantRounding): LogisticParams {
  const real = qin.scale * 2 ** 27;
  const shift = Math.floor(Math.log2(real)) + 1;
  let q = real / 2 ** shift;
  let e = shift;
  // frexp: mantissa in [0.5, 1).
  while (q >= 1) (q /= 2), e++;
  while (q < 0.5) (q *= 2), e--;
  return { zeroPoint: qin.zeroPoint, radius: Math.ceil(16 / qin.scale), multiplier: roundHalfAway(q * 2 ** 31), shift: e, rounding };
}

/**
 * q − zp_in in Q4.27: MultiplyByQuantizedMultiplier, whose int32 left shift
 * TFLite Micro's tighter radius keeps from overflowing; beyond it (large input
 * scales) the exact product M·2^(shift − 31)·input, rounded half up.
 */
function toQ4(input: number, p: LogisticParams): number {
  if (Math.abs(input) * 2 ** Math.max(p.shift, 0) < 2 ** 31) return multiplyByQuantizedMultiplier(input, p.multiplier, p.shift, p.rounding);
  return Math.floor(input * p.multiplier * 2 ** (p.shift - 31) + 0.5);
}

export function logisticInt(p: LogisticParams, x: Int32Array, out: Int32Array): void {
  for (let i = 0; i < out.length; i++) {
    const input = x[i]! - p.zeroPoint;
    if (input <= -p.radius) out[i] = -128;
    else if (input >= p.radius) out[i] = 127;
    else {
      const v = roundingDivideByPOT(logistic(toQ4(input, p), 4), 23) - 128;
      out[i] = v < -128 ? -128 : v > 127 ? 127 : v;
    }
  }
}

export interface HardSwishParams {
  zpIn: number;
  zpOut: number;
  outputMultiplier: number;
  outputExponent: number;
  reluishMultiplier: number;
  reluishExponent: number;
  qmin: number;
  qmax: number;
}

/** DownScaleInt32ToInt16Multiplier. */
function toInt16Multiplier(m: number): number {
  if (m >= 2147483647 - 32768) return 32767;
  return (m + 32768) >> 16;
}

/** HARD_SWISH's Prepare; throws when the output multiplier would need a left shift (TFLite refuses that model). */
export function hardSwishParams(qin: ActQParams, qout: ActQParams, rounding: RequantRounding): HardSwishParams {
  const hires = Math.fround(Math.fround(1 / 128) * qin.scale);
  const out = quantizeMultiplier(Math.fround(hires / qout.scale), rounding);
  if (out.shift > 0) throw new Error(`hard swish: input scale ${qin.scale} is more than 128 × the output scale ${qout.scale}; TFLite's int8 HARD_SWISH refuses it`);
  const reluish = quantizeMultiplier(Math.fround(hires / Math.fround(3 / 32768)), rounding);
  return {
    zpIn: qin.zeroPoint,
    zpOut: qout.zeroPoint,
    outputMultiplier: toInt16Multiplier(out.multiplier),
    outputExponent: out.shift,
    reluishMultiplier: toInt16Multiplier(reluish.multiplier),
    reluishExponent: reluish.shift,
    qmin: qout.qmin,
    qmax: qout.qmax,
  };
}

export function hardSwishInt(p: HardSwishParams, x: Int32Array, out: Int32Array): void {
  const e = p.reluishExponent;
  for (let i = 0; i < out.length; i++) {
    const hires = (x[i]! - p.zpIn) * 128;
    const preshiftOutput = srdhm16(hires, p.outputMultiplier);
    let reluish = hires;
    if (e > 0) reluish = saturatingLeftShift16(reluish, e - 1);
    reluish = srdhm16(reluish, p.reluishMultiplier);
    if (e > 0) reluish = saturatingLeftShift16(reluish, 1);
    if (e < 0) reluish = roundingDivideByPOT(reluish, -e);
    reluish = (reluish + 32768) >> 1;
    const v = roundingDivideByPOT(sdhm16(reluish, preshiftOutput), -p.outputExponent) + p.zpOut;
    out[i] = v < p.qmin ? p.qmin : v > p.qmax ? p.qmax : v;
  }
}

export interface LeakyReluParams {
  zpIn: number;
  zpOut: number;
  identity: QuantizedMultiplier;
  alpha: QuantizedMultiplier;
  /** The XNNPACK form's Q8 slopes [positive, negative], or null. */
  q8: [number, number] | null;
  qmin: number;
  qmax: number;
  rounding: RequantRounding;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function leakyReluParams(qin: ActQParams, qout: ActQParams, alpha: number, rounding: RequantRounding, xnnpack = false): LeakyReluParams {
  const f = Math.fround;
  const positive = f(qin.scale / qout.scale);
  const negative = f(positive * f(alpha));
  return {
    zpIn: qin.zeroPoint,
    zpOut: qout.zeroPoint,
    identity: quantizeMultiplier(positive, rounding),
    alpha: quantizeMultiplier(f(f(qin.scale * f(alpha)) / qout.scale), rounding),
    q8: xnnpack ? [roundHalfEven(f(256 * positive)), roundHalfEven(f(256 * negative))] : null,
    qmin: qout.qmin,
    qmax: qout.qmax,
    rounding,
  };
}

export function leakyReluInt(p: LeakyReluParams, x: Int32Array, out: Int32Array): void {
  const q8 = p.q8;
  for (let i = 0; i < out.length; i++) {
    const v = x[i]! - p.zpIn;
    let q: number;
    if (q8) q = Math.floor((v * (v >= 0 ? q8[0] : q8[1]) + 128) / 256) + p.zpOut;
    else {
      const m = v >= 0 ? p.identity : p.alpha;
      q = multiplyByQuantizedMultiplier(v, m.multiplier, m.shift, p.rounding) + p.zpOut;
    }
    out[i] = q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : q;
  }
}

/** The activation of one real value, in float64 (leaky_relu needs its alpha; softmax is not elementwise). */
export function activationFunction(act: Activation, alpha?: number): (v: number) => number {
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const relu6 = (v: number) => Math.min(Math.max(v, 0), 6);
  switch (act) {
    case 'linear':
      return (v) => v;
    case 'relu':
      return (v) => Math.max(v, 0);
    case 'relu6':
      return relu6;
    case 'sigmoid':
      return sigmoid;
    case 'tanh':
      return Math.tanh;
    case 'swish':
      return (v) => v * sigmoid(v);
    case 'hard_sigmoid':
      return (v) => relu6(v + 3) / 6;
    case 'hard_sigmoid_keras2':
      return (v) => Math.min(Math.max(0.2 * v + 0.5, 0), 1);
    case 'hard_swish':
      return (v) => (v * relu6(v + 3)) / 6;
    case 'leaky_relu':
      if (alpha === undefined) throw new Error('leaky_relu needs its alpha');
      return (v) => (v >= 0 ? v : alpha * v);
    case 'softmax':
      throw new Error('softmax is not an elementwise activation');
  }
}

/**
 * The table of an elementwise function over the input grid [qmin, qmax], as
 * TFLite's int8 LUT kernels and a QDQ runtime compute each entry:
 * round(f32(f(f32(s_in·(q − zp_in))) / s_out)) + zp_out, clamped.
 */
export function lookupTable(f: (x: number) => number, qin: ActQParams, qout: ActQParams, round: (v: number) => number = roundHalfAway): Int32Array {
  const table = new Int32Array(qin.qmax - qin.qmin + 1);
  const inv = Math.fround(1 / qout.scale);
  for (let q = qin.qmin; q <= qin.qmax; q++) {
    const x = Math.fround(qin.scale * (q - qin.zeroPoint));
    const v = round(Math.fround(Math.fround(f(x)) * inv)) + qout.zeroPoint;
    table[q - qin.qmin] = v < qout.qmin ? qout.qmin : v > qout.qmax ? qout.qmax : v;
  }
  return table;
}

export function applyTable(table: Int32Array, qmin: number, x: Int32Array, out: Int32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = table[x[i]! - qmin]!;
}
