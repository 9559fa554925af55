/**
 * The main process's side of an export: the payload read from the store and
 * sent to the engine worker, and the finished export stored. No writer is
 * imported here (./formats.ts says why).
 */
import { isEmpirical, type Recovery, type RunConfig } from '../api/run-config.js';
import type { Store } from '../store/index.js';
import type { ExportRecord } from '../store/exports.js';
import type { TensorResult } from '../engine/results.js';
import { ExportError } from './errors.js';
import type { ExportFormat, ExportOptions, ExportResult } from './types.js';

/** Plain data sent to the engine worker. */
export interface ExportPayload {
  runId: number;
  modelName: string;
  model: Uint8Array;
  config: RunConfig;
  dataset: { name?: string; path: string; format: string; preprocessing: Record<string, unknown> };
  records: TensorResult[];
  /** The bias shifts of the run's empirical bias correction (its summary): the export applies them as the run did. */
  biasShifts?: { layer: string; shift: number[] }[];
  /** The kernels' AdaRound choices (the run's summary): the export rounds them as the run did. */
  adaround?: { layer: string; rounding: string }[];
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
  const recovery = (
    store.runs.detail(runId)?.summary as
      | { recovery?: { biasCorrection?: { kind: string; layers: { layer: string; shift: number[] }[] } | null; adaround?: { layers: { layer: string; rounding: string }[] } | null } }
      | undefined
  )?.recovery;
  const empirical = recovery?.biasCorrection && isEmpirical(recovery.biasCorrection.kind as Recovery['biasCorrection']) ? recovery.biasCorrection.layers : undefined;
  if (isEmpirical(run.config.recovery?.biasCorrection) && !empirical) {
    throw new ExportError(`run ${runId} asked for ${run.config.recovery!.biasCorrection} bias correction but its summary holds no bias shifts`, 'run');
  }
  const adaround = recovery?.adaround?.layers;
  if (run.config.recovery?.adaround && !adaround) throw new ExportError(`run ${runId} asked for AdaRound but its summary holds no rounding`, 'run');
  return {
    runId,
    modelName: run.modelName,
    model: artifact.bytes,
    config: run.config,
    dataset: { name: ds.name, path: ds.path, format: ds.format, preprocessing: ds.preprocessing },
    records,
    ...(empirical ? { biasShifts: empirical.map((l) => ({ layer: l.layer, shift: l.shift })) } : {}),
    ...(adaround ? { adaround: adaround.map((l) => ({ layer: l.layer, rounding: l.rounding })) } : {}),
    format,
    path: dest,
    options,
  };
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
