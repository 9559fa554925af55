/**
 * The per-activation statistics of an evaluation, float tensor f against the
 * simulated tensor q at the same point: SQNR (per channel when the quantizer
 * is), the clip rate and the histogram of f. One accumulator serves both
 * evaluations (TensorFlow.js tensors in ptq/evaluate.ts, onnxruntime outputs
 * in native/evaluate-onnx.ts), so the figures mean the same whichever ran.
 */
import type * as tf from '@tensorflow/tfjs';
import { ClipCounter, HistogramAccumulator, SqnrAccumulator, valuesOf, type Values } from '../metrics.js';
import type { QParams } from '../quant/qparams.js';

export interface ActivationStats {
  quantizer: string;
  at: string;
  sqnr: number;
  perChannelSqnr: Float32Array | null;
  clipRate: number;
  histogram: { lo: number; hi: number; counts: Uint32Array };
}

/** Histogram counts with the values beyond the edges added into the edge bins (so no sample is lost from the picture). */
export function countsWithEdges(h: HistogramAccumulator): Uint32Array {
  const counts = h.counts().slice();
  counts[0]! += h.underflow;
  counts[counts.length - 1]! += h.overflow;
  return counts;
}

export class ActivationStatsAccumulator {
  private readonly sqnr: SqnrAccumulator;
  private readonly clip: ClipCounter;
  private readonly hist: HistogramAccumulator;

  /**
   * `span`: the histogram's span (calibration envelope), widened to the chosen
   * range; `channelAxis`: where the channels of the tensors `add` gets are
   * (per-channel quantizers only; -1 is NHWC's last axis).
   */
  constructor(
    readonly quantizer: string,
    readonly at: string,
    readonly qp: QParams,
    span: { lo: number; hi: number } | undefined,
    bins: number,
    channelAxis = -1,
  ) {
    const axis = qp.granularity === 'per-channel' ? channelAxis : undefined;
    const given = span ?? { lo: qp.nudgedMin[0]!, hi: qp.nudgedMax[0]! };
    const lo = Math.min(given.lo, ...qp.nudgedMin);
    const hi = Math.max(given.hi, ...qp.nudgedMax);
    this.sqnr = new SqnrAccumulator(axis !== undefined ? { axis } : {});
    this.clip = new ClipCounter(qp, axis);
    this.hist = new HistogramAccumulator(lo, hi > lo ? hi : lo + 1e-6, bins);
  }

  add(f: tf.Tensor | Values, q: tf.Tensor | Values): void {
    const float = valuesOf(f);
    this.sqnr.add(float, q);
    this.clip.add(float);
    this.hist.add(float.data);
  }

  result(): ActivationStats {
    return {
      quantizer: this.quantizer,
      at: this.at,
      sqnr: this.sqnr.value(),
      perChannelSqnr: this.sqnr.perChannel(),
      clipRate: this.clip.rate(),
      histogram: { lo: this.hist.lo, hi: this.hist.hi, counts: countsWithEdges(this.hist) },
    };
  }
}
