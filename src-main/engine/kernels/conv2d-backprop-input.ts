/**
 * Conv2DBackpropInput for wasm. The backend has one, but it is a scalar loop
 * (~10x slower than XNNPACK here, the largest cost of a QAT step). The input
 * gradient is the transposed conv: spread dy by the stride, then a stride-1
 * conv with the filter rotated 180 degrees and its in/out channels swapped.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import { applySpatialPads, dilateSpatial, inputGradPads } from './geometry.js';
import type { NativeKernelFunc } from './override.js';

export function conv2DBackpropInputKernel(
  { inputs, backend, attrs }: KernelArgs,
  native?: NativeKernelFunc,
): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { dy, filter } = inputs as tf.Conv2DBackpropInputInputs;
  if (dy === undefined || filter === undefined) throw new Error('Conv2DBackpropInput needs dy and filter');
  if (a.dataFormat === 'NCHW') {
    if (!native) throw new Error('wasm Conv2DBackpropInput supports NHWC only');
    return native({ inputs, backend, attrs }) as tf.TensorInfo;
  }
  const info = tf.backend_util.computeConv2DInfo(
    a.inputShape, filter.shape as [number, number, number, number], a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const { inHeight, inWidth, outHeight, outWidth, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  return composedOutput(b, () => {
    const dy4 = asTensor<tf.Rank.R4>(dy, b);
    const w4 = asTensor<tf.Rank.R4>(filter, b);
    const rotated = tf.transpose(tf.reverse(w4, [0, 1]), [0, 1, 3, 2]); // [kh, kw, Cout, Cin]
    const padded = applySpatialPads(dilateSpatial(dy4, sh, sw), [
      inputGradPads(inHeight, outHeight, sh, kh, info.padInfo.top),
      inputGradPads(inWidth, outWidth, sw, kw, info.padInfo.left),
    ]);
    if (padded === null) return tf.zeros(a.inputShape);
    return tf.conv2d(padded.x, rotated, 1, padded.pad);
  });
}
