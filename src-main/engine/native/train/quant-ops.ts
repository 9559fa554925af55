/**
 * The quantizer pieces of the training graph as ONNX ops, rounding exactly as
 * the JS observers and TensorFlow.js ops do, so a step in onnxruntime takes
 * the same ranges and grid as a step in TensorFlow.js:
 *  - range updates (minmax / lastvalue / movingaverage, minmax.ts): the moving
 *    average in float64, then rounded to float32 once, as the observer does;
 *  - qparams (qparams.ts: tfmot's range adjustment, then TF's Nudge): float32
 *    + − × ÷ of float32 values are correctly rounded in both (JS rounds the
 *    float64 result with Math.fround, which for these four ops is the same
 *    number), comparisons and the zero point's round-half-up in float64;
 *  - fake quant, 'half-up': the numbers of engine/onnx/fake-quant.ts (the
 *    one the simulation graphs use, the TensorFlow.js forward op for op) on
 *    these qparams, by an op sequence that also gives the straight-through
 *    mask nudged_min ≤ x ≤ nudged_max for the gradient (see fakeQuant).
 */
import type { Estimator } from '../../../api/run-config.js';
import { DT } from '../../onnx/proto.js';
import { EPS, quantRange, type RangeSpec } from '../../quant/qparams.js';
import { OnnxBuilder } from '../../onnx/builder.js';

export interface RangeOps {
  min: string;
  max: string;
}

/** The observer's update of a stored range by one batch's range (per channel, elementwise). */
export function updateRange(b: OnnxBuilder, kind: Estimator['kind'], decay: number, old: RangeOps, batch: RangeOps): RangeOps {
  if (kind === 'lastvalue') return batch;
  if (kind === 'minmax') return { min: b.op('Min', [old.min, batch.min]), max: b.op('Max', [old.max, batch.max]) };
  if (kind !== 'movingaverage') throw new Error(`the training graph has no range update for the '${kind}' estimator`);
  const ema = (o: string, v: string) => {
    const mixed = b.op('Add', [b.op('Mul', [b.f64(decay), b.op('Cast', [o], { to: DT.DOUBLE })]), b.op('Mul', [b.f64(1 - decay), b.op('Cast', [v], { to: DT.DOUBLE })])]);
    return b.op('Cast', [mixed], { to: DT.FLOAT });
  };
  return { min: ema(old.min, batch.min), max: ema(old.max, batch.max) };
}

export interface QParamOps {
  scale: string;
  nudgedMin: string;
  nudgedMax: string;
  qmin: number;
  qmax: number;
}

/** computeQParams of a range (vectors of the channel count). */
export function qparamsOf(b: OnnxBuilder, range: RangeOps, spec: RangeSpec): QParamOps {
  const { qmin, qmax } = quantRange(spec.bits, spec.narrowRange);
  const f64 = (t: string) => b.op('Cast', [t], { to: DT.DOUBLE });
  let lo = b.op('Min', [range.min, b.f32(0)]);
  let hi = b.op('Max', [range.max, b.f32(0)]);
  // A degenerate range is widened to EPS·(qmax − qmin) (compared and added in float64, as JS does).
  const floor = EPS * (qmax - qmin);
  const loD = f64(lo);
  const narrow = b.op('Less', [b.op('Sub', [f64(hi), loD]), b.f64(floor)]);
  hi = b.op('Where', [narrow, b.op('Cast', [b.op('Add', [loD, b.f64(floor)])], { to: DT.FLOAT }), hi]);
  if (spec.symmetric) {
    const ratio = spec.narrowRange ? -1 : -(2 ** spec.bits - 2) / 2 ** spec.bits;
    const r = b.f32(ratio);
    const [bmin, bmax] = [lo, hi];
    lo = b.op('Min', [bmin, b.op('Div', [bmax, r])]);
    hi = b.op('Max', [bmax, b.op('Mul', [bmin, r])]);
  }
  const scale = b.op('Div', [b.op('Sub', [hi, lo]), b.f32(qmax - qmin)]);
  const zpFromMin = b.op('Sub', [b.f32(qmin), b.op('Div', [lo, scale])]);
  // Clamp to [qmin, qmax], else round half up: floor(v + 0.5) in float64.
  const rounded = b.op('Floor', [b.op('Add', [f64(zpFromMin), b.f64(0.5)])]);
  const zp = b.op('Cast', [b.op('Min', [b.op('Max', [rounded, b.f64(qmin)]), b.f64(qmax)])], { to: DT.FLOAT });
  return {
    scale,
    nudgedMin: b.op('Mul', [b.op('Sub', [b.f32(qmin), zp]), scale]),
    nudgedMax: b.op('Mul', [b.op('Sub', [b.f32(qmax), zp]), scale]),
    qmin,
    qmax,
  };
}

export interface FakeQuantOps {
  out: string;
  /** bool, true where the straight-through gradient passes. */
  mask: string;
}

