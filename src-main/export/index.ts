/**
 * Export of a finished run: one writer per format, registered in one table
 * (onnx: QDQ .onnx file; tflite: full-integer .tflite file; tfjs: folder with model.json + shard; params: JSON +
 * CSV sidecar), each writing atomically, auditing the file read back, and
 * verifying it in its runtime on the run's eval split.
 *
 * Two halves, so the heavy part runs in the engine worker: the main thread
 * collects a plain-data payload from the store (exportPayloadFromStore), the
 * worker rebuilds graph, plan, qparams and eval samples and writes the file
 * (runExport), the main thread stores the result in the exports table.
 */
import { prepare } from '../engine/prepare.js';
import { RunConfig } from '../api/run-config.js';
import { inputNode } from '../engine/graph/types.js';
import { loadDataset, sampleSplit, type LoadedPart } from '../io/data/dataset.js';
import { ExportError } from './errors.js';
import { formatInfo, type FormatInfo } from './formats.js';
import type { ExportPayload } from './payload.js';
import { exportOnnx } from './onnx/index.js';
import { exportParams } from './params.js';
import { qparamsFromRecords } from './qparams-from-record.js';
import { exportTfjs } from './tfjs.js';
import { exportTflite } from './tflite/index.js';
import { EXPORT_FORMATS, type ExportFormat, type ExportInput, type ExportOptions, type ExportPhase, type ExportResult } from './types.js';
import { samplesFromPart } from '../engine/eval-samples.js';
import { TargetRuleError } from '../engine/targets/rules.js';

export { ExportError } from './errors.js';
export { isExportFormat } from './formats.js';
export { exportPayloadFromStore, storeExport, type ExportPayload } from './payload.js';
export type { ExportFormat, ExportInput, ExportOptions, ExportPhase, ExportResult } from './types.js';

export interface FormatEntry extends FormatInfo {
  write(input: ExportInput, dest: string, opts: ExportOptions): Promise<ExportResult>;
}

export const exportFormats: Record<ExportFormat, FormatEntry> = {
  onnx: { ...formatInfo.onnx, write: exportOnnx },
  tflite: { ...formatInfo.tflite, write: exportTflite },
  tfjs: { ...formatInfo.tfjs, write: exportTfjs },
  params: { ...formatInfo.params, write: exportParams },
};

/**
 * Rebuilds the export input of a stored run (in the worker): folded graph,
 * plan, qparams from the records, and on request the run's eval split
 * (verification) and its calibration split (formats that must range a tensor
 * the run did not, such as TFLite's logits before a fused softmax).
 */
export function exportInputFromPayload(p: ExportPayload, withSamples: boolean, withCalibration = false): ExportInput {
  const config = RunConfig.parse(p.config);
  const { graph, plan } = targetRefusal(() => prepare(p.model, config, { modelName: p.modelName, ...(p.biasShifts ? { biasShifts: p.biasShifts } : {}), ...(p.adaround ? { adaround: p.adaround } : {}) }));
  const qparams = qparamsFromRecords(plan, p.records);
  const shape = inputNode(graph).outputShape;
  const data = withSamples || withCalibration ? loadDataset(p.dataset) : null;
  // The same splits the run used (sampleSplit with the run's counts and seeds).
  // Read from the dataset batch by batch as verification goes (EvalSamples.batch), never held whole.
  const split = (part: LoadedPart, count: number, seed: number) => samplesFromPart(part, sampleSplit(count, part.count, seed, part.imagesFile), shape);
  const samples = data && withSamples ? split(data.parts.test, config.eval.count, config.eval.seed) : undefined;
  const calibration = data && withCalibration ? split(data.parts.train, config.calibration.count, config.calibration.seed) : undefined;
  return { runId: p.runId, modelName: p.modelName, config, graph, plan, qparams, records: p.records, ...(samples ? { samples } : {}), ...(calibration ? { calibration } : {}) };
}

/** `f()`, a run that breaks its target's rules (prepare's TargetRuleError) refused as the ExportError it is. */
function targetRefusal<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TargetRuleError) throw new ExportError(e.message, 'unsupported', { tensor: e.violation.layer }, { cause: e });
    throw e;
  }
}

/** What an export job hears of runExport: each step as it starts, and each verification batch; either may throw to stop it. */
export interface ExportHooks {
  phase?(phase: ExportPhase): void;
  batch?(stage: string, done: number, total: number): void;
}

export async function runExport(p: ExportPayload, hooks: ExportHooks = {}): Promise<ExportResult> {
  const entry = exportFormats[p.format];
  if (!entry) throw new ExportError(`unknown export format ${p.format}; one of ${EXPORT_FORMATS.join(', ')}`, 'unsupported');
  hooks.phase?.('rebuild');
  // TFLite ranges the logits of a fused softmax on the run's calibration split.
  const input = exportInputFromPayload(p, p.options.verify ?? true, p.format === 'tflite');
  if (input.samples && hooks.batch) input.samples.onBatch = hooks.batch;
  return entry.write(input, p.path, { ...p.options, ...(hooks.phase ? { onPhase: hooks.phase } : {}) });
}
