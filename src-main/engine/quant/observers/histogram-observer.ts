/**
 * Histogram estimators: `percentile`, `mse`, `entropy` (search rules in
 * ./search.ts). Symmetric specs histogram |x| over `[0, max|x|]` and return
 * `[−t, t]`; asymmetric specs histogram x over `[min, max]`.
 *
 * Two ways to feed them:
 * - Two passes (what PTQ calibration does, `passes = 2`): `observe(x, 0)` over
 *   every batch records the exact finite min/max per channel; then
 *   `observe(x, 1)` over the same batches fills histograms of fixed span
 *   `[min, max]` (values outside it, if the data changed, count in the edge
 *   bins). range() needs at least one pass-1 batch.
 * - Streaming (`observe(x)` without a pass, e.g. from a {@link FakeQuantizer}
 *   during QAT): one pass; each channel's histogram starts at its first
 *   batch's span and is widened exactly when later batches exceed it (see
 *   ./histogram.ts), so early batches keep a coarser resolution.
 * Mixing the two without reset() throws. The two passes can also be fed from
 * values reduced and binned elsewhere (the native calibration, in
 * onnxruntime): observeBatchRange (pass 0), then histogramGrid() for the
 * bins and observeBatchCounts (pass 1) — the same state as observe(x, 0/1).
 *
 * Bins: `estimator.bins` per channel; when a per-channel observer has more
 * than 256 channels, `min(bins, 512)` per channel, to bound memory
 * (C · bins float64 counts) and the O(bins²) search per channel.
 *
 * A channel whose data is a single value (min = max) gets that range as is
 * (computeQParams handles the degenerate case). NaN/±Inf are skipped and set
 * `sawNonFinite`; a channel with no finite value makes range() throw.
 * The chosen range is cached until the next observe().
 */
import type * as tf from '@tensorflow/tfjs';
import type { Estimator, QuantSpec } from '../../../api/run-config.js';
import { BaseObserver } from './base.js';
import { decodeFloats, encodeFloats, finishRange, finiteChannelMinMax } from './common.js';
import { ChannelHistograms } from './histogram.js';
import type { BatchMinMax } from './reduce.js';
import { entropyRange, mseRange, percentileRange, type ChannelHistogram } from './search.js';
import type { HistogramState, MinMaxState } from './types.js';

/** Channels above which per-channel histograms get at most {@link MANY_CHANNEL_BINS} bins. */
export const MANY_CHANNELS = 256;
export const MANY_CHANNEL_BINS = 512;

export function binsPerChannel(bins: number, channels: number): number {
  return channels > MANY_CHANNELS ? Math.min(bins, MANY_CHANNEL_BINS) : bins;
}

export class HistogramObserver extends BaseObserver {
  readonly passes = 2 as const;
  private mode: HistogramState['mode'] = 'none';
  private pass1Batches = 0;
  private min: Float64Array = new Float64Array(0);
  private max: Float64Array = new Float64Array(0);
  private hist: ChannelHistograms | null = null;
  private cached: { min: Float32Array; max: Float32Array } | null = null;

  constructor(estimator: Estimator, spec: QuantSpec, axis: number | undefined, name: string | undefined) {
    super(estimator, spec, axis, name);
    if (!['percentile', 'mse', 'entropy'].includes(estimator.kind)) throw new Error(`HistogramObserver cannot estimate '${estimator.kind}'`);
  }

  private get abs(): boolean {
    return this.spec.symmetric;
  }

  observe(x: tf.Tensor, pass?: number): void {
    if (pass !== undefined && pass !== 0 && pass !== 1) throw new Error(`${this.label}: pass must be 0 or 1, got ${pass}`);
    if (x.size === 0) return;
    const channels = this.enter(pass, x.shape);
    const axis = this.guard.axis;
    if (pass === 1) {
      const h = this.pass1Histograms(channels);
      if (h.fill(x.dataSync(), x.shape, axis)) this.sawNonFinite = true;
      this.pass1Batches++;
      return;
    }
    const r = finiteChannelMinMax(x, axis);
    if (r === null) return;
    this.takeRange(channels, r);
    if (pass === undefined) {
      const h = this.histograms(channels);
      for (let c = 0; c < channels; c++) if (this.min[c]! <= this.max[c]!) h.grow(c, this.lower(c), this.upper(c));
      h.fill(x.dataSync(), x.shape, axis);
    }
  }

