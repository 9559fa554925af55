/**
 * Quantized activation tensors of the integer reference: int32 storage of
 * int8 / uint8 values (any grid of at most 8 bits) with one scale and zero
 * point, and the float ↔ integer conversions at the model's edges.
 *
 * Domain: TFLite stores every activation as int8 (TF's unsigned-domain zero
 * point − 2^(bits−1)); the ONNX export stores asymmetric activations as uint8.
 * The arithmetic of every kernel is the same in both (it works on q − zp),
 * except the rounding of AVERAGE_POOL_2D, which averages the stored values.
 */
import { integerQParams, type QParams } from '../quant/qparams.js';
import { roundHalfAway } from './fixed-point.js';

export type ActivationDomain = 'signed' | 'unsigned';
/** How a float is rounded where the model quantizes one: TFLite's QUANTIZE (half away) or ONNX QuantizeLinear (half even). */
export type QuantizeRounding = 'half-away' | 'half-even';

export interface ActQParams {
  /** Activation quantizer name, for errors. */
  name: string;
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/** A per-sample activation buffer (shape without the batch axis, NHWC). */
export interface QTensor {
  data: Int32Array;
  shape: number[];
  qp: ActQParams;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A per-tensor activation quantizer's grid in `domain`. */
export function actQParams(name: string, qp: QParams, domain: ActivationDomain): ActQParams {
  const iq = integerQParams(qp, domain);
  return { name, scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]!, qmin: iq.qmin, qmax: iq.qmax };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function rounder(mode: QuantizeRounding): (v: number) => number {
  return mode === 'half-even' ? roundHalfEven : roundHalfAway;
}

/**
 * q = clamp(round(f32(x / scale)) + zp, qmin, qmax), TFLite's QUANTIZE (the
 * quotient in float32 as the kernels compute it); with `inverse`,
 * round(f32(x · f32(1 / scale))), as XNNPACK's float → int8 conversion
 * (which the TFLite interpreter of @tensorflow/tfjs-tflite runs QUANTIZE
 * through) computes it.
 */
export function quantizeInto(src: ArrayLike<number>, offset: number, out: Int32Array, qp: ActQParams, round: (v: number) => number, inverse = false): void {
  const { scale, zeroPoint, qmin, qmax } = qp;
  const inv = Math.fround(1 / scale);
  for (let i = 0; i < out.length; i++) {
    const x = src[offset + i]!;
    const q = round(Math.fround(inverse ? x * inv : x / scale)) + zeroPoint;
    out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
  }
}

/** x = (q − zp) · scale, TFLite's DEQUANTIZE / ONNX DequantizeLinear (float32). */
export function dequantizeInto(q: Int32Array, qp: ActQParams, out: Float32Array, offset: number): void {
  for (let i = 0; i < q.length; i++) out[offset + i] = Math.fround((q[i]! - qp.zeroPoint) * qp.scale);
}

/** Quantize one float the way the ops' range computations do (CalculateActivationRangeQuantized): zp + round_half_away(f32(f / scale)). */
export function quantizeScalar(f: number, qp: ActQParams): number {
  return qp.zeroPoint + roundHalfAway(Math.fround(f / qp.scale));
}
