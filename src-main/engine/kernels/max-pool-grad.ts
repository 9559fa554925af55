/**
 * MaxPoolGrad for wasm, replacing the backend's own kernel, which is wrong
 * (tfjs-backend-wasm 4.22): in a window whose values are all negative it
 * routes the gradient to the wrong element, or drops it next to padding; it
 * is also a slow scalar loop. Windows that only see negatives are common when
 * pooling comes before the activation.
 *
 * Each window is laid out along a last axis and argMax picks its first
 * maximum, which is the element the cpu backend routes the gradient to (this
 * matters for ties: ReLU zeros, fake-quantised values).
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import { dilateSpatial, padOrCrop } from './geometry.js';

type PoolInfo = ReturnType<typeof tf.backend_util.computePool2DInfo>;

/** argMax as a float mask. oneHot is asked for int32: wasm's OneHot writes int32 bits whatever dtype it is given. */
function firstMaxMask(windows: tf.Tensor, size: number): tf.Tensor {
  return tf.cast(tf.oneHot(tf.argMax(windows, -1), size), 'float32');
}

/** Window == stride, no padding (2x2/2 and the like): windows are a reshape away. */
function tilingGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: PoolInfo): tf.Tensor4D {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw } = info;
  const usedH = ho * kh, usedW = wo * kw; // 'valid' may leave trailing rows/cols no window reads
  const xUsed = usedH === h && usedW === w ? x : tf.slice(x, [0, 0, 0, 0], [n, usedH, usedW, c]);
  const windows = tf.reshape(tf.transpose(tf.reshape(xUsed, [n, ho, kh, wo, kw, c]), [0, 1, 3, 5, 2, 4]), [n, ho, wo, c, kh * kw]);
  const routed = tf.mul(firstMaxMask(windows, kh * kw), tf.reshape(dy, [n, ho, wo, c, 1]));
  const dx = tf.reshape<tf.Rank.R4>(tf.transpose(tf.reshape(routed, [n, ho, wo, c, kh, kw]), [0, 1, 4, 2, 5, 3]), [n, usedH, usedW, c]);
  return padOrCrop(dx, [[0, h - usedH], [0, w - usedW]]);
}

/**
 * Any window, stride and padding: gather the kh*kw strided views of x padded
 * with -Infinity (padding never wins), pick the first max, and send each
 * view's share of dy back to where that view was read from.
 */
function generalGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: PoolInfo): tf.Tensor4D {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo,
    filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const spanH = (ho - 1) * sh + kh, spanW = (wo - 1) * sw + kw; // rows/cols the windows cover, padding included
  const [top, left] = [padInfo.top, padInfo.left];
  const [bottom, right] = [spanH - h - top, spanW - w - left];
  const fitted = tf.pad(
    tf.slice(x, [0, 0, 0, 0], [n, Math.min(h, h + bottom), Math.min(w, w + right), c]),
    [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]], -Infinity);
  const views: tf.Tensor4D[] = [];
  for (let dh = 0; dh < kh; dh++) {
    for (let dw = 0; dw < kw; dw++) {
      views.push(tf.stridedSlice(fitted, [0, dh, dw, 0], [n, dh + (ho - 1) * sh + 1, dw + (wo - 1) * sw + 1, c], [1, sh, sw, 1]) as tf.Tensor4D);
    }
  }
  const mask = kh * kw === 1 ? tf.expandDims(tf.onesLike(dy), 4) : firstMaxMask(tf.stack(views, 4), kh * kw);
  const shares = tf.unstack(tf.mul(mask, tf.expandDims(dy, 4)), 4) as tf.Tensor4D[];
  let dx: tf.Tensor4D = tf.zeros([n, h, w, c]);
  shares.forEach((share, k) => {
    const dh = Math.floor(k / kw), dw = k % kw;
    // The share for output (i, j) came from x row i*sh + dh - top, col j*sw + dw - left.
    const spread = dilateSpatial(share, sh, sw); // [n, ho*sh, wo*sw, c]
    const rowStart = dh - top, colStart = dw - left;
    dx = tf.add(dx, padOrCrop(spread, [[rowStart, h - rowStart - ho * sh], [colStart, w - colStart - wo * sw]]));
  });
  return dx;
}

export function maxPoolGradKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.MaxPoolGradAttrs;
  const { dy, input } = inputs as tf.MaxPoolGradInputs;
  if (dy === undefined || input === undefined) throw new Error('MaxPoolGrad needs dy and input');
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const tiling = kh === sh && kw === sw && kh * kw > 1 && padInfo.top + padInfo.bottom + padInfo.left + padInfo.right === 0;
  return composedOutput(b, () => {
    const x = asTensor<tf.Rank.R4>(input, b);
    const g = asTensor<tf.Rank.R4>(dy, b);
    return tiling ? tilingGrad(x, g, info) : generalGrad(x, g, info);
  });
}
