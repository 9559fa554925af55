/**
 * Helpers over the user-facing {@link QuantSpec}: named presets, the default
 * channel axis of each weight kind, the depthwise channel view, and axis
 * validation / channel layout shared by observers, fake quant and metrics.
 *
 * Layouts are Keras / TF.js: Dense kernel `[in, out]`, Conv2D kernel
 * `[kh, kw, in, out]`, DepthwiseConv2D kernel `[kh, kw, in, multiplier]`,
 * activations NHWC.
 */
import { QuantSpec } from '../../api/run-config.js';

/** 8-bit asymmetric per-tensor, full range: tfmot's default activation scheme (uint8). */
export const perTensorAsymmetricActivations8: QuantSpec = Object.freeze({
  bits: 8,
  symmetric: false,
  narrowRange: false,
  granularity: 'per-tensor',
});

/** Asymmetric per-tensor activations of any width. */
export function perTensorAsymmetricActivations(bits = 8): QuantSpec {
  return QuantSpec.parse({ bits, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
}

/**
 * Symmetric, narrow-range, per-channel weights: tfmot's / TFLite's default
 * weight scheme (int8 `[−127, 127]`, zero point 0, one scale per output channel).
 * Leave `axis` out to use the layer kind's default ({@link defaultChannelAxis}).
 */
export function perChannelSymmetricWeights(bits = 8, axis?: number): QuantSpec {
  return QuantSpec.parse({ bits, symmetric: true, narrowRange: true, granularity: 'per-channel', ...(axis !== undefined ? { axis } : {}) });
}

/** Symmetric, narrow-range, one scale for the whole kernel. */
export function perTensorSymmetricWeights(bits = 8): QuantSpec {
  return QuantSpec.parse({ bits, symmetric: true, narrowRange: true, granularity: 'per-tensor' });
}

/** Parses / validates a spec from JSON (the spec is already plain JSON, so `toConfig` is the identity). */
export function specFromConfig(json: unknown): QuantSpec {
  return QuantSpec.parse(json);
}

export function specEquals(a: QuantSpec, b: QuantSpec): boolean {
  return a.bits === b.bits && a.symmetric === b.symmetric && a.narrowRange === b.narrowRange && a.granularity === b.granularity && a.axis === b.axis;
}

export type WeightKind = 'dense' | 'conv2d' | 'depthwiseConv2d';

/**
 * Output-channel axis of a kernel in the layout it is quantized in:
 * Dense `[in, out]` → 1; Conv2D `[kh, kw, in, out]` → 3; DepthwiseConv2D → 2 of
 * its channel view `[kh, kw, in·mult]` (depthwiseChannelShape), since
 * each of the in·mult output channels has its own filter.
 */
export function defaultChannelAxis(kind: WeightKind): number {
  switch (kind) {
    case 'dense':
      return 1;
    case 'conv2d':
      return 3;
    case 'depthwiseConv2d':
      return 2;
  }
}

/** `[kh, kw, in, mult]` → `[kh, kw, in·mult]`. A reshape: channel `i·mult + m` is TF's output channel order. */
export function depthwiseChannelShape(shape: readonly number[]): [number, number, number] {
  if (shape.length !== 4) throw new Error(`depthwise kernel must be [kh,kw,in,mult], got [${shape.join(',')}]`);
  return [shape[0]!, shape[1]!, shape[2]! * shape[3]!];
}

/** Inverse of {@link depthwiseChannelShape}. */
export function depthwiseKernelShape(viewShape: readonly number[], inChannels: number): [number, number, number, number] {
  if (viewShape.length !== 3 || viewShape[2]! % inChannels !== 0) {
    throw new Error(`cannot split channel view [${viewShape.join(',')}] into ${inChannels} input channels`);
  }
  return [viewShape[0]!, viewShape[1]!, inChannels, viewShape[2]! / inChannels];
}

/** What an axis belongs to, for error messages. */
export interface AxisContext {
  /** e.g. `kernel`, `activation`; default `tensor`. */
  tensor?: string;
  layer?: string;
}

/**
 * Checks a per-channel axis against a shape and returns it non-negative
 * (negative axes count from the end, as in TF).
 *
 * @throws e.g. "per-channel axis 4 does not exist for kernel of shape [3,3,1,32] of layer conv2d_1"
 */
export function validateChannelAxis(axis: number, shape: readonly number[], ctx: AxisContext = {}): number {
  const rank = shape.length;
  if (!Number.isInteger(axis) || axis >= rank || axis < -rank) {
    const layer = ctx.layer ? ` of layer ${ctx.layer}` : '';
    throw new Error(`per-channel axis ${axis} does not exist for ${ctx.tensor ?? 'tensor'} of shape [${shape.join(',')}]${layer}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Row-major view `[outer, channels, inner]` of a tensor around its channel axis
 * (undefined axis = per-tensor: channels 1, everything in `inner`). Element
 * `(o, c, i)` sits at flat index `(o·channels + c)·inner + i`.
 */
export interface ChannelLayout {
  outer: number;
  channels: number;
  inner: number;
}

export function channelLayout(shape: readonly number[], axis: number | undefined): ChannelLayout {
  const size = shape.reduce((a, b) => a * b, 1);
  if (axis === undefined) return { outer: 1, channels: 1, inner: size };
  const a = validateChannelAxis(axis, shape);
  let outer = 1;
  for (let i = 0; i < a; i++) outer *= shape[i]!;
  let inner = 1;
  for (let i = a + 1; i < shape.length; i++) inner *= shape[i]!;
  return { outer, channels: shape[a]!, inner };
}

/** Shape that broadcasts a length-C vector along `axis` of a rank-`rank` tensor: ones except C at axis. */
export function channelBroadcastShape(rank: number, axis: number, channels: number): number[] {
  const s = new Array<number>(rank).fill(1);
  s[axis] = channels;
  return s;
}
