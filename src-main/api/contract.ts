/**
 * The one contract between the renderer and the Node side. Every call and
 * every event is named here with a zod schema; both hosts (Electron IPC and
 * the 127.0.0.1 web host) validate inputs against it in `dispatch.ts`, and the
 * renderer imports only the types (`import type`).
 */
import { z } from 'zod';
import { RunConfig, adaroundProblem, recoveryOn } from './run-config.js';
import { EXPORT_FORMATS, type ExportFormat } from '../export/format-names.js';
import { BackendInfo, LayerSummary, LintFinding, SensitivityLayer, TensorRecord } from './records.js';

export { BackendName, BackendInfo, LayerSummary, LintFinding, SensitivityCase, SensitivityLayer, TensorRecord } from './records.js';

export const AppInfo = z.object({
  version: z.string(),
  host: z.enum(['electron', 'web', 'cli']),
  backend: BackendInfo,
  dbPath: z.string(),
  dataDir: z.string(),
  schemaVersion: z.number().int(),
  node: z.string(),
  /** Where the engine computes: the memory budget batches are sized by, the runtime choice and execution provider asked for. */
  compute: z.object({
    memoryBudget: z.object({ bytes: z.number(), source: z.enum(['request', 'env', 'default']) }),
    runtime: z.enum(['auto', 'onnxruntime', 'tfjs']),
    executionProvider: z.string(),
  }),
});
export type AppInfo = z.infer<typeof AppInfo>;

const Id = z.number().int().positive();
const ShapeSchema = z.array(z.number().int());

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

export const RunKind = z.enum(['ptq', 'qat', 'float', 'sensitivity']);
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

export const RunDetail = RunSummary.extend({
  tensors: z.array(TensorRecord),
  lint: z.array(LintFinding),
  summary: z.record(z.string(), z.unknown()),
});
export type RunDetail = z.infer<typeof RunDetail>;

export const QuantVariable = z.object({
  layer: z.string(),
  name: z.string(),
  shape: z.array(z.number().int()),
  trainable: z.boolean(),
  role: z.string(),
});
export type QuantVariable = z.infer<typeof QuantVariable>;
const ParamTotals = z.object({ trainable: z.number().int(), nonTrainable: z.number().int(), total: z.number().int() });

/** How one layer of the model is quantized under a config (engine/transform/layer-notes.ts). */
export const LayerQuantization = z.object({
  layer: z.string(),
  kind: z.enum(['input', 'preprocessing', 'own-range', 'shared-range', 'fused', 'folded', 'float']),
  /** The activation quantizer whose range the layer's output carries (its own or the one it shares). */
  range: z.string().nullable(),
  kernel: z.string().nullable(),
  note: z.string(),
});
export type LayerQuantization = z.infer<typeof LayerQuantization>;

/** Every quantization variable a QAT model carries: tfmot's defaults beside the studio's own for a config, and how each layer is quantized. */
export const VariableExplanation = z.object({
  float: ParamTotals,
  keras: z.object({ variables: z.array(QuantVariable), totals: ParamTotals }),
  studio: z.object({
    variables: z.array(QuantVariable),
    totals: ParamTotals,
    folded: z.array(z.object({ bn: z.string(), into: z.string() })),
    layers: z.array(LayerQuantization),
  }),
});
export type VariableExplanation = z.infer<typeof VariableExplanation>;

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

/** One run as the Compare view needs it: its detail plus how many curve points it has. */
export const CompareRun = RunDetail.extend({ curvePoints: z.number().int() });
export type CompareRun = z.infer<typeof CompareRun>;

/** Per-channel vectors of one tensor of one run (null if the tensor is per-tensor or absent); numbers rounded to float32 precision. */
export const RunChannels = z.object({
  runId: Id,
  channels: z
    .object({ min: z.array(z.number()), max: z.array(z.number()), scale: z.array(z.number()), zeroPoint: z.array(z.number()), sqnr: z.array(z.number()).nullable() })
    .nullable(),
});
export type RunChannels = z.infer<typeof RunChannels>;

