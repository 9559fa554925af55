/**
 * The fake-quant op on tf tensors, per-tensor or per-channel along any axis.
 *
 * Forward, rounding 'half-up' (default) — TF's FakeQuantWithMinMaxVars(PerChannel) literally:
 *   clamped = min(max(x, nudged_min), nudged_max)
 *   q       = floor((clamped − nudged_min) / scale + 0.5)
 *   out     = q · scale + nudged_min
 * Rounding here happens in the shifted (unsigned) domain, so ties go up.
 *
 * The runtimes round `x / scale` in the signed domain and add the zero point
 * afterwards, so their ties differ (e.g. −2.5 or an odd zero point):
 *   'half-even' — ONNX QuantizeLinear: q = clamp(round_half_even(x / scale) + zp, qmin, qmax)
 *   'half-away' — TFLite reference kernels (std::round): q = clamp(round_half_away(x / scale) + zp, qmin, qmax)
 *   out = (q − zp) · scale
 * Pick the mode of the runtime an export targets so the simulation matches it.
 * (TF's *Args* variant multiplies by a precomputed 1/scale; the *Vars* ops
 * simulated here divide, and so do the runtimes.)
 *
 * Gradient (straight-through estimator, TF's FakeQuantWithMinMaxVarsGradient):
 *   dx   = dy where nudged_min ≤ x ≤ nudged_max, else 0
 *   dmin = Σ dy over x < nudged_min,  dmax = Σ dy over x > nudged_max
 * (sums per channel for per-channel). The qparams are constants of the op:
 * statistics never enter the gradient.
 */
import { tf } from '../tfjs.js';
import type { QuantSpec } from '../../api/run-config.js';
import { computeQParams, type QParams } from './qparams.js';
import { channelBroadcastShape, validateChannelAxis } from './spec.js';

export type RoundingMode = 'half-up' | 'half-even' | 'half-away';
export const ROUNDING_MODES: readonly RoundingMode[] = ['half-up', 'half-even', 'half-away'];

export interface FakeQuantOptions {
  /** Default 'half-up' (TF fake quant). */
  rounding?: RoundingMode;
  /** Per-channel axis; default `qp.axis`, else the last axis. */
  axis?: number;
  /** For errors, e.g. `dense_1/kernel`. */
  name?: string;
}

/** Fake-quantizes `x` with fixed qparams; the gradient to `x` is the STE. */
export function fakeQuant(x: tf.Tensor, qp: QParams, opts: FakeQuantOptions = {}): tf.Tensor {
  return fakeQuantDeferred(x, () => qp, opts);
}

/**
 * Like {@link fakeQuant}, but the qparams are produced inside the op's forward
 * pass, where TF.js does not record a gradient tape: a FakeQuantizer observes
 * `x` there, so observation never sits on the gradient path.
 */
export function fakeQuantDeferred(x: tf.Tensor, qparamsAt: () => QParams, opts: FakeQuantOptions = {}): tf.Tensor {
  const rounding = opts.rounding ?? 'half-up';
  let qp: QParams | undefined;
  let axis: number | undefined;
  const op = tf.customGrad((...args) => {
    const [xt, save] = args as [tf.Tensor, tf.GradSaveFunc];
    qp = qparamsAt();
    axis = resolveAxis(xt, qp, opts);
    save([xt]);
    return {
      value: forward(xt, qp, axis, rounding),
      gradFunc: (dy, saved) => steInput(dy as tf.Tensor, saved[0]!, qp!, axis),
    };
  });
  return op(asFloat(x));
}

/**
 * TF's FakeQuantWithMinMaxVars / ...PerChannel with range tensors: `min` and
 * `max` are scalars (or `[1]`) for per-tensor, `[C]` for per-channel, and get
 * TF's gradients. They are adjusted and nudged by the same path as
 * {@link computeQParams} (including `spec.symmetric`).
 */
