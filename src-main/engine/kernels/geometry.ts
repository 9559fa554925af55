/**
 * Padding arithmetic shared by the gradient kernels. Transposed convolutions
 * need per-side paddings that can come out negative (rows the forward conv
 * never read); those are cropped, the rest is handed to the conv as explicit
 * padding.
 */
import { tf } from '../tfjs.js';

/** [[top, bottom], [left, right]]; any entry may be negative. */
export type SpatialPads = [[number, number], [number, number]];

export type ExplicitPads = [[0, 0], [number, number], [number, number], [0, 0]];

/** Slices off the negative sides of `pads`; null when nothing of x is left. Returns what remains to pad. */
function cropNegative(x: tf.Tensor4D, pads: SpatialPads): { x: tf.Tensor4D; pads: SpatialPads } | null {
  const [[top, bottom], [left, right]] = pads;
  const [n, h, w, c] = x.shape;
  const cropTop = Math.max(0, -top), cropLeft = Math.max(0, -left);
  const keepH = h - cropTop - Math.max(0, -bottom), keepW = w - cropLeft - Math.max(0, -right);
  if (keepH <= 0 || keepW <= 0) return null;
  const cropped = keepH === h && keepW === w ? x : tf.slice(x, [0, cropTop, cropLeft, 0], [n, keepH, keepW, c]);
  const nonNeg = (v: number) => Math.max(0, v);
  return { x: cropped, pads: [[nonNeg(top), nonNeg(bottom)], [nonNeg(left), nonNeg(right)]] };
}

/**
 * Crops the negative sides of `pads` off x (NHWC) and returns the rest as conv
 * padding. Null when the crop leaves nothing: every output then reads only
 * padding (possible with explicit pads and stride 2), so the gradient is zero.
 */
export function applySpatialPads(x: tf.Tensor4D, pads: SpatialPads): { x: tf.Tensor4D; pad: ExplicitPads | 'valid' } | null {
  const cropped = cropNegative(x, pads);
  if (!cropped) return null;
  const [[t, b], [l, r]] = cropped.pads;
  return { x: cropped.x, pad: t + b + l + r === 0 ? 'valid' : [[0, 0], [t, b], [l, r], [0, 0]] };
}

/**
 * Inserts stride - 1 zeros after every element along H and W, turning the
 * output gradient of a strided conv into that of a stride-1 conv. The result
 * has Ho*sh rows (the trailing zeros are trimmed by the caller's padding).
 */
export function dilateSpatial(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return tf.reshape(spread, [n, h * sh, w * sw, c]);
}

/**
 * Paddings for the input gradient: a stride-1 correlation of the dilated dy
 * (length out*stride) with the flipped filter that yields exactly `inSize` values.
 */
export function inputGradPads(inSize: number, outSize: number, stride: number, filterSize: number, padBefore: number): [number, number] {
  const before = filterSize - 1 - padBefore;
  const after = inSize + filterSize - 1 - before - outSize * stride;
  return [before, after];
}

/**
 * Paddings for the filter gradient: a correlation of x with dy dilated by the
 * stride (effective size (out-1)*stride+1) that yields exactly `filterSize` values.
 */
export function filterGradPads(inSize: number, outSize: number, stride: number, filterSize: number, padBefore: number): [number, number] {
  return [padBefore, filterSize - 1 + (outSize - 1) * stride + 1 - inSize - padBefore];
}

/** Zero-pads (positive entries) and crops (negative entries) x along H and W. */
export function padOrCrop(x: tf.Tensor4D, pads: SpatialPads): tf.Tensor4D {
  const cropped = cropNegative(x, pads);
  if (!cropped) {
    const [n, h, w, c] = x.shape;
    const [[top, bottom], [left, right]] = pads;
    return tf.zeros([n, Math.max(0, h + top + bottom), Math.max(0, w + left + right), c]);
  }
  const [[t, b], [l, r]] = cropped.pads;
  return t + b + l + r === 0 ? cropped.x : tf.pad(cropped.x, [[0, 0], [t, b], [l, r], [0, 0]]);
}
