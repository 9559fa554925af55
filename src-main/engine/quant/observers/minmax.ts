/**
 * One-pass range observers, with tfmot's names:
 *
 * - `minmax` (AllValues): `min = min(min, batch_min)`, `max = max(max, batch_max)`
 *   over every batch since the last reset.
 * - `lastvalue` (LastValue): the last batch's min and max only.
 * - `movingaverage` (MovingAverage): the first batch sets the range, then each
 *   batch `ema = decay · ema + (1 − decay) · batch` (min and max separately, no
 *   bias correction), as tfmot's `MovingAverageQuantizer` and torch.ao's
 *   `MovingAverageMinMaxObserver` (whose `averaging_constant` is `1 − decay`).
 *
 * Per-channel, every statistic is a vector over the channel axis. Values are
 * stored as float32 (as TF variables would hold them; the EMA is computed in
 * float64 and rounded to float32 once per batch).
 *
 * Non-finite input: NaN and ±Inf are skipped and `sawNonFinite` is set. A
 * channel whose batch held no finite value keeps its previous state (for
 * lastvalue: that channel keeps the last batch that had finite values).
 * Empty tensors are ignored and not counted.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Estimator, QuantSpec } from '../../../api/run-config.js';
import { BaseObserver } from './base.js';
import { decodeFloats, encodeFloats, finishRange, finiteChannelMinMax } from './common.js';
import type { BatchMinMax } from './reduce.js';
import type { HistogramState, MinMaxState } from './types.js';

export class MinMaxObserver extends BaseObserver {
  readonly passes = 1 as const;
  private min = new Float32Array(0);
  private max = new Float32Array(0);

  constructor(estimator: Estimator, spec: QuantSpec, axis: number | undefined, name: string | undefined) {
    super(estimator, spec, axis, name);
    if (!['minmax', 'lastvalue', 'movingaverage'].includes(estimator.kind)) throw new Error(`MinMaxObserver cannot estimate '${estimator.kind}'`);
  }

  observe(x: tf.Tensor, pass = 0): void {
    if (pass !== 0) throw new Error(`${this.label}: takes one pass (pass 0), got pass ${pass}`);
    if (x.size === 0) return;
    this.guard.check(x.shape);
    const r = finiteChannelMinMax(x, this.guard.axis);
    if (r !== null) this.observeBatchRange(x.shape, r);
  }

  /**
   * Takes a batch already reduced elsewhere (the native calibration reduces in
   * onnxruntime): `r` is the batch's per-channel min/max over its finite values
   * on the axis this observer resolves against `shape`. Same update as observe().
   */
  observeBatchRange(shape: readonly number[], r: BatchMinMax): void {
    const channels = this.guard.check(shape);
    if (r.min.length !== channels || r.max.length !== channels) {
      throw new Error(`${this.label}: batch range has ${r.min.length} minima, ${r.max.length} maxima for ${channels} channels`);
    }
    if (r.nonFinite) this.sawNonFinite = true;
    if (this.min.length !== channels) {
      this.min = new Float32Array(channels).fill(Infinity);
      this.max = new Float32Array(channels).fill(-Infinity);
    }
    const kind = this.estimator.kind;
    const decay = this.estimator.decay;
    for (let c = 0; c < channels; c++) {
      const lo = r.min[c]!;
      const hi = r.max[c]!;
      if (!(lo <= hi)) continue; // no finite value in this channel
      if (kind === 'minmax') {
        if (lo < this.min[c]!) this.min[c] = lo;
        if (hi > this.max[c]!) this.max[c] = hi;
      } else if (kind === 'lastvalue' || !(this.min[c]! <= this.max[c]!)) {
        this.min[c] = lo;
        this.max[c] = hi;
      } else {
        this.min[c] = decay * this.min[c]! + (1 - decay) * lo;
        this.max[c] = decay * this.max[c]! + (1 - decay) * hi;
      }
    }
    this.batches++;
  }

  range(): { min: Float32Array; max: Float32Array } {
    return finishRange(this.label, this.min, this.max, this.batches);
  }

  protected clear(): void {
    this.min = new Float32Array(0);
    this.max = new Float32Array(0);
  }

  state(): MinMaxState {
    return {
      type: 'minmax',
      batches: this.batches,
      sawNonFinite: this.sawNonFinite,
      ...(this.guard.channels > 0 && this.guard.axis !== undefined ? { axis: this.guard.axis } : {}),
      channels: this.guard.channels,
      min: encodeFloats(this.min),
      max: encodeFloats(this.max),
    };
  }

  restore(s: MinMaxState | HistogramState): void {
    if (s.type !== 'minmax') throw new Error(`${this.label}: cannot restore state of type '${s.type}'`);
    if (s.min.length !== s.max.length || (s.min.length !== 0 && s.min.length !== s.channels)) {
      throw new Error(`${this.label}: saved state has ${s.min.length} minima, ${s.max.length} maxima for ${s.channels} channels`);
    }
    this.batches = s.batches;
    this.sawNonFinite = s.sawNonFinite;
    this.min = Float32Array.from(decodeFloats(s.min));
    this.max = Float32Array.from(decodeFloats(s.max));
    this.guard.restore(s.axis, s.channels);
  }
}
