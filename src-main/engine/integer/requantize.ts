/**
 * From int32 accumulators to the output's integer grid.
 *
 * requantizeAcc is TFLite's output stage of CONV_2D / DEPTHWISE_CONV_2D /
 * FULLY_CONNECTED: q = clamp(MultiplyByQuantizedMultiplier(acc, M[c], shift[c])
 * + zp_out, act_min, act_max), with M, shift = QuantizeMultiplier(s_in·s_w[c] / s_out)
 * and [act_min, act_max] the output grid narrowed by a fused ReLU / ReLU6
 * (CalculateActivationRangeQuantized).
 *
 * floatEpilogue is NOT integer arithmetic: a layer whose own activation is
 * softmax (or, in a graph imported before such activations were split off
 * into their own nodes, sigmoid, tanh, swish…) has no integer tensor before that activation in
 * the plan (no range was calibrated for its logits), so its accumulators are
 * dequantized (acc · s_in·s_w[c]), the activation is applied in float64, and
 * the result is quantized to the output grid. For the usual classifier head
 * (Dense + softmax) this is what the ONNX export runs too: Gemm in float,
 * Softmax, QuantizeLinear.
 */
import type { Activation } from '../graph/types.js';
import { INT32_MAX, INT32_MIN, multiplyByQuantizedMultiplier, type RequantRounding } from './fixed-point.js';
import { quantizeScalar, type ActQParams } from './tensor.js';
import { activationFunction } from './activations.js';

/** TFLite's CalculateActivationRangeQuantized for a fused NONE / RELU / RELU6. */
export function activationRange(activation: Activation, qp: ActQParams): { min: number; max: number } {
  switch (activation) {
    case 'linear':
      return { min: qp.qmin, max: qp.qmax };
    case 'relu':
      return { min: Math.max(qp.qmin, quantizeScalar(0, qp)), max: qp.qmax };
    case 'relu6':
      return { min: Math.max(qp.qmin, quantizeScalar(0, qp)), max: Math.min(qp.qmax, quantizeScalar(6, qp)) };
    default:
      throw new Error(`activation ${activation} is not a fused clamp`);
  }
}

/** Intersection of the clamps of several fused activations (a layer's own and a following ReLU layer). */
export function fusedRange(activations: readonly Activation[], qp: ActQParams): { min: number; max: number } {
  let min = qp.qmin;
  let max = qp.qmax;
  for (const a of activations) {
    const r = activationRange(a, qp);
    min = Math.max(min, r.min);
    max = Math.min(max, r.max);
  }
  return { min, max };
}

export interface Requant {
  /** Per output channel (length C; a per-tensor multiplier is repeated). */
  multiplier: Int32Array;
  shift: Int32Array;
  zeroPoint: number;
  min: number;
  max: number;
  rounding: RequantRounding;
}

/** out[i] = clamp(MBQM(acc[i], M[c], shift[c]) + zp, min, max), c = i mod C. */
export function requantizeAcc(acc: Int32Array, r: Requant, out: Int32Array): void {
  const channels = r.multiplier.length;
  const { zeroPoint, min, max, rounding } = r;
  if (rounding === 'double' && r.multiplier.every((m) => m >= 0)) return requantizeDouble(acc, r, out);
  for (let i = 0, c = 0; i < acc.length; i++) {
    const q = multiplyByQuantizedMultiplier(acc[i]!, r.multiplier[c]!, r.shift[c]!, rounding) + zeroPoint;
    out[i] = q < min ? min : q > max ? max : q;
    if (++c === channels) c = 0;
  }
}

/**
 * XNNPACK's fp32 requantization of int32 accumulators (its int8 convolution
 * and fully connected kernels, which the TFLite interpreter of
 * @tensorflow/tfjs-tflite runs them through): q = round_half_even(f32(f32(acc)
 * · scale[c])) + zp, clamped, with scale[c] = f32(f32(s_in·s_w[c]) / s_out).
 */
export function requantizeAccFp32(acc: Int32Array, scales: Float64Array, zeroPoint: number, min: number, max: number, out: Int32Array): void {
  const channels = scales.length;
  for (let i = 0, c = 0; i < acc.length; i++) {
    const v = Math.fround(Math.fround(acc[i]!) * scales[c]!);
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r--;
    const q = r + zeroPoint;
    out[i] = q < min ? min : q > max ? max : q;
    if (++c === channels) c = 0;
  }
}

