/**
 * The New run form: model, dataset, kind, quantizer specs, estimator,
 * overrides and (for QAT / float training) the training settings; a lint
 * preview refreshed as the form changes; start and follow the started runs.
 */
import type { BudgetState, LintFinding, ModelDetail, RunSummary, TargetInfo } from '../../../src-main/api/contract.js';
import type { EstimatorKind, Recovery, RunConfig, RunConfigInput, TargetName } from '../../../src-main/api/run-config.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { configFromForm, type OverrideValues, type RunFormKind, type RunFormValues, type SpecValues } from '../data/run-form.js';

export type RunKindChoice = RunFormKind;

/** A search follows its events; this poll only catches one missed while the connection was down. */
const BUDGET_FALLBACK_POLL_MS = 5000;

export type SpecForm = SpecValues;
export type OverrideForm = OverrideValues;

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
  /** PTQ: the kernels' range estimator ('' = follow the estimator: mse with mse, else minmax; run-config.ts Estimator.weights). */
  weightEstimator = $state<'' | 'minmax' | 'mse'>('');
  percentile = $state(99.99);
  decay = $state(0.999);
  calibrationCount = $state(1000);
  evalCount = $state(2000);
  /** No fields for these: the contract's defaults, or a stored run's own ("Edit as new run"). */
  bins = $state(2048);
  calibrationSeed = $state(0);
  evalSeed = $state(1);
  unsupported = $state<RunConfig['unsupported']>('stop');
  trainingSeed = $state(0);
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
  cleFlatten = $state<'skip' | 'cross'>('skip');
  highBiasAbsorption = $state(false);
  biasCorrection = $state<Recovery['biasCorrection']>('off');
  /** Sensitivity analysis: the first eval samples each case runs on (run-config.ts Sensitivity). */
  sensitivitySubset = $state(500);
  /** Accuracy budget (budget.start): the largest drop in points, the per-layer menu, the step limit. */
  budgetMaxDrop = $state(0.5);
  budgetMenu = $state('w4,w8,a16,float');
  budgetMaxSteps = $state(40);
  /** Accuracy-budget searches started here, newest first, as budget.get last returned them. */
  searches = $state.raw<BudgetState[]>([]);
  /** AdaRound (run-config.ts Adaround): learned rounding of the kernels; not with bias correction. */
  adaround = $state(false);
  adaroundIterations = $state(2000);
  adaroundBatchSize = $state(32);
  adaroundRegularization = $state(0.01);
  /** PTQ and QAT export target (run-config.ts TargetName): plan and simulate as it computes; '' for the studio's plain simulation. */
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

  /** Fills the form from a stored run's config (lib/data/run-form.ts formFromRun): every field of `values`, so the config round-trips. */
  fillFrom(run: { id: number; name: string }, v: RunFormValues): void {
    this.kind = v.kind;
    this.setModel(v.modelId);
    this.datasetId = v.datasetId;
    this.weights = { ...v.weights };
    this.activations = { ...v.activations };
    this.estimator = v.estimator;
    this.weightEstimator = v.weightEstimator;
    this.percentile = v.percentile;
    this.decay = v.decay;
    this.bins = v.bins;
    this.calibrationCount = v.calibrationCount;
    this.calibrationSeed = v.calibrationSeed;
    this.evalCount = v.evalCount;
    this.evalSeed = v.evalSeed;
    this.unsupported = v.unsupported;
    this.overrides = v.overrides.map((o) => ({ ...o }));
    this.optimizer = v.optimizer;
    this.learningRate = v.learningRate;
    this.momentum = v.momentum;
    this.batchSize = v.batchSize;
    this.epochs = v.epochs;
    this.validationSplit = v.validationSplit;
    this.bnFreezeStep = v.bnFreezeStep;
    this.trainingSeed = v.trainingSeed;
    this.cle = v.cle;
    this.cleRelu6 = v.cleRelu6;
    this.cleFlatten = v.cleFlatten;
    this.highBiasAbsorption = v.highBiasAbsorption;
    this.biasCorrection = v.biasCorrection;
    this.adaround = v.adaround;
    this.adaroundIterations = v.adaroundIterations;
    this.adaroundBatchSize = v.adaroundBatchSize;
    this.adaroundRegularization = v.adaroundRegularization;
    this.sensitivitySubset = v.sensitivitySubset;
    this.target = v.target;
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
      // A budget search runs PTQ runs: lint as one.
      const out = await this.#api.call('runs.lint', { kind: this.kind === 'budget' ? 'ptq' : this.kind, config });
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
      if (this.kind === 'budget') {
        const search = await this.#api.call('budget.start', { config, maxDropPoints: this.budgetMaxDrop, menu: this.budgetMenu, maxSteps: Math.round(this.budgetMaxSteps) });
        this.searches = [search, ...this.searches];
        this.editedFrom = null;
        void this.#follow(search.id);
        return null;
      }
      const kind = this.kind;
      const name = this.name.trim();
      const run = await this.#api.call('runs.start', { kind, config, ...(name ? { name } : {}) });
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

  cancelSearch(id: number): Promise<unknown> {
    return this.#api.call('budget.cancel', { id }).catch((err: unknown) => {
      this.startError = toApiError(err, 'budget.cancel');
    });
  }

  dismissSearch(id: number): void {
    this.searches = this.searches.filter((s) => s.id !== id);
  }

  /**
   * Follows a search until it ends: each budget.step / budget.finished event
   * for it refreshes its state (budget.get: the steps are runs, the runs list
   * follows them by itself); a slow poll catches an event lost while the
   * host's connection was down.
   */
  #follow(id: number): Promise<void> {
    return new Promise((done) => {
      let fetching = false;
      let again = false;
      const stop = () => {
        offStep();
        offFinished();
        clearInterval(timer);
        done();
      };
      const refresh = async () => {
        if (fetching) return void (again = true);
        fetching = true;
        try {
          const state = await this.#api.call('budget.get', { id });
          if (!this.searches.some((s) => s.id === id)) return stop();
          this.searches = this.searches.map((s) => (s.id === id ? state : s));
          if (state.status !== 'running') return stop();
        } catch {
          return stop();
        } finally {
          fetching = false;
        }
        if (again) {
          again = false;
          void refresh();
        }
      };
      const offStep = this.#api.on('budget.step', (e) => e.searchId === id && void refresh());
      const offFinished = this.#api.on('budget.finished', (e) => e.searchId === id && void refresh());
      const timer = setInterval(() => void refresh(), BUDGET_FALLBACK_POLL_MS);
      void refresh();
    });
  }

  dismissStarted(id: number): void {
    this.started = this.started.filter((x) => x !== id);
  }

  #buildConfig(): RunConfigInput | null {
    if (this.modelId === null || this.datasetId === null) return null;
    return configFromForm({
      kind: this.kind,
      modelId: this.modelId,
      datasetId: this.datasetId,
      weights: this.weights,
      activations: this.activations,
      estimator: this.estimator,
      weightEstimator: this.weightEstimator,
      percentile: this.percentile,
      decay: this.decay,
      bins: this.bins,
      calibrationCount: this.calibrationCount,
      calibrationSeed: this.calibrationSeed,
      evalCount: this.evalCount,
      evalSeed: this.evalSeed,
      unsupported: this.unsupported,
      overrides: this.overrides,
      optimizer: this.optimizer,
      learningRate: this.learningRate,
      momentum: this.momentum,
      batchSize: this.batchSize,
      epochs: this.epochs,
      validationSplit: this.validationSplit,
      bnFreezeStep: this.bnFreezeStep,
      trainingSeed: this.trainingSeed,
      cle: this.cle,
      cleRelu6: this.cleRelu6,
      cleFlatten: this.cleFlatten,
      highBiasAbsorption: this.highBiasAbsorption,
      biasCorrection: this.biasCorrection,
      adaround: this.adaround,
      adaroundIterations: this.adaroundIterations,
      adaroundBatchSize: this.adaroundBatchSize,
      adaroundRegularization: this.adaroundRegularization,
      sensitivitySubset: this.sensitivitySubset,
      target: this.target,
    });
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
