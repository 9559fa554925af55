/**
 * Binary integer ops with broadcasting, after TFLite's int8 kernels:
 *
 *  - MUL (mul.cc Prepare, reference_integer_ops::Mul / BroadcastMul4DSlow):
 *    clamp(MultiplyByQuantizedMultiplier((q1 − zp1)·(q2 − zp2), M) + zp_out,
 *    act range) with M = QuantizeMultiplier(s1·s2 / s_out), the real value
 *    computed in float32 as Prepare does (float operands). With the XNNPACK
 *    form (XNNPACK's qs8 vmul, which tfjs-tflite's interpreter runs MUL
 *    through, measured on ties): round_half_even(f32((q1 − zp1)·(q2 − zp2) ·
 *    f32(s1·s2 / s_out))) + zp_out: the same value, with halves going to even
 *    instead of up;
 *  - ADD of two tensors of different shapes (a constant operand): the
 *    left-shift-20 scheme of elementwise.ts' addParams, element by element.
 *    In the XNNPACK form (XNNPACK's qs8 vadd, which tfjs-tflite's
 *    interpreter runs ADD through; measured bit for bit): with
 *    r_i = f32(s_i / s_out) and shift = 20 − floor(log2 max r_i), integer
 *    multipliers m_i = round_half_even(r_i·2^shift), and
 *    q_out = floor((2^(shift−1) + Σ m_i·(q_i − zp_i)) / 2^shift) + zp_out.
 *
 * Broadcasting is Keras's (Multiply: a lower-rank input gets unit axes after
 * the batch axis), then NumPy's; with the batch of 1 TFLite runs, that is
 * TFLite's right-aligned broadcasting. Shapes here have no batch axis; each
 * input's index of every output element is computed once (broadcastIndex).
 */
import { multiplyByQuantizedMultiplier, quantizeMultiplier, type QuantizedMultiplier, type RequantRounding } from './fixed-point.js';
import type { AddParams } from './elementwise.js';
import { ADD_LEFT_SHIFT } from './elementwise.js';
import type { ActQParams } from './tensor.js';

/** The output shape of inputs broadcast as Keras's Multiply does (no batch axis), or null when they do not broadcast. */
export function broadcastShape(shapes: readonly (readonly number[])[]): number[] | null {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const padded = [...new Array<number>(rank - s.length).fill(1), ...s];
    for (let d = 0; d < rank; d++) {
      const v = padded[d]!;
      if (v === out[d] || v === 1) continue;
      if (out[d] !== 1) return null;
      out[d] = v;
    }
  }
  return out;
}

/** For each element of `outShape` (row-major), the flat index of the element of `inShape` it reads (unit axes inserted before). */
export function broadcastIndex(outShape: readonly number[], inShape: readonly number[]): Int32Array {
  const rank = outShape.length;
  const padded = [...new Array<number>(rank - inShape.length).fill(1), ...inShape];
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 ? 0 : stride;
    stride *= padded[d]!;
  }
  const size = outShape.reduce((a, b) => a * b, 1);
  const index = new Int32Array(size);
  const at = new Array<number>(rank).fill(0);
  let flat = 0;
  for (let i = 0; i < size; i++) {
    index[i] = flat;
    for (let d = rank - 1; d >= 0; d--) {
      at[d]!++;
      flat += strides[d]!;
      if (at[d]! < outShape[d]!) break;
      flat -= strides[d]! * at[d]!;
      at[d] = 0;
    }
  }
  return index;
}

export interface MulParams {
  zp1: number;
  zp2: number;
  zpOut: number;
  m: QuantizedMultiplier;
  /** The real multiplier in float32; set for the XNNPACK form. */
  fp32Scale: number | null;
  min: number;
  max: number;
  rounding: RequantRounding;
}