/** The histogram a tensor's range was chosen from, per run (null if the run stored none). */
export const RunHistogram = z.object({
  runId: Id,
  histogram: z.object({ lo: z.number(), hi: z.number(), rangeMin: z.number(), rangeMax: z.number(), counts: z.array(z.number()) }).nullable(),
});
export type RunHistogram = z.infer<typeof RunHistogram>;

export const RunCurvePoint = z.object({
  step: z.number(),
  epoch: z.number(),
  split: z.enum(['train', 'val']),
  loss: z.number().nullable(),
  accuracy: z.number().nullable(),
  ranges: z.record(z.string(), z.object({ min: z.number(), max: z.number() })).nullable().optional(),
});
export type RunCurvePoint = z.infer<typeof RunCurvePoint>;

const TensorRef = { ids: z.array(Id).min(1).max(16), layer: z.string().min(1), role: z.string().min(1) };

/** A written export with its audit and verification (see src-main/export). */
export const ExportRecord = z.object({ id: Id, runId: Id, format: z.string(), path: z.string(), size: z.number().int(), sha256: z.string(), verification: z.record(z.string(), z.unknown()), audit: z.record(z.string(), z.unknown()), createdAt: z.string() });
export type ExportRecord = z.infer<typeof ExportRecord>;

/** The export formats the host can write (export/types.ts EXPORT_FORMATS). */
export const ExportFormatName = z.enum(EXPORT_FORMATS as unknown as [ExportFormat, ...ExportFormat[]]);

/** TFLite only: int8 model input and output instead of float ones with QUANTIZE / DEQUANTIZE at the ends. */
const IntegerIo = z.boolean().optional();

/** An exported file's graph as written (export/file-graph): nodes with their tensors and Keras layer, and the tensors joining them. */
const FileQuant = z.object({ channels: z.number().int(), axis: z.number().int().nullable(), scaleMin: z.number(), scaleMax: z.number(), zeroPointMin: z.number(), zeroPointMax: z.number() });
const FileTensor = z.object({ name: z.string(), shape: z.array(z.union([z.number(), z.string()])).nullable(), dtype: z.string().nullable(), constant: z.boolean(), quant: FileQuant.nullable() });
export type FileTensor = z.infer<typeof FileTensor>;
const FileNode = z.object({ id: z.string(), op: z.string(), layer: z.string().nullable(), inputs: z.array(FileTensor), outputs: z.array(FileTensor), fusedActivation: z.string().nullable() });
export type FileNode = z.infer<typeof FileNode>;
export const FileGraph = z.object({
  format: z.enum(['onnx', 'tflite']),
  inputs: z.array(z.string()),
  outputs: z.array(z.string()),
  nodes: z.array(FileNode),
  edges: z.array(z.object({ source: z.string(), target: z.string(), tensor: z.string() })),
});
export type FileGraph = z.infer<typeof FileGraph>;

export const ExportFormatInfo = z.object({
  format: z.string(),
  description: z.string(),
  /** A file with this extension, or a folder. */
  target: z.union([z.object({ kind: z.literal('file'), extension: z.string() }), z.object({ kind: z.literal('folder') })]),
});
export type ExportFormatInfo = z.infer<typeof ExportFormatInfo>;

/** One export job as events name it; `path` is the resolved destination. */
const ExportJobRef = { exportJobId: Id, runId: Id, format: z.string(), path: z.string() };

/** Steps: queued, rebuild, write, audit, verify (done/total count eval samples of the pass named in `message`), store. */
export const ExportProgress = z.object({ ...ExportJobRef, phase: z.string(), done: z.number(), total: z.number(), etaSeconds: z.number().nullable(), message: z.string().optional() });
export type ExportProgress = z.infer<typeof ExportProgress>;
export const ExportFinished = z.object({ ...ExportJobRef, export: ExportRecord });
export type ExportFinished = z.infer<typeof ExportFinished>;
/** The job stopped: a clear message naming the file; nothing was stored and no file was left. */
export const ExportFailed = z.object({ ...ExportJobRef, cancelled: z.boolean(), message: z.string() });
export type ExportFailed = z.infer<typeof ExportFailed>;

