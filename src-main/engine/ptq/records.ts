/**
 * Turns calibration and evaluation results into the rows a run stores:
 * one record per quantized tensor (per-channel vectors beside it) and one
 * histogram per tensor with the range that was chosen.
 *
 * A per-channel record's scalar columns hold the per-tensor envelope (min of
 * the channel minima, max of the maxima) and the scale / zero point a
 * per-tensor quantizer would get for it: the line the range chart draws
 * across the channel bars.
 */
import type { QuantSpec } from '../../api/run-config.js';
import type { Histogram, TensorResult } from '../results.js';
import type { Observer } from '../quant/observers/index.js';
import { computeQParams, type QParams } from '../quant/qparams.js';

export interface TensorStats {
  sqnr: number;
  perChannelSqnr: Float32Array | null;
  clipRate: number;
}

/** Infinity (an exact match) and NaN are stored as null: SQLite REAL has no Infinity in JSON. */
export function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

export function tensorRecord(layer: string, role: 'weight' | 'activation' | 'input', spec: QuantSpec, obs: Observer, qp: QParams, stats: TensorStats): TensorResult {
  const { min, max } = obs.range();
  const channels = min.length;
  const lo = Math.min(...min);
  const hi = Math.max(...max);
  const envelope = computeQParams([lo], [hi], { ...spec, granularity: 'per-tensor' });
  const perChannel = spec.granularity === 'per-channel';
  return {
    layer,
    role,
    granularity: spec.granularity,
    axis: perChannel ? (qp.axis ?? obs.axis ?? null) : null,
    bits: spec.bits,
    symmetric: spec.symmetric,
    narrowRange: spec.narrowRange,
    channels,
    min: lo,
    max: hi,
    scale: perChannel ? envelope.scale[0]! : qp.scale[0]!,
    zeroPoint: perChannel ? envelope.zeroPoint[0]! : qp.zeroPoint[0]!,
    sqnr: finiteOrNull(stats.sqnr),
    clipRate: stats.clipRate,
    perChannel: perChannel
      ? { min: Float32Array.from(min), max: Float32Array.from(max), scale: qp.scale, zeroPoint: qp.zeroPoint, sqnr: stats.perChannelSqnr }
      : null,
  };
}

/** A histogram row; the chosen range is the envelope of the nudged channel ranges. */
export function histogramRecord(layer: string, role: string, h: { lo: number; hi: number; counts: Uint32Array }, qp: QParams): Histogram {
  return {
    layer,
    role,
    lo: h.lo,
    hi: h.hi,
    rangeMin: Math.min(...qp.nudgedMin),
    rangeMax: Math.max(...qp.nudgedMax),
    counts: h.counts,
  };
}
