/**
 * Integer pooling, as TFLite's reference_integer_ops do. Input and output
 * share scale and zero point (the plan passes the range through):
 *  - MAX_POOL_2D: the largest stored value of the window (taps inside the
 *    input only: TF's 'same' padding never wins a max);
 *  - AVERAGE_POOL_2D: the sum of the stored values of the window's in-range
 *    taps divided by their count, rounded half away from zero as the
 *    reference does with C's truncating division:
 *    acc > 0 ? (acc + n/2) / n : (acc − n/2) / n;
 *  - MEAN over H and W (GlobalAveragePooling2D with keepdims) as
 *    reference_integer_ops::Mean computes it: Σ (q − zp_in), then
 *    MultiplyByQuantizedMultiplier by s_in / s_out, then the same rounded
 *    division by H·W, plus zp_out (spatialMean);
 *  - the same MEAN as XNNPACK's int8 global average pooling computes it, which
 *    the TFLite interpreter of @tensorflow/tfjs-tflite runs MEAN through
 *    (measured bit for bit on random tensors): in float32,
 *    round_half_even(Σ(q − zp_in) · f32(s_in / f32(s_out · H·W))) + zp_out
 *    (xnnpackMean).
 * Without keepdims a TFLite file holds AVERAGE_POOL_2D (then RESHAPE): avgPool.
 */
import { multiplyByQuantizedMultiplier, type QuantizedMultiplier, type RequantRounding } from './fixed-point.js';
import type { ConvGeometry } from './conv.js';

/** C's int division (truncates toward zero) of TFLite's rounded average. */
function roundedDivide(acc: number, n: number): number {
  const half = Math.trunc(n / 2);
  return Math.trunc(acc > 0 ? (acc + half) / n : (acc - half) / n);
}

export function maxPool(g: ConvGeometry, x: Int32Array, min: number, max: number, out: Int32Array): void {
  const { inH, inW, inC, outH, outW, kh, kw } = g;
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * g.strideH - g.padTop;
    const yStart = Math.max(0, -y0);
    const yEnd = Math.min(kh, inH - y0);
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * g.strideW - g.padLeft;
      const xStart = Math.max(0, -x0);
      const xEnd = Math.min(kw, inW - x0);
      const o0 = (oy * outW + ox) * inC;
      for (let c = 0; c < inC; c++) {
        let best = -Infinity;
        for (let fy = yStart; fy < yEnd; fy++) {
          for (let fx = xStart; fx < xEnd; fx++) {
            const v = x[((y0 + fy) * inW + x0 + fx) * inC + c]!;
            if (v > best) best = v;
          }
        }
        out[o0 + c] = best < min ? min : best > max ? max : best;
      }
    }
  }
}

export function avgPool(g: ConvGeometry, x: Int32Array, min: number, max: number, out: Int32Array): void {
  const { inH, inW, inC, outH, outW, kh, kw } = g;
  for (let oy = 0; oy < outH; oy++) {
    const y0 = oy * g.strideH - g.padTop;
    const yStart = Math.max(0, -y0);
    const yEnd = Math.min(kh, inH - y0);
    for (let ox = 0; ox < outW; ox++) {
      const x0 = ox * g.strideW - g.padLeft;
      const xStart = Math.max(0, -x0);
      const xEnd = Math.min(kw, inW - x0);
      const n = (yEnd - yStart) * (xEnd - xStart);
      const o0 = (oy * outW + ox) * inC;
      for (let c = 0; c < inC; c++) {
        let acc = 0;
        for (let fy = yStart; fy < yEnd; fy++) {
          for (let fx = xStart; fx < xEnd; fx++) acc += x[((y0 + fy) * inW + x0 + fx) * inC + c]!;
        }
        const q = roundedDivide(acc, n);
        out[o0 + c] = q < min ? min : q > max ? max : q;
      }
    }
  }
}

/** MEAN over the spatial axes of an [h, w, c] tensor into c values. */
export function spatialMean(h: number, w: number, c: number, x: Int32Array, zpIn: number, m: QuantizedMultiplier, zpOut: number, min: number, max: number, rounding: RequantRounding, out: Int32Array): void {
  const n = h * w;
  for (let ch = 0; ch < c; ch++) {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += x[i * c + ch]! - zpIn;
    const q = roundedDivide(multiplyByQuantizedMultiplier(acc, m.multiplier, m.shift, rounding), n) + zpOut;
    out[ch] = q < min ? min : q > max ? max : q;
  }
}

/** XNNPACK's int8 global average pooling over an [h, w, c] tensor (see the module comment); `scale` = f32(s_in / f32(s_out·h·w)). */
export function xnnpackMean(h: number, w: number, c: number, x: Int32Array, zpIn: number, scale: number, zpOut: number, min: number, max: number, out: Int32Array): void {
  const n = h * w;
  for (let ch = 0; ch < c; ch++) {
    let acc = -n * zpIn;
    for (let i = 0; i < n; i++) acc += x[i * c + ch]!;
    const v = Math.fround(acc * scale);
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2 !== 0) r--;
    const q = r + zpOut;
    out[ch] = q < min ? min : q > max ? max : q;
  }
}

/** The float32 scale of xnnpackMean. */
export function xnnpackMeanScale(sIn: number, sOut: number, n: number): number {
  return Math.fround(sIn / Math.fround(sOut * n));
}
