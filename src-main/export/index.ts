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
import type { Store } from '../store/index.js';
import type { TensorResult } from '../store/tensors.js';
import type { ExportRecord } from '../store/exports.js';
import { ExportError } from './errors.js';
import { exportOnnx } from './onnx/index.js';
import { exportParams } from './params.js';
import { qparamsFromRecords } from './qparams-from-record.js';
import { exportTfjs } from './tfjs.js';
import { exportTflite } from './tflite/index.js';
import { EXPORT_FORMATS, type ExportFormat, type ExportInput, type ExportOptions, type ExportPhase, type ExportResult } from './types.js';
import { samplesFromPart } from './verify.js';

export { ExportError } from './errors.js';
export type { ExportFormat, ExportInput, ExportOptions, ExportPhase, ExportResult } from './types.js';

export interface FormatEntry {
  format: ExportFormat;
  description: string;
  /** What the destination is: a file with this extension, or a folder. */
  target: { kind: 'file'; extension: string } | { kind: 'folder' };
  write(input: ExportInput, dest: string, opts: ExportOptions): Promise<ExportResult>;
}

export const exportFormats: Record<ExportFormat, FormatEntry> = {
  onnx: { format: 'onnx', description: 'ONNX QDQ (opset 13), verified in onnxruntime-node', target: { kind: 'file', extension: '.onnx' }, write: exportOnnx },
  tflite: { format: 'tflite', description: 'TensorFlow Lite full-integer int8 (float input/output), verified in the TFLite interpreter (wasm)', target: { kind: 'file', extension: '.tflite' }, write: exportTflite },
  tfjs: { format: 'tfjs', description: 'TensorFlow.js layers model with uint8/uint16 weights, verified with tf.loadLayersModel', target: { kind: 'folder' }, write: exportTfjs },
  params: { format: 'params', description: 'scales and zero points as JSON (+ CSV beside it)', target: { kind: 'file', extension: '.json' }, write: exportParams },
};

export function isExportFormat(f: string): f is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(f);
}

/** Plain data sent to the engine worker. */
export interface ExportPayload {
  runId: number;
  modelName: string;
  model: Uint8Array;
  config: RunConfig;
  dataset: { name?: string; path: string; format: string; preprocessing: Record<string, unknown> };
  records: TensorResult[];
  format: ExportFormat;
  path: string;
  options: ExportOptions;
}

/** Everything an export of run `runId` needs from the store; throws ExportError('run') if the run cannot be exported. */
export function exportPayloadFromStore(store: Store, runId: number, format: ExportFormat, dest: string, options: ExportOptions = {}): ExportPayload {
  const run = store.runs.get(runId);
  if (!run) throw new ExportError(`run ${runId} does not exist`, 'run');
  if (run.status !== 'done') throw new ExportError(`run ${runId} is ${run.status}; only a finished run can be exported`, 'run');
  if (run.kind === 'float') throw new ExportError(`run ${runId} is a float-training run: it has no quantization ranges; export a PTQ or QAT run of its trained model`, 'run');
  // A QAT run's records belong to the weights it trained, which the run put in the library.
  const trainedId = run.kind === 'qat' ? (store.runs.detail(runId)?.summary as { trainedModelId?: number } | undefined)?.trainedModelId : undefined;
  if (run.kind === 'qat' && !trainedId) throw new ExportError(`QAT run ${runId} has no trained model in the library`, 'run');
  const artifact = store.models.artifact(trainedId ?? run.modelId);
  if (!artifact?.bytes) throw new ExportError(`model ${run.modelName} of run ${runId} has no stored weights`, 'run');
  const ds = store.datasets.getStored(run.datasetId);
  if (!ds?.path) throw new ExportError(`dataset ${run.datasetName} of run ${runId} has no path`, 'run');
  const records: TensorResult[] = store.tensors.tensors(runId).map((t) => {
    const pc = t.granularity === 'per-channel' ? store.tensors.channels(runId, t.layer, t.role) : undefined;
    return { ...t, perChannel: pc ?? null };
  });
  return {
    runId,
    modelName: run.modelName,
    model: artifact.bytes,
    config: run.config,
    dataset: { name: ds.name, path: ds.path, format: ds.format, preprocessing: ds.preprocessing },
    records,
    format,
    path: dest,
    options,
  };
}

/**
 * Rebuilds the export input of a stored run (in the worker): folded graph,
 * plan, qparams from the records, and on request the run's eval split
 * (verification) and its calibration split (formats that must range a tensor
 * the run did not, such as TFLite's logits before a fused softmax).
 */
export function exportInputFromPayload(p: ExportPayload, withSamples: boolean, withCalibration = false): ExportInput {
  const config = RunConfig.parse(p.config);
  const { graph, plan } = prepare(p.model, config, { modelName: p.modelName });
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

/** Stores a finished export; the audit and verification go in as JSON. */
export function storeExport(store: Store, runId: number, r: ExportResult): ExportRecord {
  return store.exports.insert({
    runId,
    format: r.format,
    path: r.path,
    size: r.size,
    sha256: r.sha256,
    verification: { ...(r.verification ?? {}), extraPaths: r.extraPaths },
    audit: r.audit,
  });
}
