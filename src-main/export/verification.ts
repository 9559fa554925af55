/** What an export's verification records: the runtime's outputs against the studio's simulation of the same file. */
import type { IntegerUnavailable, IntegerVerification } from '../engine/integer/agreement.js';
import type { OutputComparison } from '../engine/eval-samples.js';
import type { LayerDiffReport } from './diff/layer-diff.js';

/** Which runtime simulated the export, what it computed, and how. */
export interface SimulationRecord {
  runtime: 'onnxruntime' | 'tfjs';
  /** What the simulation computes: rounding, biases, grids, the graph. */
  description: string;
  /** Why not onnxruntime, when the simulation ran on TensorFlow.js. */
  reason?: string;
  batchSize: number;
  /** Wall seconds of the simulation: building its graph, the session, every batch. */
  seconds: number;
  threads?: number;
  provider?: string;
}

/** A runtime's outputs on the eval samples against the studio's simulation of the same file. */
export interface Verification extends OutputComparison {
  runtime: string;
  /** The runtime's settings that decide its numerics. */
  settings: Record<string, unknown>;
  /** The studio simulation compared against: its runtime, what it computes, batches and time. */
  simulation: SimulationRecord;
  seconds: number;
  /**
   * The studio's integer reference (engine/integer: int8 kernels, int32
   * accumulators, TFLite fixed-point requantization) on the same samples:
   * its accuracy and top-1 agreement with this runtime and with the
   * simulation; or why the model has no integer form. Informative: it does
   * not decide `passed`.
   */
  integer?: IntegerVerification | IntegerUnavailable;
  /** Every quantized tensor of the file against the simulation's, in the model's order (export/diff/layer-diff.ts). */
  layerDiff?: LayerDiffReport;
}