const Empty = z.object({}).strict();

/** An export target a run can be planned and simulated for (engine/targets), with its rules in words. */
export const TargetInfo = z.object({ name: z.string(), label: z.string(), summary: z.string(), format: z.string(), runtime: z.string(), rules: z.array(z.string()), sources: z.array(z.string()) });
export type TargetInfo = z.infer<typeof TargetInfo>;

/** Every call: name -> input and output schemas. */
/** One evaluation of an accuracy-budget search (engine/budget/search.ts): a PTQ run with per-layer overrides. */
export const BudgetStep = z.object({
  index: z.number().int(),
  phase: z.enum(['start', 'raise', 'lower']),
  layer: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  accuracy: z.number(),
  /** Float accuracy minus this step's, as a fraction (0.005 = 0.5 pt). */
  drop: z.number(),
  /** Weight bytes of the model at this step's choices. */
  bytes: z.number(),
  meets: z.boolean(),
  kept: z.boolean(),
  /** The step's run. */
  ref: Id,
});
export type BudgetStep = z.infer<typeof BudgetStep>;

export const BudgetRequest = z
  .object({
    config: RunConfig,
    /** Largest accepted drop in accuracy points (0.5 = half a point). */
    maxDropPoints: z.number().min(0).max(100),
    /** Per-layer choices from smallest to largest, e.g. "w4,w8,a16,float". */
    menu: z.string().min(1).max(200).default('w4,w8,a16,float'),
    /** Evaluations at most (each is a PTQ run), the start included. */
    maxSteps: z.number().int().min(2).max(500).default(40),
    /** Order the layers by this sensitivity run (output SQNR with the layer quantized alone) instead of each step's own SQNR. */
    sensitivityRunId: Id.optional(),
  })
  .strict();

export const BudgetState = z.object({
  id: Id,
  status: z.enum(['running', 'done', 'failed', 'cancelled']),
  request: BudgetRequest,
  ladder: z.array(z.object({ label: z.string(), weightBits: z.number().nullable(), activationBits: z.number().nullable(), float: z.boolean() })),
  steps: z.array(BudgetStep),
  rootRunId: Id.nullable(),
  result: z
    .object({
      met: z.boolean(),
      best: BudgetStep,
      steps: z.array(BudgetStep),
      floatAccuracy: z.number(),
      reason: z.string().nullable(),
      choices: z.array(z.object({ layer: z.string(), choice: z.string() })),
    })
    .nullable(),
  error: z.string().nullable(),
});
export type BudgetState = z.infer<typeof BudgetState>;

