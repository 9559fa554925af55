/**
 * The two ends of a run job on the main thread: what the worker is sent
 * (model bytes, dataset reference, parsed config, lint) and how its result is
 * stored. The engine side of each kind is in registry.ts.
 */
import type { CheckpointEvent } from '../engine/train/checkpoint.js';
import { ApiError } from '../api/dispatch.js';
import type { LintFinding } from '../api/contract.js';
import { RunConfig, defaultRunName, type RunConfigInput } from '../api/run-config.js';
import type { RunResults, Store } from '../store/index.js';
import type { EngineHost } from './engine-host.js';
import type { FloatReference } from '../engine/native/float-reference.js';
import { storeModel } from '../library/models.js';
import { checkFitsModel } from '../io/data/fit.js';
import { DatasetError } from '../io/data/errors.js';

export type RunKind = 'ptq' | 'qat' | 'float' | 'sensitivity';

/** A dataset as the worker needs it: where it is and how to read it, and its library key (content and preprocessing). */
export interface DatasetRef {
  name: string;
  format: string;
  path: string;
  preprocessing: Record<string, unknown>;
  sha256: string;
}

export interface RunJobPayload {
  kind: RunKind;
  config: RunConfig;
  modelName: string;
  model: Uint8Array;
  dataset: DatasetRef;
  /** Training runs: the seed of the training order and dropout masks (config.training.seed). */
  seed?: number;
  /** PTQ runs: the model's earlier float figures (engine/native/float-reference.ts), read when the job starts. */
  floatReferences?: FloatReference[];
}

export interface PreparedRun {
  payload: RunJobPayload;
  lint: LintFinding[];
  defaultName: string;
}

export function loadModelBytes(store: Store, modelId: number): { name: string; bytes: Uint8Array } {
  const model = store.models.get(modelId);
  if (!model) throw new ApiError('not_found', `model ${modelId} does not exist`);
  const artifact = store.models.artifact(modelId);
  if (!artifact?.bytes) throw new ApiError('failed', `model ${model.name} has no stored weights`);
  return { name: model.name, bytes: artifact.bytes };
}

export function datasetRef(store: Store, datasetId: number): DatasetRef {
  const dataset = store.datasets.getStored(datasetId);
  if (!dataset) throw new ApiError('not_found', `dataset ${datasetId} does not exist`);
  if (!dataset.path) throw new ApiError('failed', `dataset ${dataset.name} has no path`);
  return { name: dataset.name, format: dataset.format, path: dataset.path, preprocessing: dataset.preprocessing, sha256: dataset.sha256 };
}

/**
 * The dataset against the model, from their stored summaries, by the rule
 * the run itself applies (io/data/fit.ts): an error finding naming both when
 * the images' shape or the label count does not fit, so lint shows it and
 * runs.start refuses before a run row exists.
 */
export function datasetFitFinding(store: Store, modelId: number, datasetId: number): LintFinding | null {
  const model = store.models.get(modelId);
  const dataset = store.datasets.getStored(datasetId);
  if (!model || !dataset) return null;
  try {
    checkFitsModel({ inputShape: dataset.inputShape, numClasses: dataset.numClasses, path: dataset.path ?? dataset.name }, model.inputShape, model.numClasses);
    return null;
  } catch (err) {
    if (!(err instanceof DatasetError)) throw err;
    return {
      severity: 'error',
      layer: null,
      code: 'dataset-mismatch',
      message: `dataset "${dataset.name}" (${dataset.inputShape.join('x')}, ${dataset.numClasses} classes) does not fit model "${model.name}" (input ${model.inputShape.join('x')}, ${model.numClasses} classes): ${err.problem}`,
      fix: `choose a dataset of ${model.inputShape.join('x')} images with at most ${model.numClasses} classes (import it with --size / preprocessing to resize), or a model made for this dataset`,
    };
  }
}

/** Reads model and dataset and lints the config; nothing is stored. */
export async function prepareRun(store: Store, engine: EngineHost, req: { kind: RunKind; config: RunConfigInput }): Promise<PreparedRun> {
  const config = RunConfig.parse(req.config);
  const model = loadModelBytes(store, config.modelId);
  const dataset = datasetRef(store, config.datasetId);
  const payload: RunJobPayload = { kind: req.kind, config, modelName: model.name, model: model.bytes, dataset, ...(config.training ? { seed: config.training.seed } : {}) };
  const fit = datasetFitFinding(store, config.modelId, config.datasetId);
  const lint = [...(fit ? [fit] : []), ...(await engine.call<LintFinding[]>('lint', { kind: req.kind, config, model: model.bytes, dataset }))];
  return { payload, lint, defaultName: defaultRunName(req.kind, model.name, config) };
}

/**
 * The payload as the worker gets it when the job leaves the queue: a PTQ run
 * takes the float figures its model's runs have stored by then (a per-channel
 * run queued behind a per-tensor one reuses that one's float evaluation).
 */
export function payloadAtStart(store: Store, payload: RunJobPayload): RunJobPayload {
  if (payload.kind !== 'ptq') return payload;
  return { ...payload, floatReferences: store.runs.floatReferences(payload.config.modelId) };
}

/** Validates everything a run needs before a row is written; lint errors stop it here. */
export async function jobPayloadFor(store: Store, engine: EngineHost, req: { kind: RunKind; config: RunConfigInput }): Promise<PreparedRun> {
  const prepared = await prepareRun(store, engine, req);
  const blocking = prepared.lint.filter((f) => f.severity === 'error');
  if (blocking.length > 0) {
    throw new ApiError('invalid_input', blocking.map((f) => `${f.layer ? `${f.layer}: ` : ''}${f.message} (${f.fix})`).join('; '));
  }
  return prepared;
}

/**
 * Stores a finished job. A float-training (or QAT) run that returns a trained
 * model puts it in the library first (deduplicated by content), named after
 * the run, so the next run can start from it.
 */
export function storeJobResult(store: Store, runId: number, _kind: RunKind, result: unknown): void {
  const { trainedModel, ...rest } = result as RunResults & { trainedModel?: Uint8Array };
  let summary = rest.summary;
  if (trainedModel) {
    const run = store.runs.get(runId);
    const model = storeModel(store, { name: run?.name ?? `run_${runId}`, source: 'imported', format: 'trained', path: null, description: `trained by run ${runId}${run ? ` (${run.name})` : ''}` }, trainedModel);
    summary = { ...(summary ?? {}), trainedModelId: model.id, trainedModelName: model.name };
  }
  store.tensors.saveRunResults(runId, { ...rest, ...(summary ? { summary } : {}), status: 'done' });
}

/**
 * Keeps the best checkpoint of a training that diverged as a model in the
 * library (the run itself is marked failed); returns a sentence for the
 * run's error message.
 */
export function storeCheckpoint(store: Store, runId: number, event: CheckpointEvent): string {
  const run = store.runs.get(runId);
  const name = `${run?.name ?? `run_${runId}`}_best_step${event.step}`;
  const model = storeModel(
    store,
    { name, source: 'imported', format: 'trained', path: null, description: `best checkpoint of run ${runId} (step ${event.step}, validation accuracy ${(event.valAccuracy * 100).toFixed(2)}%), kept when its training diverged` },
    event.model,
  );
  return `the best checkpoint so far (step ${event.step}, validation accuracy ${(event.valAccuracy * 100).toFixed(2)}%) is kept in the library as model "${model.name}" (id ${model.id})`;
}
