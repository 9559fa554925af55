/**
 * What the engine worker can do: long jobs (with progress and cancel) and
 * quick calls. Each entry is a thin adapter from a plain-data payload to an
 * engine function; the engine itself knows nothing about workers.
 */
import type { JobContext } from './protocol.js';
import type { PtqPayload } from '../engine/ptq/run.js';
import type { ExportPayload } from '../export/payload.js';

// Each entry loads its modules on first use: a worker that runs a PTQ job does not compile the trainer,
// the exporters or the sensitivity graphs (a third of the engine's modules; the job's process is timed).
const graphs = () => import('../engine/graph/serialize.js');
const builtins = () => import('../io/models/builtins.js');
const config = async () => (await import('../api/run-config.js')).RunConfig;

export type JobRunner = (payload: any, ctx: JobContext) => Promise<unknown>;
export type CallRunner = (args: any) => Promise<unknown>;

export const jobs: Record<string, JobRunner> = {
  ptq: async (payload: PtqPayload, ctx) => (await import('../engine/ptq/run.js')).runPtq(payload, ctx),
  float: async (payload, ctx) => (await import('../engine/train/float-run.js')).runFloatTraining(payload, ctx),
  qat: async (payload, ctx) => (await import('../engine/qat/run.js')).runQat(payload, ctx),
  sensitivity: async (payload: PtqPayload, ctx) => (await import('../engine/sensitivity/run.js')).runSensitivity(payload, ctx),
  export: async (payload: ExportPayload, ctx) => (await import('./export-job.js')).runExportJob(payload, ctx),
};

export const calls: Record<string, CallRunner> = {
  builtinCatalog: async () => {
    const { builtinDescription, builtinModels } = await builtins();
    return builtinModels.map((m) => ({ name: m.name, description: builtinDescription(m) }));
  },
  buildBuiltin: async ({ name }: { name: string }) => (await graphs()).serializeGraph((await builtins()).builtinModel(name).build()),
  readModel: async ({ path }: { path: string }) => {
    const read = await (await import('../io/models/registry.js')).readModelFile(path);
    return { bytes: (await graphs()).serializeGraph(read.graph), format: read.format, name: read.name };
  },
  describeDataset: async ({ path, preprocessing }: { path: string; preprocessing: Record<string, unknown> }) => (await import('../io/data/dataset.js')).describeDataset(path, preprocessing),
  explain: async ({ model, config: c }: { model: Uint8Array; config: unknown }) =>
    (await import('../engine/qat/variables.js')).explainVariables((await graphs()).deserializeGraph(model), (await config()).parse(c)),
  lint: async ({ kind, config: c, model }: { kind: 'ptq' | 'qat' | 'float' | 'sensitivity'; config: unknown; model: Uint8Array }) => {
    // lintModel folds BatchNorm itself, so it can say which BN folds where; a sensitivity run quantizes as PTQ does.
    return (await import('../engine/lint.js')).lintModel((await graphs()).deserializeGraph(model), (await config()).parse(c), { kind: kind === 'sensitivity' ? 'ptq' : kind });
  },
};
