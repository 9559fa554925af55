/**
 * Scale and zero point, computed exactly as TensorFlow's
 * `FakeQuantWithMinMaxVars` / `FakeQuantWithMinMaxVarsPerChannel` kernels do
 * (tensorflow/core/kernels/fake_quant_ops_functor.h, `Nudge`), after the range
 * adjustments tfmot's quantizers apply before calling them (quant_ops.py).
 *
 * For one channel, with `quant_min = narrowRange ? 1 : 0` and
 * `quant_max = 2^bits − 1`:
 *
 * 1. Range adjustment (tfmot, "TFLite requires 0 in [min; max]"):
 *    - asymmetric: `min = min(min, 0)`, `max = max(max, 0)`.
 *    - symmetric, narrow range: `a = max(|min|, |max|)`, range `[−a, a]`.
 *      Then `scale = 2a / (2^bits − 2)` and the zero point is exactly
 *      `2^(bits−1)`, so the signed form is `[−(2^(bits−1) − 1), 2^(bits−1) − 1]`
 *      with zero point 0 — int8 `[−127, 127]`, the TFLite weight scheme.
 *    - symmetric, full range: tfmot's two's-complement ratio
 *      `r = −(2^bits − 2) / 2^bits` (8 bits: −127/128):
 *      `min = min(min, max / r)`, `max = max(max, min · r)`, i.e. the range is
 *      `[−2^(bits−1)·s, (2^(bits−1) − 1)·s]` with `s = max(|min| / 2^(bits−1),
 *      max / (2^(bits−1) − 1))` — int8 `[−128, 127]` with zero point 0. (A plain
 *      `[−a, a]` here would put the zero point at 127.5, which float32 rounding
 *      may send either way; the ratio keeps it an integer.)
 * 2. Degenerate ranges: if `max − min < EPS · (quant_max − quant_min)` (e.g. an
 *    all-zero tensor), `max` is raised to `min + EPS · (quant_max − quant_min)`
 *    before step 1's symmetric rule, so `scale ≥ EPS` and nothing divides by zero;
 *    an all-zero symmetric range still gets the middle zero point.
 * 3. TF's `Nudge`, evaluated in float32 like the kernel (every step rounded with
 *    `Math.fround`):
 *    - `scale = (max − min) / (quant_max − quant_min)`
 *    - `zero_point_from_min = quant_min − min / scale`
 *    - `nudged_zp = quant_min` if `zero_point_from_min < quant_min`, `quant_max` if
 *      above `quant_max`, else `std::round(zero_point_from_min)`. `std::round`
 *      rounds half away from zero; the value is ≥ quant_min ≥ 0 there, so this is
 *      also half-up. Float32 matters: for 8-bit `[−1, 1]` the float32 quotient is
 *      127.49999237…, so TF (and we) give zero point 127, not 128.
 *    - `nudged_min = (quant_min − nudged_zp) · scale`,
 *      `nudged_max = (quant_max − nudged_zp) · scale`.
 *
 * Deliberate difference from TF: the kernel stores the nudged zero point in a
 * `uint8`, which is wrong for bits > 8; here it is an integer of any width.
 */
import type { Granularity, QuantSpec } from '../../api/run-config.js';

/** Smallest scale; the float32 machine epsilon 2^−23 (torch.ao's default eps). */
export const EPS = 2 ** -23;

/** The fields of a {@link QuantSpec} that decide the numbers. */
export type RangeSpec = Pick<QuantSpec, 'bits' | 'symmetric' | 'narrowRange'>;

/**
 * Quantization parameters in TF's unsigned domain `[qmin, qmax]`
 * (`qmin = narrowRange ? 1 : 0`, `qmax = 2^bits − 1`). Vectors have one entry
 * per channel, or exactly one entry for per-tensor.
 */
export interface QParams {
  readonly bits: number;
  readonly symmetric: boolean;
  readonly narrowRange: boolean;
  readonly granularity: Granularity;
  /** Per-channel: the channel axis of the quantized tensor; undefined = its last axis. */
  readonly axis?: number;
  readonly qmin: number;
  readonly qmax: number;
  readonly scale: Float32Array;
  readonly zeroPoint: Int32Array;
  readonly nudgedMin: Float32Array;
  readonly nudgedMax: Float32Array;
}

/** One channel's result of the TF nudge. */
export interface ChannelQParams {
  scale: number;
  zeroPoint: number;
  nudgedMin: number;
  nudgedMax: number;
}

