/**
 * What the engine worker can do: long jobs (with progress and cancel) and
 * quick calls. Each entry is a thin adapter from a plain-data payload to an
 * engine function; the engine itself knows nothing about workers.
 */
import type { JobContext } from './protocol.js';
import { RunConfig } from '../api/run-config.js';
import { builtinDescription, builtinModels, builtinModel } from '../io/models/builtins.js';
import { readModelFile } from '../io/models/registry.js';
import { describeDataset } from '../io/data/dataset.js';
import { deserializeGraph, serializeGraph } from '../engine/graph/serialize.js';
import { lintModel } from '../engine/lint.js';
import { explainVariables } from '../engine/qat/variables.js';
import { runPtq, type PtqPayload } from '../engine/ptq/run.js';
import { runQat } from '../engine/qat/run.js';
import { runSensitivity } from '../engine/sensitivity/run.js';
import { runFloatTraining } from '../engine/train/float-run.js';
import type { ExportPayload } from '../export/payload.js';
import { runExportJob } from './export-job.js';

export type JobRunner = (payload: any, ctx: JobContext) => Promise<unknown>;
export type CallRunner = (args: any) => Promise<unknown>;

export const jobs: Record<string, JobRunner> = {
  ptq: (payload: PtqPayload, ctx) => runPtq(payload, ctx),
  float: (payload, ctx) => runFloatTraining(payload, ctx),
  qat: (payload, ctx) => runQat(payload, ctx),
  sensitivity: (payload: PtqPayload, ctx) => runSensitivity(payload, ctx),
  export: (payload: ExportPayload, ctx) => runExportJob(payload, ctx),
};

export const calls: Record<string, CallRunner> = {
  builtinCatalog: async () => builtinModels.map((m) => ({ name: m.name, description: builtinDescription(m) })),
  buildBuiltin: async ({ name }: { name: string }) => serializeGraph(builtinModel(name).build()),
  readModel: async ({ path }: { path: string }) => {
    const read = await readModelFile(path);
    return { bytes: serializeGraph(read.graph), format: read.format, name: read.name };
  },
  describeDataset: async ({ path, preprocessing }: { path: string; preprocessing: Record<string, unknown> }) => describeDataset(path, preprocessing),
  explain: async ({ model, config }: { model: Uint8Array; config: unknown }) => explainVariables(deserializeGraph(model), RunConfig.parse(config)),
  lint: async ({ kind, config, model }: { kind: 'ptq' | 'qat' | 'float' | 'sensitivity'; config: unknown; model: Uint8Array }) => {
    // lintModel folds BatchNorm itself, so it can say which BN folds where; a sensitivity run quantizes as PTQ does.
    return lintModel(deserializeGraph(model), RunConfig.parse(config), { kind: kind === 'sensitivity' ? 'ptq' : kind });
  },
};
