/**
 * Element-wise integer ops, after TFLite's int8 kernels (the other
 * activations are in activations.ts, MUL and broadcasting in binary.ts):
 *
 *  - ADD (kernels/add.cc Prepare, reference_integer_ops/add.h): left_shift = 20;
 *    with s_max2 = 2·max(s_a, s_b), each input is rescaled by
 *    QuantizeMultiplier(s_i / s_max2) after (q_i − zp_i)·2^20, the sum by
 *    QuantizeMultiplier(s_max2 / (2^20 · s_out)), then + zp_out and the fused
 *    activation's clamp. Keras Add of more than two inputs uses the same
 *    scheme with the maximum over all inputs (TFLite would chain ADDs).
 *  - CONCATENATION: inputs with the output's scale and zero point are
 *    copied; others are rescaled as the reference ConcatenationWithScaling:
 *    round_half_away(q · s_i/s_out − zp_i · s_i/s_out) + zp_out in float32.
 *  - a standalone ReLU / ReLU6 / linear with its own quantizer (TFLite's
 *    int8 RELU / RELU6): clamp(MBQM(q − zp_in, s_in / s_out) + zp_out, act range).
 *  - a standalone softmax: in float on the dequantized values, then
 *    quantized (not TFLite's fixed-point softmax; see requantize.ts).
 */
import type { Activation } from '../graph/types.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier, type QuantizedMultiplier, type RequantRounding } from './fixed-point.js';
import { applyFloatActivation, quantizeFloats } from './requantize.js';
import type { ActQParams } from './tensor.js';
import { roundHalfAway } from './fixed-point.js';

export const ADD_LEFT_SHIFT = 20;

export interface AddParams {
  inputs: { zeroPoint: number; m: QuantizedMultiplier }[];
  output: QuantizedMultiplier;
  zeroPoint: number;
  min: number;
  max: number;
  rounding: RequantRounding;
}

/** The fixed-point parameters of an int8 ADD (see the module comment). */
export function addParams(inputs: readonly ActQParams[], out: ActQParams, min: number, max: number, rounding: RequantRounding): AddParams {
  const twiceMax = 2 * Math.max(...inputs.map((q) => q.scale));
  return {
    inputs: inputs.map((q) => ({ zeroPoint: q.zeroPoint, m: quantizeMultiplier(q.scale / twiceMax, rounding) })),
    output: quantizeMultiplier(twiceMax / (2 ** ADD_LEFT_SHIFT * out.scale), rounding),
    zeroPoint: out.zeroPoint,
    min,
    max,
    rounding,
  };
}

export function addInt(p: AddParams, xs: readonly Int32Array[], out: Int32Array): void {
  const { rounding } = p;
  const scaleUp = 2 ** ADD_LEFT_SHIFT;
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (let k = 0; k < xs.length; k++) {
      const a = p.inputs[k]!;
      sum += multiplyByQuantizedMultiplier((xs[k]![i]! - a.zeroPoint) * scaleUp, a.m.multiplier, a.m.shift, rounding);
    }
    const q = multiplyByQuantizedMultiplier(sum | 0, p.output.multiplier, p.output.shift, rounding) + p.zeroPoint;
    out[i] = q < p.min ? p.min : q > p.max ? p.max : q;
  }
}

/**
 * Concatenation of [outer, dim_k, inner] blocks along the middle axis: each
 * input contributes dim_k·inner values per outer index.
 */
export function concatInt(outer: number, chunks: readonly number[], xs: readonly Int32Array[], qs: readonly ActQParams[], out: ActQParams, dst: Int32Array): void {
  const inv = Math.fround(1 / out.scale);
  let total = 0;
  for (const c of chunks) total += c;
  let at = 0;
  for (let k = 0; k < xs.length; k++) {
    const x = xs[k]!;
    const q = qs[k]!;
    const chunk = chunks[k]!;
    const same = q.scale === out.scale && q.zeroPoint === out.zeroPoint;
    const scale = Math.fround(q.scale * inv);
    const bias = Math.fround(-q.zeroPoint * scale);
    for (let o = 0; o < outer; o++) {
      const src = o * chunk;
      const d = o * total + at;
      if (same) {
        dst.set(x.subarray(src, src + chunk), d);
        continue;
      }
      for (let j = 0; j < chunk; j++) {
        const v = roundHalfAway(Math.fround(Math.fround(x[src + j]! * scale) + bias)) + out.zeroPoint;
        dst[d + j] = v < out.qmin ? out.qmin : v > out.qmax ? out.qmax : v;
      }
    }
    at += chunk;
  }
}

export interface RescaleParams {
  zpIn: number;
  m: QuantizedMultiplier;
  zpOut: number;
  min: number;
  max: number;
  rounding: RequantRounding;
}

/** A standalone ReLU / ReLU6 / identity with its own output range. */
export function rescaleClamp(p: RescaleParams, x: Int32Array, out: Int32Array): void {
  for (let i = 0; i < out.length; i++) {
    const q = multiplyByQuantizedMultiplier(x[i]! - p.zpIn, p.m.multiplier, p.m.shift, p.rounding) + p.zpOut;
    out[i] = q < p.min ? p.min : q > p.max ? p.max : q;
  }
}

/** Softmax (over rows of `channels`) in float on dequantized values, quantized to `qout`. */
export function floatActivation(activation: Activation, channels: number, x: Int32Array, qin: ActQParams, qout: ActQParams, round: (v: number) => number, scratch: Float64Array, out: Int32Array): void {
  for (let i = 0; i < x.length; i++) scratch[i] = (x[i]! - qin.zeroPoint) * qin.scale;
  applyFloatActivation(scratch, channels, activation);
  quantizeFloats(scratch, qout, round, out);
}
