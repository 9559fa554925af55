/**
 * The New run form: model, dataset, kind, quantizer specs, estimator,
 * overrides and (for QAT / float training) the training settings; a lint
 * preview refreshed as the form changes; start and follow the started runs.
 */
import type { LintFinding, ModelDetail, RunSummary, TargetInfo } from '../../../src-main/api/contract.js';
import type { EstimatorKind, LayerOverride, RunConfigInput, TargetName } from '../../../src-main/api/run-config.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import type { RunFormValues } from '../data/run-form.js';

export type RunKindChoice = 'ptq' | 'qat' | 'float';

export interface SpecForm {
  bits: number;
  symmetric: boolean;
  narrowRange: boolean;
  granularity: 'per-tensor' | 'per-channel';
}

export interface OverrideForm {
  layer: string;
  mode: 'float' | 'bits';
  weightBits: number;
  activationBits: number;
}

const LINT_DEBOUNCE_MS = 250;

export class NewRunStore {
  #api: ApiClient;
  #lintSeq = 0;
  #lintTimer: ReturnType<typeof setTimeout> | null = null;
  #layerSeq = 0;

  kind = $state<RunKindChoice>('ptq');
  modelId = $state<number | null>(null);
  datasetId = $state<number | null>(null);
  name = $state('');
  weights = $state<SpecForm>({ bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' });
  activations = $state<SpecForm>({ bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
  estimator = $state<EstimatorKind>('minmax');
  percentile = $state(99.99);
  decay = $state(0.999);
  calibrationCount = $state(1000);
  evalCount = $state(2000);
  overrides = $state<OverrideForm[]>([]);
  optimizer = $state<'adam' | 'sgd'>('adam');
  learningRate = $state(0.001);
  momentum = $state(0.9);
  batchSize = $state(64);
  epochs = $state(1);
  /** Fraction of the train part held out for validation. */
  validationSplit = $state(0.1);
  /** QAT: steps with batch statistics in folded BatchNorm before the moving statistics are frozen in. */
  bnFreezeStep = $state(200);
  /** PTQ accuracy recovery (run-config.ts Recovery): cross-layer equalization and bias correction. */
  cle = $state(false);
  cleRelu6 = $state<'skip' | 'as-relu'>('skip');
  highBiasAbsorption = $state(false);
  biasCorrection = $state<'off' | 'empirical' | 'analytic'>('off');
  /** PTQ export target (run-config.ts TargetName): plan and simulate as it computes; '' for the studio's plain simulation. */
  target = $state<TargetName | ''>('');
  /** The targets and their one-line summaries (app.targets), loaded once. */
  targets = $state.raw<TargetInfo[]>([]);

  /** The run this form was filled from ("Edit as new run"), until it is started. */
  editedFrom = $state.raw<{ id: number; name: string } | null>(null);

  /** The chosen model's layers (for the overrides' layer picker). */
  model = $state.raw<ModelDetail | null>(null);

  findings = $state.raw<LintFinding[]>([]);
  defaultName = $state('');
  linting = $state(false);
  lintError = $state.raw<ApiError | null>(null);

  starting = $state(false);
  startError = $state.raw<ApiError | null>(null);
  /** Runs started from this form in this session, newest first. */
  started = $state.raw<number[]>([]);

  readonly config = $derived(this.#buildConfig());
  readonly blocking = $derived(this.findings.filter((f) => f.severity === 'error'));
  readonly canStart = $derived(this.config !== null && !this.starting && this.blocking.length === 0);
  /** Layers that carry weights, for the override picker. */
  readonly layerNames = $derived((this.model?.layers ?? []).filter((l) => l.params > 0 || Object.keys(l.weightShapes).length > 0).map((l) => l.name));

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Loads the export targets for the Target select (once; an error leaves the list empty and the select offers none). */
  async loadTargets(): Promise<void> {
    if (this.targets.length > 0) return;
    try {
      this.targets = await this.#api.call('app.targets', {});
    } catch {
      this.targets = [];
    }
  }

  /** Picks the first model and dataset once lists are known, if none is chosen. */
  chooseDefaults(models: readonly { id: number }[], datasets: readonly { id: number }[]): void {
    if (this.modelId === null && models.length > 0) this.setModel(models[0]!.id);
    if (this.datasetId === null && datasets.length > 0) this.datasetId = datasets[0]!.id;
  }

  setModel(id: number): void {
    if (this.modelId === id) return;
    this.modelId = id;
    this.overrides = [];
    void this.#loadModel(id);
  }

  /** Fills the form from a stored run's config (lib/data/run-form.ts). */
  fillFrom(run: { id: number; name: string }, v: RunFormValues): void {
    this.kind = v.kind;
    this.setModel(v.modelId);
    this.datasetId = v.datasetId;
    this.weights = { ...v.weights };
    this.activations = { ...v.activations };
    this.estimator = v.estimator;
    this.percentile = v.percentile;
    this.decay = v.decay;
    this.calibrationCount = v.calibrationCount;
    this.evalCount = v.evalCount;
    this.overrides = v.overrides.map((o) => ({ ...o }));
    this.target = v.target;
    if (v.training) {
      this.optimizer = v.training.optimizer;
      this.learningRate = v.training.learningRate;
      this.momentum = v.training.momentum;
      this.batchSize = v.training.batchSize;
      this.epochs = v.training.epochs;
      this.validationSplit = v.training.validationSplit;
      this.bnFreezeStep = v.training.bnFreezeStep;
    }
    this.name = '';
    this.editedFrom = { id: run.id, name: run.name };
    this.scheduleLint();
  }

  addOverride(): void {
    const used = new Set(this.overrides.map((o) => o.layer));
    const layer = this.layerNames.find((l) => !used.has(l)) ?? this.layerNames[0] ?? '';
    this.overrides = [...this.overrides, { layer, mode: 'float', weightBits: 8, activationBits: 8 }];
  }

  removeOverride(index: number): void {
    this.overrides = this.overrides.filter((_, i) => i !== index);
  }

  /** Re-lints the current config after a short pause (typing in a number field fires many changes). */
  scheduleLint(): void {
    if (this.#lintTimer !== null) clearTimeout(this.#lintTimer);
    this.#lintTimer = setTimeout(() => {
      this.#lintTimer = null;
      void this.lint();
    }, LINT_DEBOUNCE_MS);
  }

  async lint(): Promise<void> {
    const config = this.config;
    if (config === null) return;
    const seq = ++this.#lintSeq;
    this.linting = true;
    try {
      const out = await this.#api.call('runs.lint', { kind: this.kind, config });
      if (seq !== this.#lintSeq) return;
      this.findings = out.findings;
      this.defaultName = out.defaultName;
      this.lintError = null;
    } catch (err) {
      if (seq === this.#lintSeq) {
        this.findings = [];
        this.lintError = toApiError(err, 'runs.lint');
      }
    } finally {
      if (seq === this.#lintSeq) this.linting = false;
    }
  }

  async start(): Promise<RunSummary | null> {
    const config = this.config;
    if (config === null || this.starting) return null;
    this.starting = true;
    this.startError = null;
    try {
      const name = this.name.trim();
      const run = await this.#api.call('runs.start', { kind: this.kind, config, ...(name ? { name } : {}) });
      this.started = [run.id, ...this.started];
      this.name = '';
      this.editedFrom = null;
      return run;
    } catch (err) {
      this.startError = toApiError(err, 'runs.start');
      return null;
    } finally {
      this.starting = false;
    }
  }

  cancel(id: number): Promise<unknown> {
    return this.#api.call('runs.cancel', { id }).catch((err: unknown) => {
      this.startError = toApiError(err, 'runs.cancel');
    });
  }

  dismissStarted(id: number): void {
    this.started = this.started.filter((x) => x !== id);
  }

  #buildConfig(): RunConfigInput | null {
    if (this.modelId === null || this.datasetId === null) return null;
    const overrides: LayerOverride[] = this.overrides
      .filter((o) => o.layer !== '')
      .map((o) => (o.mode === 'float' ? { layer: o.layer, float: true } : { layer: o.layer, weightBits: o.weightBits, activationBits: o.activationBits }));
    const config: RunConfigInput = {
      modelId: this.modelId,
      datasetId: this.datasetId,
      calibration: { count: Math.max(1, Math.round(this.calibrationCount)), seed: 0 },
      eval: { count: Math.max(1, Math.round(this.evalCount)), seed: 1 },
      weights: { ...this.weights },
      activations: { ...this.activations },
      estimator: { kind: this.estimator, percentile: this.percentile, decay: this.decay, bins: 2048 },
      overrides,
    };
    if (this.kind === 'ptq' && (this.cle || this.biasCorrection !== 'off')) {
      config.recovery = { cle: this.cle, relu6: this.cleRelu6, highBiasAbsorption: this.cle && this.highBiasAbsorption, biasCorrection: this.biasCorrection };
    }
    if (this.kind === 'ptq' && this.target !== '') config.target = this.target;
    if (this.kind !== 'ptq') {
      config.training = {
        optimizer: this.optimizer,
        learningRate: this.learningRate,
        momentum: this.momentum,
        batchSize: Math.round(this.batchSize),
        epochs: this.epochs,
        validationSplit: this.validationSplit,
        bnFreezeStep: Math.max(0, Math.round(this.bnFreezeStep)),
      };
    }
    return config;
  }

  async #loadModel(id: number): Promise<void> {
    const seq = ++this.#layerSeq;
    try {
      const model = await this.#api.call('models.get', { id });
      if (seq === this.#layerSeq) this.model = model;
    } catch {
      if (seq === this.#layerSeq) this.model = null;
    }
  }
}
