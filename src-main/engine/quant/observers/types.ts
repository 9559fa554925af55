/**
 * The observer contract (torch.ao's `ObserverBase` shape): watch batches,
 * report a range, turn it into qparams through the one shared
 * {@link computeQParams} path. Per-channel is the same observer with an axis.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Estimator, EstimatorKind, QuantSpec } from '../../../api/run-config.js';
import type { QParams } from '../qparams.js';
import type { JsonFloat } from './common.js';

export interface Observer {
  readonly kind: EstimatorKind;
  readonly spec: QuantSpec;
  /**
   * Channel axis on the observed tensor, undefined for per-tensor. A negative
   * requested axis (e.g. −1, "last") is resolved against the first batch and
   * is non-negative from then on.
   */
  readonly axis: number | undefined;
  /** 1 for minmax/lastvalue/movingaverage; 2 for percentile/mse/entropy (pass 0 finds the range, pass 1 fills fixed histograms over it). */
  readonly passes: 1 | 2;
  /** Watches a batch; never modifies or disposes x; no gradient. Throws a clear Error if the channel count changes. */
  observe(x: tf.Tensor, pass?: number): void;
  /** The chosen range before nudging, one entry per channel (length 1 per-tensor). Throws if nothing was observed. */
  range(): { min: Float32Array; max: Float32Array };
  /** computeQParams over range() with the spec; per-channel ALWAYS gives vectors of the channel count. */
  qparams(): QParams;
  /** Number of batches seen (pass-0 or streaming batches for histogram observers). */
  readonly batches: number;
  /** Whether any batch held NaN/±Inf (those values are skipped). */
  readonly sawNonFinite: boolean;
  reset(): void;
  /** Plain JSON including state, for {@link observerFromConfig}. */
  toConfig(): ObserverConfig;
}

/** State of the one-pass observers (minmax, lastvalue, movingaverage). */
export interface MinMaxState {
  type: 'minmax';
  batches: number;
  sawNonFinite: boolean;
  /** Resolved axis (absent before the first batch or per-tensor). */
  axis?: number;
  /** Channel count fixed by the first batch; 0 before. */
  channels: number;
  min: JsonFloat[];
  max: JsonFloat[];
}

/** State of the histogram observers (percentile, mse, entropy). */
export interface HistogramState {
  type: 'histogram';
  /** 'passes': observe(x, 0) then observe(x, 1); 'streaming': observe(x) growing histograms; 'none' before any batch. */
  mode: 'none' | 'passes' | 'streaming';
  batches: number;
  pass1Batches: number;
  sawNonFinite: boolean;
  axis?: number;
  channels: number;
  /** Exact finite data min / max per channel (pass 0, or all streaming batches). */
  min: JsonFloat[];
  max: JsonFloat[];
  /** Histograms: bins per channel, then per channel its low edge, bin width and counts (absent until built). */
  bins: number;
  lo?: number[];
  width?: number[];
  counts?: number[][];
}

export interface ObserverConfig {
  version: 1;
  estimator: Estimator;
  spec: QuantSpec;
  /** The axis as requested (opts.axis), possibly negative. */
  axis?: number;
  name?: string;
  state: MinMaxState | HistogramState;
}
