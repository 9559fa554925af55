/**
 * What a run produces, as the engine hands it over: one record per quantized
 * tensor (per-channel vectors beside it), histograms, metrics, the summary,
 * training curve points. The store persists these types; the engine never
 * imports the store.
 */
import type { LintFinding, SensitivityLayer, TensorRecord } from '../api/records.js';

export interface ChannelVectors {
  min: Float32Array;
  max: Float32Array;
  scale: Float32Array;
  zeroPoint: Int32Array;
  sqnr: Float32Array | null;
}

export interface TensorResult extends TensorRecord {
  /** Per-channel vectors, each `channels` long; sqnr optional. */
  perChannel?: (Omit<ChannelVectors, 'sqnr'> & { sqnr?: Float32Array | null }) | null;
}

export interface Histogram {
  layer: string;
  role: string;
  /** Edges of the histogram: left of the first bin, right of the last. */
  lo: number;
  hi: number;
  /** The quantization range chosen from it. */
  rangeMin: number;
  rangeMax: number;
  counts: Float32Array | Uint32Array;
}

/** Metrics left undefined or null keep their stored value; NaN counts as null (SQLite cannot store it). */
export interface RunMetrics {
  floatAccuracy?: number | null;
  quantAccuracy?: number | null;
  floatLoss?: number | null;
  quantLoss?: number | null;
}

export interface RunResults extends RunMetrics {
  tensors: TensorResult[];
  histograms?: Histogram[];
  /** A sensitivity run's layers (engine/sensitivity). */
  sensitivity?: SensitivityLayer[];
  /** Defaults to 'done'. */
  status?: 'done' | 'failed' | 'cancelled';
  /** Replaces the stored summary when given. */
  summary?: Record<string, unknown>;
  /** Replaces the stored lint findings when given. */
  lint?: LintFinding[];
  error?: string | null;
}

export interface QuantizerRange {
  min: number;
  max: number;
}

export interface CurvePoint {
  step: number;
  /** Fractional epochs allowed (step / steps per epoch). */
  epoch: number;
  split: 'train' | 'val';
  /** NaN (a diverged step) reads back as null. */
  loss: number | null;
  accuracy: number | null;
  /** Quantizer name -> its range at this step; null when not logged. */
  ranges?: Record<string, QuantizerRange> | null;
}
