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
 *  - fake quant, 'half-up': the op sequence of engine/onnx/fake-quant.ts
 *    (the one the simulation graphs use, the TensorFlow.js forward op for
 *    op) on these qparams, and the straight-through mask
 *    nudged_min ≤ x ≤ nudged_max for the gradient.
 */
import type { Estimator } from '../../../api/run-config.js';
import { DT } from '../../onnx/proto.js';
import { EPS, quantRange, type RangeSpec } from '../../quant/qparams.js';
import type { OnnxBuilder } from '../../onnx/builder.js';
import { fakeQuantOps } from '../../onnx/fake-quant.js';

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
 * shape of 1s with the channel count on the channel axis; [1] per-tensor).
 */
export function fakeQuant(b: OnnxBuilder, x: string, qp: QParamOps, broadcast: number[]): FakeQuantOps {
  const shape = b.i64(broadcast);
  const [scale, nmin, nmax] = [qp.scale, qp.nudgedMin, qp.nudgedMax].map((t) => b.op('Reshape', [t, shape]));
  const out = fakeQuantOps(b, x, { scale: scale!, nudgedMin: nmin!, levels: qp.qmax - qp.qmin });
  const mask = b.op('And', [b.op('GreaterOrEqual', [x, nmin!]), b.op('LessOrEqual', [x, nmax!])]);
  return { out, mask };
}

/** The straight-through gradient: dy where the mask holds, else 0. */
export function straightThrough(b: OnnxBuilder, dy: string, mask: string): string {
  return b.op('Mul', [dy, b.op('Cast', [mask], { to: DT.FLOAT })]);
}

/** Batch min and max of `x` over every axis but `keep` (all axes when keep is null), as vectors ([1] per-tensor). */
export function batchRange(b: OnnxBuilder, x: string, rank: number, keep: number | null): RangeOps {
  if (keep === null) {
    const one = b.i64([1]);
    return { min: b.op('Reshape', [b.op('ReduceMin', [x], { keepdims: 0 }), one]), max: b.op('Reshape', [b.op('ReduceMax', [x], { keepdims: 0 }), one]) };
  }
  const axes = Array.from({ length: rank }, (_, i) => i).filter((i) => i !== keep);
  return { min: b.op('ReduceMin', [x], { axes, keepdims: 0 }), max: b.op('ReduceMax', [x], { axes, keepdims: 0 }) };
}