export const methods = {
  'app.info': { input: Empty, output: AppInfo },
  /** The export targets (config.target) and their rules. */
  'app.targets': { input: Empty, output: z.array(TargetInfo) },
  /** A number that changes when another process (the CLI) commits to the database; the renderer polls it to refresh lists. */
  'app.storeVersion': { input: Empty, output: z.object({ version: z.number().int() }) },
  /** A native file dialog where the host has one (Electron); elsewhere supported:false and the renderer shows a path field. */
  'app.pickPath': {
    input: z
      .object({
        mode: z.enum(['open-file', 'open-folder', 'save']),
        title: z.string().max(200).optional(),
        filters: z.array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^[\w*.-]+$/).max(20)).max(20) }).strict()).max(20).optional(),
        defaultPath: z.string().max(4096).optional(),
      })
      .strict(),
    output: z.object({ supported: z.boolean(), path: z.string().nullable() }),
  },
  'models.list': { input: Empty, output: z.array(ModelSummary) },
  'models.get': { input: z.object({ id: Id }).strict(), output: ModelDetail },
  'models.builtins': { input: Empty, output: z.array(BuiltinModel) },
  'models.importBuiltin': { input: z.object({ name: z.string().min(1) }).strict(), output: ModelSummary },
  /** A model file (absolute path; a folder holding model.json stands for it), copied into the user data folder or referenced where it is; identified by the sha256 of its files. */
  'models.import': {
    input: z.object({ path: z.string().min(1).max(4096), mode: z.enum(['copy', 'reference']), name: z.string().max(200).optional() }).strict(),
    output: ModelSummary,
  },
  /** The quantization variables of a QAT model of this model under a config (defaults when omitted). */
  'models.explain': {
    input: z.object({ id: Id, config: RunConfig.partial().optional() }).strict(),
    output: VariableExplanation,
  },
  'datasets.list': { input: Empty, output: z.array(DatasetSummary) },
  /** Removes a dataset from the library (refused while runs use it); its own copied files stay on disk. */
  'datasets.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean() }) },
  /** A dataset file or folder (absolute path), referenced where it is; preprocessing (scale, offset, mean, std, channelOrder, size, …) is checked by the reader. */
  'datasets.import': {
    input: z.object({ path: z.string().min(1).max(4096), name: z.string().max(200).optional(), preprocessing: z.record(z.string(), z.unknown()).optional() }).strict(),
    output: DatasetSummary,
  },
  'runs.list': { input: Empty, output: z.array(RunSummary) },
  'runs.get': { input: z.object({ id: Id }).strict(), output: RunDetail },
  'runs.start': {
    input: z
      .object({ kind: RunKind, name: z.string().min(1).max(200).optional(), config: RunConfig, parentId: Id.optional() })
      .strict()
      .refine((r) => r.kind === 'ptq' || !recoveryOn(r.config.recovery), { message: 'accuracy recovery (CLE, bias correction) applies to PTQ runs only', path: ['config', 'recovery'] })
      .refine((r) => r.kind !== 'qat' || !r.config.estimator.weights, { message: "the kernels' range estimator (estimator.weights) applies to PTQ runs: QAT's kernels take their LastValue range every step", path: ['config', 'estimator', 'weights'] })
      .superRefine((r, ctx) => {
        const problem = adaroundProblem(r.config);
        if (problem) ctx.addIssue({ code: 'custom', message: problem, path: ['config', 'recovery', 'adaround'] });
      }),
    output: RunSummary,
  },
  /** Lint a run config before starting it: what will lack a range, BN folding, unsupported layers. */
  'runs.lint': {
    input: z.object({ kind: RunKind, config: RunConfig }).strict(),
    output: z.object({ findings: z.array(LintFinding), defaultName: z.string() }),
  },
  'runs.cancel': { input: z.object({ id: Id }).strict(), output: z.object({ cancelled: z.boolean() }) },
  'runs.rename': { input: z.object({ id: Id, name: z.string().min(1).max(200) }).strict(), output: RunSummary },
  'runs.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean() }) },
  /** Everything Compare shows at once for 1..16 runs: details, tensor rows, lint; ids that no longer exist come back in `missing`. */
  'runs.compare': {
    input: z.object({ ids: z.array(Id).min(1).max(16), layer: z.string().min(1).optional(), role: z.string().min(1).optional() }).strict(),
    output: z.object({
      runs: z.array(CompareRun),
      missing: z.array(Id),
      /** Channel vectors (of the weights) and histograms (of `role`) of `layer`, default the first layer with weights; null without one. */
      focus: z.object({ layer: z.string(), role: z.string(), channels: z.array(RunChannels), histograms: z.array(RunHistogram) }).nullable(),
    }),
  },
  'runs.channels': { input: z.object(TensorRef).strict(), output: z.array(RunChannels) },
  /**
   * Accuracy budget: the smallest model within `maxDropPoints` of float over the per-layer
   * choices of `menu`; every step is a PTQ run (a child of the first), followed by
   * budget.step events and budget.finished. The search lives while the studio runs.
   */
  'budget.start': { input: BudgetRequest, output: BudgetState },
  'budget.get': { input: z.object({ id: Id }).strict(), output: BudgetState },
  'budget.cancel': { input: z.object({ id: Id }).strict(), output: z.object({ cancelled: z.boolean() }) },
  /** Write a run to a file (absolute path), audit it and verify it in its runtime; stored in the exports table. */
  'exports.create': {
    input: z.object({ runId: Id, format: ExportFormatName, path: z.string().min(1), verify: z.boolean().optional(), overwrite: z.boolean().optional(), integerIo: IntegerIo }).strict(),
    output: ExportRecord,
  },
  /**
   * The same as a job: queued at once, followed by exports.progress events,
   * ending in exports.finished or exports.failed. On the web host `path` must
   * be inside the export folder (a bare name goes into it).
   */
  'exports.start': {
    input: z.object({ runId: Id, format: ExportFormatName, path: z.string().min(1).max(4096), verify: z.boolean().optional(), overwrite: z.boolean().optional(), integerIo: IntegerIo }).strict(),
    output: z.object({ exportJobId: Id, path: z.string() }),
  },
  'exports.cancel': { input: z.object({ exportJobId: Id }).strict(), output: z.object({ cancelled: z.boolean() }) },
  /** Export jobs queued or running now (after a reload, the Export view finds them here). */
  'exports.running': { input: Empty, output: z.array(z.object(ExportJobRef)) },
  'exports.formats': { input: Empty, output: z.array(ExportFormatInfo) },
  /** Where exports may go: restricted to `folder` on the web host; anywhere (absolute) elsewhere. */
  'exports.destination': { input: Empty, output: z.object({ restricted: z.boolean(), folder: z.string().nullable() }) },
  'exports.list': { input: z.object({ runId: Id }).strict(), output: z.array(ExportRecord) },
  /**
   * Shows a stored export's file in the system file manager where the host
   * has one (Electron: shell.showItemInFolder); elsewhere shown:false and the
   * renderer shows the path.
   */
  'exports.showInFolder': { input: z.object({ id: Id }).strict(), output: z.object({ shown: z.boolean(), path: z.string() }) },
  /** One stored export (the web host's download endpoint serves only paths found here). */
  'exports.get': { input: z.object({ id: Id }).strict(), output: ExportRecord },
  /** The graph of a stored ONNX or TFLite export as the file holds it, each node with its Keras layer; TF.js and params exports are refused. */
  'exports.graph': { input: z.object({ id: Id }).strict(), output: FileGraph.extend({ exportId: Id, path: z.string() }) },
  'runs.histograms': { input: z.object(TensorRef).strict(), output: z.array(RunHistogram) },
  /** A sensitivity run's layers in graph order (empty for another kind of run, or one not done). */
  'runs.sensitivity': {
    input: z.object({ id: Id }).strict(),
    output: z.object({ runId: Id, layers: z.array(SensitivityLayer) }),
  },
  'runs.curves': {
    input: z.object({ ids: z.array(Id).min(1).max(16) }).strict(),
    output: z.array(z.object({ runId: Id, points: z.array(RunCurvePoint) })),
  },
} as const;

/** Every event pushed from the Node side to the renderer. */
export const events = {
  'job.progress': JobProgress,
  'runs.changed': z.object({ id: Id, status: RunStatus }),
  'exports.progress': ExportProgress,
  'exports.finished': ExportFinished,
  'exports.failed': ExportFailed,
  'budget.step': z.object({ searchId: Id, step: BudgetStep }),
  'budget.finished': z.object({ searchId: Id, status: z.enum(['done', 'failed', 'cancelled']), error: z.string().nullable() }),
  /** A model came into the library from outside the renderer (a file opened with the desktop app, a recent model). */
  'models.imported': z.object({ model: ModelSummary, origin: z.enum(['open-file', 'recent']) }),
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
