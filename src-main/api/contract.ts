/**
 * The one contract between the renderer and the Node side. Every call and
 * every event is named here with a zod schema; both hosts (Electron IPC and
 * the 127.0.0.1 web host) validate inputs against it in `dispatch.ts`, and the
 * renderer imports only the types (`import type`).
 */
import { z } from 'zod';
import { RunConfig } from './run-config.js';

export const BackendName = z.enum(['tensorflow', 'wasm', 'cpu']);

export const BackendInfo = z.object({
  name: BackendName,
  /** Why each better backend was not used, e.g. "tfjs-node: Cannot find module". */
  fallbacks: z.array(z.object({ name: BackendName, reason: z.string() })),
  threads: z.number().int(),
});
export type BackendInfo = z.infer<typeof BackendInfo>;

export const AppInfo = z.object({
  version: z.string(),
  host: z.enum(['electron', 'web', 'cli']),
  backend: BackendInfo,
  dbPath: z.string(),
  dataDir: z.string(),
  schemaVersion: z.number().int(),
  node: z.string(),
});
export type AppInfo = z.infer<typeof AppInfo>;

const Id = z.number().int().positive();
const ShapeSchema = z.array(z.number().int());

export const LayerSummary = z.object({
  name: z.string(),
  op: z.string(),
  inputs: z.array(z.string()),
  outputShape: ShapeSchema,
  params: z.number().int(),
  weightShapes: z.record(z.string(), ShapeSchema),
  activation: z.string().optional(),
});
export type LayerSummary = z.infer<typeof LayerSummary>;

export const ModelSummary = z.object({
  id: Id,
  name: z.string(),
  source: z.enum(['builtin', 'imported']),
  format: z.string(),
  path: z.string().nullable(),
  sha256: z.string(),
  inputShape: ShapeSchema,
  numClasses: z.number().int(),
  layerCount: z.number().int(),
  paramCount: z.number().int(),
  description: z.string(),
  createdAt: z.string(),
});
export type ModelSummary = z.infer<typeof ModelSummary>;

export const ModelDetail = ModelSummary.extend({ layers: z.array(LayerSummary) });
export type ModelDetail = z.infer<typeof ModelDetail>;

export const BuiltinModel = z.object({
  name: z.string(),
  description: z.string(),
  imported: z.boolean(),
});

export const DatasetSummary = z.object({
  id: Id,
  name: z.string(),
  source: z.enum(['builtin', 'imported']),
  format: z.string(),
  path: z.string().nullable(),
  count: z.number().int(),
  inputShape: ShapeSchema,
  numClasses: z.number().int(),
  description: z.string(),
  createdAt: z.string(),
});
export type DatasetSummary = z.infer<typeof DatasetSummary>;

export const RunKind = z.enum(['ptq', 'qat', 'float']);
export const RunStatus = z.enum(['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted']);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunSummary = z.object({
  id: Id,
  name: z.string(),
  kind: RunKind,
  status: RunStatus,
  modelId: Id,
  modelName: z.string(),
  datasetId: Id,
  datasetName: z.string(),
  parentId: Id.nullable(),
  backend: z.string().nullable(),
  floatAccuracy: z.number().nullable(),
  quantAccuracy: z.number().nullable(),
  floatLoss: z.number().nullable(),
  quantLoss: z.number().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  config: RunConfig,
});
export type RunSummary = z.infer<typeof RunSummary>;

export const TensorRecord = z.object({
  layer: z.string(),
  /** weight | activation | input | bias */
  role: z.string(),
  granularity: z.enum(['per-tensor', 'per-channel']),
  axis: z.number().int().nullable(),
  bits: z.number().int(),
  symmetric: z.boolean(),
  narrowRange: z.boolean(),
  channels: z.number().int(),
  min: z.number(),
  max: z.number(),
  scale: z.number(),
  zeroPoint: z.number(),
  sqnr: z.number().nullable(),
  clipRate: z.number().nullable(),
});
export type TensorRecord = z.infer<typeof TensorRecord>;

export const LintFinding = z.object({
  severity: z.enum(['error', 'warning', 'info']),
  layer: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  fix: z.string(),
});
export type LintFinding = z.infer<typeof LintFinding>;

export const RunDetail = RunSummary.extend({
  tensors: z.array(TensorRecord),
  lint: z.array(LintFinding),
  summary: z.record(z.string(), z.unknown()),
});
export type RunDetail = z.infer<typeof RunDetail>;

export const JobProgress = z.object({
  runId: Id,
  phase: z.string(),
  done: z.number(),
  total: z.number(),
  /** Seconds left, estimated from the phase's rate so far; null until measurable. */
  etaSeconds: z.number().nullable(),
  message: z.string().optional(),
});
export type JobProgress = z.infer<typeof JobProgress>;

const Empty = z.object({}).strict();

/** Every call: name -> input and output schemas. */
export const methods = {
  'app.info': { input: Empty, output: AppInfo },
  'models.list': { input: Empty, output: z.array(ModelSummary) },
  'models.get': { input: z.object({ id: Id }).strict(), output: ModelDetail },
  'models.builtins': { input: Empty, output: z.array(BuiltinModel) },
  'models.importBuiltin': { input: z.object({ name: z.string().min(1) }).strict(), output: ModelSummary },
  'datasets.list': { input: Empty, output: z.array(DatasetSummary) },
  'runs.list': { input: Empty, output: z.array(RunSummary) },
  'runs.get': { input: z.object({ id: Id }).strict(), output: RunDetail },
  'runs.start': {
    input: z.object({ kind: RunKind, name: z.string().min(1).max(200).optional(), config: RunConfig, parentId: Id.optional() }).strict(),
    output: RunSummary,
  },
  'runs.cancel': { input: z.object({ id: Id }).strict(), output: z.object({ cancelled: z.boolean() }) },
  'runs.rename': { input: z.object({ id: Id, name: z.string().min(1).max(200) }).strict(), output: RunSummary },
  'runs.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean() }) },
} as const;

/** Every event pushed from the Node side to the renderer. */
export const events = {
  'job.progress': JobProgress,
  'runs.changed': z.object({ id: Id, status: RunStatus }),
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = z.infer<Methods[M]['output']>;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.infer<(typeof events)[E]>;
export const methodNames = Object.keys(methods) as MethodName[];

/** Error shape that crosses both hosts. */
export interface ApiErrorShape {
  code: 'unknown_method' | 'invalid_input' | 'not_found' | 'conflict' | 'failed';
  message: string;
}