export function mulParams(q1: { scale: number; zeroPoint: number }, q2: { scale: number; zeroPoint: number }, out: ActQParams, min: number, max: number, rounding: RequantRounding, xnnpack = false): MulParams {
  const real = Math.fround(Math.fround(q1.scale * q2.scale) / out.scale);
  return { zp1: q1.zeroPoint, zp2: q2.zeroPoint, zpOut: out.zeroPoint, m: quantizeMultiplier(real, rounding), fp32Scale: xnnpack ? real : null, min, max, rounding };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** out[i] = MUL(a[ia[i]], b[ib[i]]); `ia` / `ib` null when that input has the output's shape. */
export function mulInt(p: MulParams, a: Int32Array, ia: Int32Array | null, b: Int32Array, ib: Int32Array | null, out: Int32Array): void {
  const { zp1, zp2, zpOut, min, max, rounding, fp32Scale } = p;
  const { multiplier, shift } = p.m;
  for (let i = 0; i < out.length; i++) {
    const prod = (a[ia ? ia[i]! : i]! - zp1) * (b[ib ? ib[i]! : i]! - zp2);
    const q = (fp32Scale === null ? multiplyByQuantizedMultiplier(prod, multiplier, shift, rounding) : roundHalfEven(Math.fround(prod * fp32Scale))) + zpOut;
    out[i] = q < min ? min : q > max ? max : q;
  }
}

/** ADD of two inputs read through broadcast indices (elementwise.ts' addParams for the two). */
export function addBroadcastInt(p: AddParams, a: Int32Array, ia: Int32Array | null, b: Int32Array, ib: Int32Array | null, out: Int32Array): void {
  const [pa, pb] = p.inputs as [AddParams['inputs'][number], AddParams['inputs'][number]];
  const scaleUp = 2 ** ADD_LEFT_SHIFT;
  const { rounding } = p;
  for (let i = 0; i < out.length; i++) {
    const sa = multiplyByQuantizedMultiplier((a[ia ? ia[i]! : i]! - pa.zeroPoint) * scaleUp, pa.m.multiplier, pa.m.shift, rounding);
    const sb = multiplyByQuantizedMultiplier((b[ib ? ib[i]! : i]! - pb.zeroPoint) * scaleUp, pb.m.multiplier, pb.m.shift, rounding);
    const q = multiplyByQuantizedMultiplier((sa + sb) | 0, p.output.multiplier, p.output.shift, rounding) + p.zeroPoint;
    out[i] = q < p.min ? p.min : q > p.max ? p.max : q;
  }
}

export interface XnnpackAddParams {
  zpA: number;
  zpB: number;
  mA: number;
  mB: number;
  shift: number;
  zpOut: number;
  min: number;
  max: number;
}

export function xnnpackAddParams(a: { scale: number; zeroPoint: number }, b: { scale: number; zeroPoint: number }, out: ActQParams, min: number, max: number): XnnpackAddParams {
  const ra = Math.fround(a.scale / out.scale);
  const rb = Math.fround(b.scale / out.scale);
  const top = Math.max(ra, rb);
  let e = Math.floor(Math.log2(top));
  if (2 ** e > top) e--;
  if (2 ** (e + 1) <= top) e++;
  const shift = 20 - e;
  return { zpA: a.zeroPoint, zpB: b.zeroPoint, mA: roundHalfEven(ra * 2 ** shift), mB: roundHalfEven(rb * 2 ** shift), shift, zpOut: out.zeroPoint, min, max };
}

/** ADD in the XNNPACK form (see the module comment); `ia` / `ib` as for mulInt. */
export function xnnpackAddInt(p: XnnpackAddParams, a: Int32Array, ia: Int32Array | null, b: Int32Array, ib: Int32Array | null, out: Int32Array): void {
  const half = 2 ** (p.shift - 1);
  const div = 2 ** p.shift;
  for (let i = 0; i < out.length; i++) {
    const acc = half + p.mA * (a[ia ? ia[i]! : i]! - p.zpA) + p.mB * (b[ib ? ib[i]! : i]! - p.zpB);
    const q = Math.floor(acc / div) + p.zpOut;
    out[i] = q < p.min ? p.min : q > p.max ? p.max : q;
  }
}
