/**
 * DepthwiseConv2dNativeBackpropFilter for wasm (missing from the backend).
 * dW[kh,kw,c,m] = sum over n,i,j of x[n, i*s+kh-pad, j*s+kw-pad, c] *
 * dy[n,i,j,c*M+m]. The channel index is shared by x and dy, so this is a
 * depthwise conv over channels (c,n) with dy as the filter and dilation =
 * stride, followed by a sum over n.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import { applySpatialPads, filterGradPads } from './geometry.js';
import { assertUnitDilation } from './depthwise-attrs.js';

export function depthwiseBackpropFilterKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const { x, dy } = inputs as tf.DepthwiseConv2dNativeBackpropFilterInputs;
  if (x === undefined || dy === undefined) throw new Error('DepthwiseConv2dNativeBackpropFilter needs x and dy');
  assertUnitDilation('DepthwiseConv2dNativeBackpropFilter', a.dilations);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, true);
  const { batchSize: n, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight: sh, strideWidth: sw,
    filterHeight: kh, filterWidth: kw } = info;
  const m = a.filterShape[3];
  return composedOutput(b, () => {
    const x4 = asTensor<tf.Rank.R4>(x, b);
    const dy4 = asTensor<tf.Rank.R4>(dy, b);
    // x as one image whose channels are (c, n).
    const xCN = tf.reshape<tf.Rank.R4>(tf.transpose(x4, [1, 2, 3, 0]), [1, inHeight, inWidth, c * n]);
    // dy as a [Ho, Wo, (c, n), m] depthwise filter.
    const dyCN = tf.reshape<tf.Rank.R4>(
      tf.transpose(tf.reshape(dy4, [n, outHeight, outWidth, c, m]), [1, 2, 3, 0, 4]),
      [outHeight, outWidth, c * n, m]);
    const padded = applySpatialPads(xCN, [
      filterGradPads(inHeight, outHeight, sh, kh, info.padInfo.top),
      filterGradPads(inWidth, outWidth, sw, kw, info.padInfo.left),
    ]);
    if (padded === null) return tf.zeros(a.filterShape);
    const perImage = tf.depthwiseConv2d(padded.x, dyCN, 1, padded.pad, 'NHWC', [sh, sw]); // [1, kh, kw, c*n*m]
    return tf.sum(tf.reshape(perImage, [kh, kw, c, n, m]), 3);
  });
}

export const depthwiseBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilterKernel,
};