/**
 * requantizeAcc for double rounding and M ≥ 0, with fixed-point.ts's
 * functions inlined (same arithmetic; the tests check it against
 * multiplyByQuantizedMultiplier): SaturatingRoundingDoublingHighMul of
 * x = acc·2^left by M as ±floor((|x|·M + nudge) / 2^31), exact in doubles
 * while |x| < 2^22, else with M = mh·2^16 + ml as
 * ±floor((|x|·mh + floor((|x|·ml + nudge) / 2^16)) / 2^15), then
 * RoundingDivideByPOT by the right shift.
 */
function requantizeDouble(acc: Int32Array, r: Requant, out: Int32Array): void {
  const channels = r.multiplier.length;
  const mFull = Float64Array.from(r.multiplier);
  const mh = new Float64Array(channels);
  const ml = new Float64Array(channels);
  const left = new Int32Array(channels);
  const right = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = r.multiplier[c]!;
    mh[c] = Math.floor(m / 65536);
    ml[c] = m - mh[c]! * 65536;
    left[c] = r.shift[c]! > 0 ? 1 << r.shift[c]! : 1;
    right[c] = r.shift[c]! > 0 ? 0 : -r.shift[c]!;
  }
  const { zeroPoint, min, max } = r;
  for (let i = 0, c = 0; i < acc.length; i++) {
    const x = left[c] === 1 ? acc[i]! : Math.imul(acc[i]!, left[c]!);
    const m = mFull[c]!;
    let high: number;
    // |x| < 2^22: x·M < 2^53 is exact in a double, one floor suffices; else split M in 16-bit halves.
    if (x >= 0) high = x < 4194304 ? Math.floor((x * m + 1073741824) / 2147483648) : Math.floor((x * mh[c]! + Math.floor((x * ml[c]! + 1073741824) / 65536)) / 32768);
    else if (x > -4194304) high = -Math.floor((-x * m + 1073741823) / 2147483648);
    else if (x === INT32_MIN && m === INT32_MIN) high = INT32_MAX;
    else high = -Math.floor((-x * mh[c]! + Math.floor((-x * ml[c]! + 1073741823) / 65536)) / 32768);
    let q = high;
    const e = right[c]!;
    if (e > 0) {
      const mask = e === 31 ? 0x7fffffff : (1 << e) - 1;
      const threshold = (mask >> 1) + (high < 0 ? 1 : 0);
      q = (high >> e) + ((high & mask) > threshold ? 1 : 0);
    }
    q += zeroPoint;
    out[i] = q < min ? min : q > max ? max : q;
    if (++c === channels) c = 0;
  }
}

/** Applies a float activation in place on rows of `channels` values. */
export function applyFloatActivation(v: Float64Array, channels: number, activation: Activation): void {
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < v.length; i++) if (v[i]! < 0) v[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < v.length; i++) v[i] = Math.min(Math.max(v[i]!, 0), 6);
      return;
    case 'sigmoid':
      for (let i = 0; i < v.length; i++) v[i] = 1 / (1 + Math.exp(-v[i]!));
      return;
    case 'tanh':
      for (let i = 0; i < v.length; i++) v[i] = Math.tanh(v[i]!);
      return;
    case 'softmax':
      for (let r = 0; r < v.length; r += channels) {
        let max = -Infinity;
        for (let c = 0; c < channels; c++) max = Math.max(max, v[r + c]!);
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += v[r + c] = Math.exp(v[r + c]! - max);
        for (let c = 0; c < channels; c++) v[r + c] = v[r + c]! / sum;
      }
      return;
    default: {
      // swish, hard sigmoid (both kinds), hard swish of a layer imported before such activations were split off.
      const f = activationFunction(activation);
      for (let i = 0; i < v.length; i++) v[i] = f(v[i]!);
    }
  }
}

/** Quantizes float values to the output grid: clamp(round(f32(v / s)) + zp, qmin, qmax). */
export function quantizeFloats(v: Float64Array, qp: ActQParams, round: (x: number) => number, out: Int32Array): void {
  for (let i = 0; i < v.length; i++) {
    const q = round(Math.fround(v[i]! / qp.scale)) + qp.zeroPoint;
    out[i] = q < qp.qmin ? qp.qmin : q > qp.qmax ? qp.qmax : q;
  }
}

/** Float epilogue (see the module comment): scratch has acc.length entries. */
export function floatEpilogue(acc: Int32Array, accScale: Float64Array, activation: Activation, qp: ActQParams, round: (x: number) => number, scratch: Float64Array, out: Int32Array): void {
  const channels = accScale.length;
  for (let i = 0, c = 0; i < acc.length; i++) {
    scratch[i] = acc[i]! * accScale[c]!;
    if (++c === channels) c = 0;
  }
  applyFloatActivation(scratch, channels, activation);
  quantizeFloats(scratch, qp, round, out);
}
