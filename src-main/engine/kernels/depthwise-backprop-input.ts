/**
 * DepthwiseConv2dNativeBackpropInput for wasm (missing from the backend).
 * The transpose of a strided depthwise conv: spread dy by the stride, then a
 * stride-1 depthwise conv with the filter rotated 180 degrees, one channel per
 * (c, m); the channel multiplier's M contributions are summed back into c.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import { applySpatialPads, dilateSpatial, inputGradPads } from './geometry.js';
import { assertUnitDilation } from './depthwise-attrs.js';

export function depthwiseBackpropInputKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const { dy, filter } = inputs as tf.DepthwiseConv2dNativeBackpropInputInputs;
  if (dy === undefined || filter === undefined) throw new Error('DepthwiseConv2dNativeBackpropInput needs dy and filter');
  assertUnitDilation('DepthwiseConv2dNativeBackpropInput', a.dilations);
  const filterShape = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(a.inputShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode, true);
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight: sh, strideWidth: sw,
    filterHeight: kh, filterWidth: kw } = info;
  const m = filterShape[3];
  return composedOutput(b, () => {
    const dy4 = asTensor<tf.Rank.R4>(dy, b);
    const w4 = asTensor<tf.Rank.R4>(filter, b);
    const rotated = tf.reshape<tf.Rank.R4>(tf.reverse(w4, [0, 1]), [kh, kw, c * m, 1]);
    const padded = applySpatialPads(dilateSpatial(dy4, sh, sw), [
      inputGradPads(inHeight, outHeight, sh, kh, info.padInfo.top),
      inputGradPads(inWidth, outWidth, sw, kw, info.padInfo.left),
    ]);
    if (padded === null) return tf.zeros(a.inputShape);
    const perMultiplier = tf.depthwiseConv2d(padded.x, rotated, 1, padded.pad); // [N, H, W, c*m]
    return m === 1 ? perMultiplier : tf.sum(tf.reshape(perMultiplier, [n, inHeight, inWidth, c, m]), 4);
  });
}

export const depthwiseBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInputKernel,
};