/** Integer grid of TF's fake quant: `[narrow ? 1 : 0, 2^bits − 1]`. */
export function quantRange(bits: number, narrowRange: boolean): { qmin: number; qmax: number } {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new Error(`bits must be an integer between 2 and 16, got ${bits}`);
  return { qmin: narrowRange ? 1 : 0, qmax: 2 ** bits - 1 };
}

const f32 = Math.fround;

/**
 * Steps 1–2 above: the range actually handed to the nudge, as float32 values.
 * Exported so observers searching ranges (mse) see the same adjustment.
 */
export function adjustRange(min: number, max: number, spec: RangeSpec): [number, number] {
  const { qmin, qmax } = quantRange(spec.bits, spec.narrowRange);
  let lo = f32(Math.min(min, 0));
  let hi = f32(Math.max(max, 0));
  const floor = EPS * (qmax - qmin);
  if (hi - lo < floor) hi = f32(lo + floor);
  if (spec.symmetric) {
    // tfmot: min_max_ratio = −1 (narrow) or −(2^bits − 2)/2^bits; exact in float32.
    const ratio = spec.narrowRange ? -1 : -(2 ** spec.bits - 2) / 2 ** spec.bits;
    const bmin = lo;
    const bmax = hi;
    lo = Math.min(bmin, f32(bmax / ratio));
    hi = Math.max(bmax, f32(bmin * ratio));
  }
  return [lo, hi];
}

/** TF's `Nudge` for one channel, float32 throughout; `min ≤ 0 ≤ max` expected (see {@link adjustRange}). */
export function nudge(min: number, max: number, qmin: number, qmax: number): ChannelQParams {
  const lo = f32(min);
  const hi = f32(max);
  const scale = f32(f32(hi - lo) / (qmax - qmin));
  const zpFromMin = f32(qmin - f32(lo / scale));
  let zeroPoint: number;
  if (zpFromMin < qmin) zeroPoint = qmin;
  else if (zpFromMin > qmax) zeroPoint = qmax;
  else zeroPoint = roundHalfAway(zpFromMin);
  return {
    scale,
    zeroPoint,
    nudgedMin: f32((qmin - zeroPoint) * scale),
    nudgedMax: f32((qmax - zeroPoint) * scale),
  };
}

/** `std::round`: halves go away from zero. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** Range adjustment plus nudge for one channel: the single per-channel path every caller uses. */
export function channelQParams(min: number, max: number, spec: RangeSpec): ChannelQParams {
  const { qmin, qmax } = quantRange(spec.bits, spec.narrowRange);
  const [lo, hi] = adjustRange(min, max, spec);
  return nudge(lo, hi, qmin, qmax);
}

export interface QParamsOptions {
  /** Tensor name used in errors, e.g. `conv2d_1/kernel`. */
  name?: string;
  /** Overrides `spec.axis` for per-channel results. */
  axis?: number;
}

/**
 * Scale / zero point for per-tensor (vectors of length 1) or per-channel
 * (length C) observed ranges. `spec.granularity` decides which is expected, so a
 * per-channel spec never comes back as one scalar.
 *
 * @throws if a min or max is NaN or infinite (naming `opts.name` and the channel),
 *   if `min > max`, or if the lengths disagree with each other or with a per-tensor spec.
 */
export function computeQParams(
  min: ArrayLike<number>,
  max: ArrayLike<number>,
  spec: QuantSpec,
  opts: QParamsOptions = {},
): QParams {
  const where = opts.name ? ` for '${opts.name}'` : '';
  if (min.length !== max.length) throw new Error(`qparams${where}: ${min.length} minima but ${max.length} maxima`);
  if (min.length === 0) throw new Error(`qparams${where}: no channels (empty range vectors)`);
  if (spec.granularity === 'per-tensor' && min.length !== 1) {
    throw new Error(`qparams${where}: per-tensor spec but ${min.length} channel ranges`);
  }
  const { qmin, qmax } = quantRange(spec.bits, spec.narrowRange);
  const n = min.length;
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  const nudgedMin = new Float32Array(n);
  const nudgedMax = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    const lo = min[c]!;
    const hi = max[c]!;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
      const chan = n > 1 ? ` channel ${c}` : '';
      throw new Error(`qparams${where}:${chan} range [${lo}, ${hi}] is not finite (NaN or Inf in the observed tensor?)`);
    }
    if (lo > hi) throw new Error(`qparams${where}: channel ${c} has min ${lo} > max ${hi}`);
    const q = channelQParams(lo, hi, spec);
    scale[c] = q.scale;
    zeroPoint[c] = q.zeroPoint;
    nudgedMin[c] = q.nudgedMin;
    nudgedMax[c] = q.nudgedMax;
  }
  const axis = opts.axis ?? spec.axis;
  return {
    bits: spec.bits,
    symmetric: spec.symmetric,
    narrowRange: spec.narrowRange,
    granularity: spec.granularity,
    ...(spec.granularity === 'per-channel' && axis !== undefined ? { axis } : {}),
    qmin,
    qmax,
    scale,
    zeroPoint,
    nudgedMin,
    nudgedMax,
  };
}

