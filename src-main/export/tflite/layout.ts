/**
 * Kernels in TFLite's layouts and the axis their per-channel scales run on:
 *  - CONV_2D filter [out, kh, kw, in] (OHWI) from Keras [kh, kw, in, out]: quantized_dimension 0;
 *  - DEPTHWISE_CONV_2D filter [1, kh, kw, in·mult] from Keras [kh, kw, in, mult]
 *    (same memory order, output channel i·mult + m as in TF): quantized_dimension 3;
 *  - FULLY_CONNECTED weights [out, in] from Keras [in, out]: quantized_dimension 0.
 */
import type { WeightedNode } from '../../engine/graph/types.js';

export function tfliteKernelShape(n: WeightedNode): number[] {
  const s = n.weights.kernel.shape;
  if (n.op === 'conv2d') return [s[3]!, s[0]!, s[1]!, s[2]!];
  if (n.op === 'depthwiseConv2d') return [1, s[0]!, s[1]!, s[2]! * s[3]!];
  return [s[1]!, s[0]!];
}

/** The axis of the TFLite kernel holding the output channels (its quantized_dimension when per-channel). */
export function tfliteQuantizedDimension(op: WeightedNode['op']): number {
  return op === 'depthwiseConv2d' ? 3 : 0;
}

/** Kernel values (Keras layout, row-major) in the TFLite layout. */
export function toTfliteKernel<T extends Int32Array | Float32Array>(n: WeightedNode, v: T, make: (len: number) => T): T {
  const s = n.weights.kernel.shape;
  if (n.op === 'depthwiseConv2d') return v;
  const out = make(v.length);
  if (n.op === 'conv2d') {
    const [kh, kw, ci, co] = s as [number, number, number, number];
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let i = 0; i < ci; i++)
          for (let o = 0; o < co; o++) out[((o * kh + y) * kw + x) * ci + i] = v[((y * kw + x) * ci + i) * co + o]!;
    return out;
  }
  const [ni, no] = s as [number, number];
  for (let i = 0; i < ni; i++) for (let o = 0; o < no; o++) out[o * ni + i] = v[i * no + o]!;
  return out;
}