  /**
   * Pass 0 with a batch reduced elsewhere (the native calibration reduces in
   * onnxruntime): `r` is the batch's per-channel min/max over its finite
   * values, on the axis this observer resolves against `shape`. Same update as
   * observe(x, 0).
   */
  observeBatchRange(shape: readonly number[], r: BatchMinMax): void {
    if (shape.reduce((a, b) => a * b, 1) === 0) return;
    const channels = this.enter(0, shape);
    if (r.min.length !== channels || r.max.length !== channels) {
      throw new Error(`${this.label}: batch range has ${r.min.length} minima, ${r.max.length} maxima for ${channels} channels`);
    }
    this.takeRange(channels, r);
  }

  /**
   * Pass 1's bins, fixed from the pass-0 extremes exactly as the first
   * observe(x, 1) fixes them: channel c's bin k is `[lo + k·width, lo +
   * (k+1)·width)` (the bin index is `(v − lo) / width` in float64, see
   * ./histogram.ts); width NaN: the channel saw no finite value and is not
   * binned. For a caller that bins pass 1 elsewhere ({@link observeBatchCounts}).
   */
  histogramGrid(shape: readonly number[]): { bins: number; abs: boolean; lo: Float64Array; width: Float64Array } {
    if (this.batches === 0 || this.mode !== 'passes') throw new Error(`${this.label}: the histogram grid needs pass 0 first`);
    const h = this.pass1Histograms(this.guard.check(shape));
    return { bins: h.bins, abs: h.abs, lo: Float64Array.from(h.lo), width: Float64Array.from(h.width) };
  }

  /**
   * Pass 1 with a batch binned elsewhere on {@link histogramGrid}: `counts[c ·
   * bins + k]` is added to channel c's bin k (channels without a span are
   * skipped, as fill() skips them); `nonFinite`: the batch held NaN/±Inf,
   * which were not binned. Same update as observe(x, 1).
   */
  observeBatchCounts(shape: readonly number[], counts: ArrayLike<number>, nonFinite: boolean): void {
    if (shape.reduce((a, b) => a * b, 1) === 0) return;
    const channels = this.enter(1, shape);
    const h = this.pass1Histograms(channels);
    if (counts.length !== channels * h.bins) throw new Error(`${this.label}: ${counts.length} bin counts for ${channels} channels of ${h.bins} bins`);
    for (let c = 0; c < channels; c++) {
      if (!h.isSet(c)) continue;
      const dst = h.channel(c);
      const base = c * h.bins;
      for (let k = 0; k < h.bins; k++) dst[k]! += counts[base + k]!;
    }
    if (nonFinite) this.sawNonFinite = true;
    this.pass1Batches++;
  }

  /** The mode checks of a non-empty batch of `pass` (undefined: streaming); returns its channel count. */
  private enter(pass: 0 | 1 | undefined, shape: readonly number[]): number {
    if (pass === undefined) {
      if (this.mode === 'passes') throw new Error(`${this.label}: observe(x) without a pass after two-pass observation; reset() first`);
      this.mode = 'streaming';
    } else {
      if (this.mode === 'streaming') throw new Error(`${this.label}: observe(x, ${pass}) after streaming observation; reset() first`);
      if (pass === 0 && this.pass1Batches > 0) throw new Error(`${this.label}: pass 0 after pass 1 has started; reset() first`);
      if (pass === 1 && this.batches === 0) throw new Error(`${this.label}: pass 1 before any pass-0 batch`);
      this.mode = 'passes';
    }
    this.cached = null;
    return this.guard.check(shape);
  }

  /** Folds a batch's finite extremes into the running ones (pass 0, streaming). */
  private takeRange(channels: number, r: BatchMinMax): void {
    if (r.nonFinite) this.sawNonFinite = true;
    if (this.min.length !== channels) {
      this.min = new Float64Array(channels).fill(Infinity);
      this.max = new Float64Array(channels).fill(-Infinity);
    }
    for (let c = 0; c < channels; c++) {
      if (r.min[c]! < this.min[c]!) this.min[c] = r.min[c]!;
      if (r.max[c]! > this.max[c]!) this.max[c] = r.max[c]!;
    }
    this.batches++;
  }

  /** The histograms of pass 1, their spans fixed from the pass-0 extremes before its first batch. */
  private pass1Histograms(channels: number): ChannelHistograms {
    const h = this.histograms(channels);
    if (this.pass1Batches === 0) {
      for (let c = 0; c < channels; c++) if (this.min[c]! <= this.max[c]!) h.setSpan(c, this.lower(c), this.upper(c));
    }
    return h;
  }

  /** Histogram span of channel c from the data extremes. */
  private lower(c: number): number {
    return this.abs ? 0 : this.min[c]!;
  }

  private upper(c: number): number {
    return this.abs ? Math.max(Math.abs(this.min[c]!), Math.abs(this.max[c]!)) : this.max[c]!;
  }

  private histograms(channels: number): ChannelHistograms {
    if (!this.hist) this.hist = new ChannelHistograms(channels, binsPerChannel(this.estimator.bins, channels), this.abs);
    return this.hist;
  }

