/**
 * Conv2DBackpropFilter for wasm (the backend ships none, so any conv2d weight
 * gradient throws there). dW[kh,kw,ci,co] = sum over n,i,j of
 * x[n, i*s+kh-pad, j*s+kw-pad, ci] * dy[n,i,j,co], which is itself a conv:
 * batch := ci, channels := n, filter := dy, dilation := stride. One XNNPACK
 * conv instead of a loop keeps QAT on wasm at interactive speed.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import { applySpatialPads, filterGradPads } from './geometry.js';

export function conv2DBackpropFilterKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const { x, dy } = inputs as tf.Conv2DBackpropFilterInputs;
  if (x === undefined || dy === undefined) throw new Error('Conv2DBackpropFilter needs x and dy');
  if (a.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight, outWidth, inHeight, inWidth } = info;
  return composedOutput(b, () => {
    const x4 = asTensor<tf.Rank.R4>(x, b);
    const dy4 = asTensor<tf.Rank.R4>(dy, b);
    const xT = tf.transpose(x4, [3, 1, 2, 0]); // [Cin, H, W, N]
    const dyT = tf.transpose(dy4, [1, 2, 0, 3]); // [Ho, Wo, N, Cout]
    const padded = applySpatialPads(xT, [
      filterGradPads(inHeight, outHeight, sh, kh, info.padInfo.top),
      filterGradPads(inWidth, outWidth, sw, kw, info.padInfo.left),
    ]);
    if (padded === null) return tf.zeros(a.filterShape);
    const dW = tf.conv2d(padded.x, dyT, 1, padded.pad, 'NHWC', [sh, sw]); // [Cin, kh, kw, Cout]
    return tf.transpose(dW, [1, 2, 0, 3]);
  });
}

export const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterKernel,
};
