/** What every export format is given, and what it gives back. */
import type { RunConfig } from '../api/run-config.js';
import type { Graph } from '../engine/graph/types.js';
import type { QParams } from '../engine/quant/qparams.js';
import type { QuantPlan } from '../engine/transform/plan.js';
import type { QuantRecord } from './qparams-from-record.js';
import type { EvalSamples } from '../engine/eval-samples.js';
import type { RuntimeChoice } from '../engine/native/session.js';
import type { Verification } from './verification.js';

import type { ExportFormat } from './format-names.js';

export { EXPORT_FORMATS, type ExportFormat } from './format-names.js';

export interface ExportInput {
  runId?: number;
  modelName: string;
  config: RunConfig;
  /** The folded graph the plan was made on (float weights). */
  graph: Graph;
  plan: QuantPlan;
  /** Qparams by quantizer name (see qparamsFromRecords). */
  qparams: ReadonlyMap<string, QParams>;
  /** The run's stored records (for the parameters sidecar's ranges and SQNR). */
  records?: readonly (QuantRecord & { min?: number; max?: number; sqnr?: number | null; clipRate?: number | null; perChannel?: { min?: Float32Array; max?: Float32Array; scale: Float32Array; zeroPoint: Int32Array } | null })[];
  /** The run's eval samples, for verification. */
  samples?: EvalSamples;
  /** The run's calibration samples, for a tensor the format needs a range of that the run did not observe. */
  calibration?: EvalSamples;
}

/** Steps of an export, in order; the writers report write, audit and verify through ExportOptions.onPhase. */
export type ExportPhase = 'rebuild' | 'write' | 'audit' | 'verify' | 'store';
export const EXPORT_PHASES: readonly ExportPhase[] = ['rebuild', 'write', 'audit', 'verify', 'store'];

export interface ExportOptions {
  overwrite?: boolean;
  /** Run the written file in its runtime on the samples. Default true when samples are given. */
  verify?: boolean;
  /** Told when a step of the writer starts (an export job turns it into progress; it may throw to stop). */
  onPhase?(phase: ExportPhase): void;
  /** ONNX: the onnxruntime graph optimization level for verification. Default 'disabled'. */
  onnxOptimization?: 'disabled' | 'basic';
  /** TFLite: float input/output with QUANTIZE/DEQUANTIZE at the ends (default), or the int8 tensors themselves. */
  tfliteIo?: 'float' | 'int8';
  /** Runtime of the studio simulation the file is verified against (default: onnxruntime where it can run; see export/verify.ts). */
  simulationRuntime?: RuntimeChoice;
  /** ONNX, TFLite: with the verification, diff every quantized tensor of the file against the simulation (export/diff; default true). */
  layerDiff?: boolean;
  /** Memory budget of the simulation's batches, in bytes (default $STUDIO_MEMORY_BUDGET, else 1 GiB). */
  memoryBudget?: number;
}

export interface ExportResult {
  format: ExportFormat;
  /** The file (or folder, for tfjs) written. */
  path: string;
  /** Other files written beside it (params CSV). */
  extraPaths: string[];
  size: number;
  sha256: string;
  audit: Record<string, unknown>;
  verification: (Verification & Record<string, unknown>) | Record<string, unknown> | null;
}
