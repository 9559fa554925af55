/**
 * TF's fake quant ('half-up', FakeQuantWithMinMaxVars / ...PerChannel) on
 * plain float32 values, without TensorFlow.js: what a run computes once per
 * kernel (the simulated kernels of an evaluation, the records, QAT's
 * validation) needs no tensors. Op for op the float32 sequence of the TF.js
 * op (fake-quant.ts), each step rounded with Math.fround, so both give the
 * same bits:
 *   u   = clip(f32(f32(x − nudged_min) / scale), 0, qmax − qmin)
 *   q   = floor(f32(u + 0.5))
 *   out = f32(f32(q · scale) + nudged_min)
 * (a float32 add, sub, mul or div computed in float64 and rounded once is the
 * correctly rounded float32 result, as every backend computes it).
 */
import { finiteMinMaxJs } from './observers/common.js';
import { minMaxJs } from './observers/reduce.js';
import type { QParams } from './qparams.js';
import { channelLayout } from './spec.js';

const f32 = Math.fround;

/**
 * The fake quant of row-major `x` of `shape`: per tensor, or per channel
 * along `axis` (non-negative) when the qparams are per channel.
 */
export function fakeQuantValues(x: Float32Array, shape: readonly number[], qp: QParams, axis?: number): Float32Array {
  const perChannel = qp.granularity === 'per-channel';
  if (perChannel && axis === undefined) throw new Error('fake quant: per-channel qparams need a channel axis');
  const { outer, channels, inner } = channelLayout(shape, perChannel ? axis : undefined);
  if (channels !== qp.scale.length) throw new Error(`fake quant: ${qp.scale.length} channel qparams for ${channels} channels of [${shape.join(',')}]`);
  const levels = qp.qmax - qp.qmin;
  const out = new Float32Array(x.length);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const scale = qp.scale[c]!;
      const lo = qp.nudgedMin[c]!;
      for (let j = 0; j < inner; j++, i++) {
        let u = f32(f32(x[i]! - lo) / scale);
        u = u < 0 ? 0 : u > levels ? levels : u;
        out[i] = f32(f32(Math.floor(f32(u + 0.5)) * scale) + lo);
      }
    }
  }
  return out;
}

/** Per-channel (or whole-tensor) min and max of row-major values over their finite values, as an observer takes one batch. */
export function valuesMinMax(x: Float32Array, shape: readonly number[], axis: number | null): { min: Float32Array; max: Float32Array; nonFinite: boolean } {
  const r = minMaxJs(x, shape, axis ?? undefined);
  return r.nonFinite ? { ...finiteMinMaxJs(x, shape, axis ?? undefined), nonFinite: true } : r;
}