/** Number of channels (1 for per-tensor). */
export function channelCount(qp: QParams): number {
  return qp.scale.length;
}

/** Integer form for export: what a runtime stores next to the int tensor. */
export interface IntegerQParams {
  readonly signed: boolean;
  readonly bits: number;
  readonly qmin: number;
  readonly qmax: number;
  readonly scale: Float32Array;
  readonly zeroPoint: Int32Array;
}

/**
 * The same grid in an export domain. Unsigned (uint8 for 8 bits) is TF's domain
 * as is; signed (int8) subtracts `2^(bits−1)` from qmin, qmax and the zero
 * point: narrow symmetric 8-bit becomes `[−127, 127]`, zero point 0.
 */
export function integerQParams(qp: QParams, domain: 'signed' | 'unsigned'): IntegerQParams {
  const offset = domain === 'signed' ? 2 ** (qp.bits - 1) : 0;
  const zeroPoint = new Int32Array(qp.zeroPoint.length);
  for (let c = 0; c < zeroPoint.length; c++) zeroPoint[c] = qp.zeroPoint[c]! - offset;
  return {
    signed: domain === 'signed',
    bits: qp.bits,
    qmin: qp.qmin - offset,
    qmax: qp.qmax - offset,
    scale: Float32Array.from(qp.scale),
    zeroPoint,
  };
}

/** JSON form of {@link QParams} (typed arrays become number arrays; float32 values survive exactly). */
export interface QParamsJSON {
  bits: number;
  symmetric: boolean;
  narrowRange: boolean;
  granularity: Granularity;
  axis?: number;
  qmin: number;
  qmax: number;
  scale: number[];
  zeroPoint: number[];
  nudgedMin: number[];
  nudgedMax: number[];
}

export function qparamsToJSON(qp: QParams): QParamsJSON {
  return {
    bits: qp.bits,
    symmetric: qp.symmetric,
    narrowRange: qp.narrowRange,
    granularity: qp.granularity,
    ...(qp.axis !== undefined ? { axis: qp.axis } : {}),
    qmin: qp.qmin,
    qmax: qp.qmax,
    scale: Array.from(qp.scale),
    zeroPoint: Array.from(qp.zeroPoint),
    nudgedMin: Array.from(qp.nudgedMin),
    nudgedMax: Array.from(qp.nudgedMax),
  };
}

export function qparamsFromJSON(j: QParamsJSON): QParams {
  const n = j.scale.length;
  if ([j.zeroPoint, j.nudgedMin, j.nudgedMax].some((v) => v.length !== n)) throw new Error('qparams JSON: vectors differ in length');
  if (j.granularity === 'per-tensor' && n !== 1) throw new Error(`qparams JSON: per-tensor with ${n} channels`);
  return {
    bits: j.bits,
    symmetric: j.symmetric,
    narrowRange: j.narrowRange,
    granularity: j.granularity,
    ...(j.axis !== undefined ? { axis: j.axis } : {}),
    qmin: j.qmin,
    qmax: j.qmax,
    scale: Float32Array.from(j.scale),
    zeroPoint: Int32Array.from(j.zeroPoint),
    nudgedMin: Float32Array.from(j.nudgedMin),
    nudgedMax: Float32Array.from(j.nudgedMax),
  };
}

export function qparamsEquals(a: QParams, b: QParams): boolean {
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
  return (
    a.bits === b.bits &&
    a.symmetric === b.symmetric &&
    a.narrowRange === b.narrowRange &&
    a.granularity === b.granularity &&
    a.axis === b.axis &&
    a.qmin === b.qmin &&
    a.qmax === b.qmax &&
    same(a.scale, b.scale) &&
    same(a.zeroPoint, b.zeroPoint) &&
    same(a.nudgedMin, b.nudgedMin) &&
    same(a.nudgedMax, b.nudgedMax)
  );
}