/**
 * TF's fake quant, half-up, with the qparams reshaped to `broadcast` (a
 * shape of 1s with the channel count on the channel axis; [1] per-tensor),
 * computed as the training step needs it with the fewest passes over x:
 *
 *   c   = clip(x, nudged_min, nudged_max)
 *   out = floor((c − nudged_min) / scale + 0.5) · scale + nudged_min
 *   mask = (c = x)
 *
 * These are the numbers of fakeQuantOps (engine/onnx/fake-quant.ts, which
 * clips u = (x − nudged_min)/scale to [0, qmax − qmin] instead), bit for bit:
 * for x in range both compute the same u, which rounding keeps within a
 * hair of [0, qmax − qmin], where floor(u + 0.5) equals that of the clipped
 * u; outside, both give the end of the grid. The mask c = x is the
 * straight-through test nudged_min ≤ x ≤ nudged_max, and one Clip (scalar
 * bounds, per-tensor) or Min/Max pair (per-channel) does the work of the
 * two comparisons.
 *
 * `within` (per-tensor only): x is the input of a clip(·, lo, hi) with
 * lo ≤ 0 ≤ hi (relu6, relu) whose output this quantizer takes. The nudged
 * range holds 0 too, so clip(clip(x, lo, hi), nudged_min, nudged_max) is
 * one clip to the intersection, and the mask (c = x) is then the product of
 * both ops' gradient masks. An `open` clip (relu's gradient passes where
 * x > 0) takes its mask from a second clip, from the least float above 0
 * (2⁻¹⁴⁹), which x = 0 fails; the value stays the clip from 0 (quantizing
 * the subnormal instead gives the same numbers, but arithmetic on
 * subnormals runs several times slower on x86).
 */
export function fakeQuant(b: OnnxBuilder, x: string, qp: QParamOps, broadcast: number[], within?: { lo: number; hi: number; open?: boolean }): FakeQuantOps {
  const perTensor = broadcast.every((d) => d === 1);
  if (within && !perTensor) throw new Error('a fused clip needs a per-tensor quantizer');
  const shape = b.i64(perTensor ? [] : broadcast);
  const [scale, nmin, nmax] = [qp.scale, qp.nudgedMin, qp.nudgedMax].map((t) => b.op('Reshape', [t, shape])) as [string, string, string];
  let c: string;
  let masked: string | null = null;
  if (perTensor) {
    if (within?.open && within.lo !== 0) throw new Error('an open clip starts at 0');
    const lo = within ? b.op('Max', [nmin, b.f32(within.lo)]) : nmin;
    const hi = within ? b.op('Min', [nmax, b.f32(within.hi)]) : nmax;
    c = b.op('Clip', [x, lo, hi]);
    if (within?.open) masked = b.op('Clip', [x, b.op('Max', [nmin, b.f32(LEAST_POSITIVE)]), hi]);
  } else {
    c = b.op('Max', [b.op('Min', [x, nmax]), nmin]);
  }
  const grid = (g: OnnxBuilder, shifted: boolean) => {
    const u = g.op('Div', [shifted ? g.op('Sub', [c, nmin]) : c, scale]);
    const q = g.op('Mul', [g.op('Floor', [g.op('Add', [u, g.f32(0.5)])]), scale]);
    return shifted ? g.op('Add', [q, nmin]) : q;
  };
  const mask = b.op('Equal', [masked ?? c, x]);
  if (!perTensor) return { out: grid(b, true), mask };
  // A range from 0 up (a ReLU's: zero point qmin) has nudged_min exactly 0, where − nudged_min and
  // + nudged_min change no bit: two passes fewer then, chosen at run time by an If.
  const p = `fq${branches++}/`;
  const [fromZero, general] = [new OnnxBuilder('fresh', `${p}zero/`), new OnnxBuilder('fresh', `${p}any/`)];
  fromZero.output(`${p}zero/out`, grid(fromZero, false));
  general.output(`${p}any/out`, grid(general, true));
  const [out] = b.opIn('', 'If', [b.op('Equal', [nmin, b.f32(0)])], 1, {}, { then_branch: fromZero.subgraph(`${p}zero`, b), else_branch: general.subgraph(`${p}any`, b) });
  return { out: out!, mask };
}

/** The least positive float32, 2⁻¹⁴⁹ (a subnormal; onnxruntime keeps subnormals unless told otherwise). */
const LEAST_POSITIVE = 2 ** -149;

/** Numbers the If branches (subgraph names are unique in a model). */
let branches = 0;

/** The straight-through gradient: dy where the mask holds, else 0. */
export function straightThrough(b: OnnxBuilder, dy: string, mask: string): string {
  return b.op('Mul', [dy, b.op('Cast', [mask], { to: DT.FLOAT })]);
}

/** Batch min and max of `x` over every axis but `keep` (all axes when keep is null), as vectors ([1] per-tensor). */
export function batchRange(b: OnnxBuilder, x: string, rank: number, keep: number | null): RangeOps {
  if (keep === null) {
    // Per sample first, then over the batch: onnxruntime shares a reduction over rows between its threads, not one
    // over everything (half the time at 224×224); the minimum and maximum are the same in any order.
    const rows = rank > 1 ? b.op('Reshape', [x, b.i64([0, -1])]) : x;
    const all = (op: string) => b.op('Reshape', [b.op(op, [rank > 1 ? b.op(op, [rows], { axes: [1], keepdims: 0 }) : rows], { keepdims: 0 }), b.i64([1])]);
    return { min: all('ReduceMin'), max: all('ReduceMax') };
  }
  const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== keep);
  return { min: b.op('ReduceMin', [x], { axes, keepdims: 0 }), max: b.op('ReduceMax', [x], { axes, keepdims: 0 }) };
}