export function fakeQuantWithMinMaxVars(
  x: tf.Tensor,
  min: tf.Tensor,
  max: tf.Tensor,
  spec: QuantSpec,
  opts: FakeQuantOptions = {},
): tf.Tensor {
  const rounding = opts.rounding ?? 'half-up';
  const op = tf.customGrad((...args) => {
    const [xt, minT, maxT, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const qp = computeQParams(minT.dataSync(), maxT.dataSync(), spec, opts.name ? { name: opts.name } : {});
    const axis = resolveAxis(xt, qp, opts);
    save([xt]);
    return {
      value: forward(xt, qp, axis, rounding),
      gradFunc: (dy, saved) => {
        const xs = saved[0]!;
        const g = dy as tf.Tensor;
        const p = paramTensors(qp, xs.rank, axis);
        const dx = tf.mul(g, tf.cast(tf.logicalAnd(tf.greaterEqual(xs, p.nudgedMin), tf.lessEqual(xs, p.nudgedMax)), 'float32'));
        const reduce = reduceAxes(xs.rank, axis);
        const below = tf.sum(tf.mul(g, tf.cast(tf.less(xs, p.nudgedMin), 'float32')), reduce);
        const above = tf.sum(tf.mul(g, tf.cast(tf.greater(xs, p.nudgedMax), 'float32')), reduce);
        return [dx, tf.reshape(below, minT.shape), tf.reshape(above, maxT.shape)];
      },
    };
  });
  return op(asFloat(x), asFloat(min), asFloat(max));
}

function asFloat(t: tf.Tensor): tf.Tensor {
  return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
}

/** Non-negative channel axis for per-channel qparams, checked against x; undefined for per-tensor. */
function resolveAxis(x: tf.Tensor, qp: QParams, opts: FakeQuantOptions): number | undefined {
  if (qp.granularity === 'per-tensor') {
    if (qp.scale.length !== 1) throw new Error(`fake quant${opts.name ? ` of '${opts.name}'` : ''}: per-tensor qparams with ${qp.scale.length} channels`);
    return undefined;
  }
  const axis = validateChannelAxis(opts.axis ?? qp.axis ?? -1, x.shape, { tensor: opts.name ? `'${opts.name}'` : 'input' });
  if (x.shape[axis] !== qp.scale.length) {
    throw new Error(`fake quant${opts.name ? ` of '${opts.name}'` : ''}: ${qp.scale.length} channel qparams but axis ${axis} of shape [${x.shape.join(',')}] has ${x.shape[axis]}`);
  }
  return axis;
}

interface ParamTensors {
  scale: tf.Tensor;
  nudgedMin: tf.Tensor;
  nudgedMax: tf.Tensor;
  /** qmin − zp and qmax − zp: the signed-domain clamp bounds. */
  lowQ: tf.Tensor;
  highQ: tf.Tensor;
}

/** The qparams as tensors broadcasting along `axis` (scalars for per-tensor). Caller's scope owns them. */
function paramTensors(qp: QParams, rank: number, axis: number | undefined): ParamTensors {
  // Last axis: a plain [C] vector broadcasts the same as [1,…,1,C], and the wasm backend's
  // comparison kernels take a fast path for it (≈ 10× faster than with [1,…,1,C] there).
  const shape = axis === undefined ? [] : axis === rank - 1 ? [qp.scale.length] : channelBroadcastShape(rank, axis, qp.scale.length);
  const n = qp.scale.length;
  const lowQ = new Float32Array(n);
  const highQ = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    lowQ[c] = qp.qmin - qp.zeroPoint[c]!;
    highQ[c] = qp.qmax - qp.zeroPoint[c]!;
  }
  const t = (v: Float32Array) => tf.tensor(v, shape, 'float32');
  return { scale: t(qp.scale), nudgedMin: t(qp.nudgedMin), nudgedMax: t(qp.nudgedMax), lowQ: t(lowQ), highQ: t(highQ) };
}

function reduceAxes(rank: number, axis: number | undefined): number[] {
  const axes: number[] = [];
  for (let i = 0; i < rank; i++) if (i !== axis) axes.push(i);
  return axes;
}

/** The forward computation; runs inside customGrad's tidy, so intermediates are freed. */
function forward(x: tf.Tensor, qp: QParams, axis: number | undefined, rounding: RoundingMode): tf.Tensor {
  const p = paramTensors(qp, x.rank, axis);
  if (rounding === 'half-up') {
    // TF clamps x to [nudged_min, nudged_max] first; clamping u = (x − nudged_min)/scale to
    // [0, qmax − qmin] instead gives the same q (in range the ops are the same; below, both give
    // 0; above, TF's (nudged_max − nudged_min)/scale is qmax − qmin within far less than 0.5, so
    // floor(· + 0.5) lands on the same level), and its bounds are scalars: wasm clamps with one
    // XNNPACK op, while its Maximum/Minimum against per-channel tensors take a slow broadcast path.
    const u = tf.clipByValue(tf.div(tf.sub(x, p.nudgedMin), p.scale), 0, qp.qmax - qp.qmin);
    const q = tf.floor(tf.add(u, 0.5));
    return tf.add(tf.mul(q, p.scale), p.nudgedMin);
  }
  const v = tf.div(x, p.scale);
  let r: tf.Tensor;
  if (rounding === 'half-even') {
    r = tf.round(v); // TF.js round is banker's rounding on every backend.
  } else {
    // floor(|v| + 0.5) misrounds 0.49999997 (the sum rounds up to 1); compare the fraction instead.
    const a = tf.abs(v);
    const fl = tf.floor(a);
    const up = tf.cast(tf.greaterEqual(tf.sub(a, fl), 0.5), 'float32');
    r = tf.mul(tf.sign(v), tf.add(fl, up));
  }
  return tf.mul(tf.minimum(tf.maximum(r, p.lowQ), p.highQ), p.scale);
}

/** dx = dy · [nudged_min ≤ x ≤ nudged_max]. */
function steInput(dy: tf.Tensor, x: tf.Tensor, qp: QParams, axis: number | undefined): tf.Tensor {
  if (axis === undefined) {
    // Per tensor: clip(x) equals x exactly when x is in range (NaN never equals itself), the
    // same mask as the two comparisons with one fast clamp and one same-shape comparison.
    const inRange = tf.equal(tf.clipByValue(x, qp.nudgedMin[0]!, qp.nudgedMax[0]!), x);
    return tf.mul(dy, tf.cast(inRange, 'float32'));
  }
  const p = paramTensors(qp, x.rank, axis);
  return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greaterEqual(x, p.nudgedMin), tf.lessEqual(x, p.nudgedMax)), 'float32'));
}