  range(): { min: Float32Array; max: Float32Array } {
    if (this.cached) return { min: this.cached.min.slice(), max: this.cached.max.slice() };
    finishRange(this.label, this.min, this.max, this.batches);
    if (this.mode === 'passes' && this.pass1Batches === 0) {
      throw new Error(`${this.label}: pass 0 is done but pass 1 never ran; observe the same batches again with observe(x, 1)`);
    }
    const C = this.min.length;
    const min = new Float32Array(C);
    const max = new Float32Array(C);
    const h = this.hist!;
    for (let c = 0; c < C; c++) {
      const dataMin = this.min[c]!;
      const dataMax = this.max[c]!;
      let r: [number, number];
      if (dataMin === dataMax || !h.isSet(c) || h.width[c] === 0) {
        r = [dataMin, dataMax];
      } else {
        const ch: ChannelHistogram = { counts: h.channel(c), lo: h.lo[c]!, width: h.width[c]!, abs: this.abs, dataMin, dataMax };
        switch (this.estimator.kind) {
          case 'percentile':
            r = percentileRange(ch, this.estimator.percentile);
            break;
          case 'mse':
            r = mseRange(ch, this.spec);
            break;
          default:
            r = entropyRange(ch, this.spec);
        }
      }
      min[c] = r[0];
      max[c] = r[1];
      // float32 rounding must not put min above max (or a range off the data).
      if (min[c]! > max[c]!) max[c] = min[c]!;
    }
    this.cached = { min, max };
    return { min: min.slice(), max: max.slice() };
  }

  /** The raw per-channel histograms (for charts / tests); null before any histogram was filled. */
  histogram(c = 0): ChannelHistogram | null {
    if (!this.hist || !this.hist.isSet(c)) return null;
    return { counts: this.hist.channel(c).slice(), lo: this.hist.lo[c]!, width: this.hist.width[c]!, abs: this.abs, dataMin: this.min[c]!, dataMax: this.max[c]! };
  }

  protected clear(): void {
    this.mode = 'none';
    this.pass1Batches = 0;
    this.min = new Float64Array(0);
    this.max = new Float64Array(0);
    this.hist = null;
    this.cached = null;
  }

  state(): HistogramState {
    const h = this.hist;
    return {
      type: 'histogram',
      mode: this.mode,
      batches: this.batches,
      pass1Batches: this.pass1Batches,
      sawNonFinite: this.sawNonFinite,
      ...(this.guard.channels > 0 && this.guard.axis !== undefined ? { axis: this.guard.axis } : {}),
      channels: this.guard.channels,
      min: encodeFloats(this.min),
      max: encodeFloats(this.max),
      bins: h ? h.bins : binsPerChannel(this.estimator.bins, Math.max(1, this.guard.channels)),
      ...(h
        ? {
            lo: Array.from(h.lo),
            // NaN (unset span) is not JSON: −1 marks it (a real width is ≥ 0).
            width: Array.from(h.width, (w) => (Number.isNaN(w) ? -1 : w)),
            counts: Array.from({ length: h.channels }, (_, c) => Array.from(h.channel(c))),
          }
        : {}),
    };
  }

  restore(s: MinMaxState | HistogramState): void {
    if (s.type !== 'histogram') throw new Error(`${this.label}: cannot restore state of type '${s.type}'`);
    if (s.min.length !== s.max.length || (s.min.length !== 0 && s.min.length !== s.channels)) {
      throw new Error(`${this.label}: saved state has ${s.min.length} minima, ${s.max.length} maxima for ${s.channels} channels`);
    }
    this.clear();
    this.mode = s.mode;
    this.batches = s.batches;
    this.pass1Batches = s.pass1Batches;
    this.sawNonFinite = s.sawNonFinite;
    this.min = decodeFloats(s.min);
    this.max = decodeFloats(s.max);
    this.guard.restore(s.axis, s.channels);
    if (s.counts && s.lo && s.width) {
      if (s.counts.length !== s.channels || s.lo.length !== s.channels || s.width.length !== s.channels) {
        throw new Error(`${this.label}: saved histograms do not match ${s.channels} channels`);
      }
      const h = new ChannelHistograms(s.channels, s.bins, this.abs);
      for (let c = 0; c < s.channels; c++) {
        if (s.counts[c]!.length !== s.bins) throw new Error(`${this.label}: saved histogram ${c} has ${s.counts[c]!.length} bins, expected ${s.bins}`);
        h.lo[c] = s.lo[c]!;
        h.width[c] = s.width[c]! < 0 ? NaN : s.width[c]!;
        h.channel(c).set(s.counts[c]!);
      }
      this.hist = h;
    }
  }
}
