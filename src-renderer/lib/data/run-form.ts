/**
 * The New run form's values and the run config they stand for, both ways:
 * `configFromForm` is what Start sends, `formFromRun` fills the form from a
 * stored run's config ("Edit as new run"), so a past run can be changed in
 * one place and started again and a config round-trips through the form.
 * Missing parts take the contract's defaults (run-config.ts), as the host
 * would. Settings the form has no field for (split seeds, histogram bins,
 * unsupported layers, the training seed, a quantizer's axis) are carried
 * through unchanged.
 */
import type { LayerOverride, Recovery, RunConfig, RunConfigInput } from '../../../src-main/api/run-config.js';

/** The kinds New run offers: a stored run's kinds, and 'budget' (a search whose steps are PTQ runs). */
export type RunFormKind = 'ptq' | 'qat' | 'float' | 'sensitivity' | 'budget';

export interface SpecValues {
  bits: number;
  symmetric: boolean;
  narrowRange: boolean;
  granularity: 'per-tensor' | 'per-channel';
  /** Only when the stored config names one (not in the form). */
  axis?: number;
}

export interface OverrideValues {
  layer: string;
  mode: 'float' | 'bits';
  weightBits: number;
  activationBits: number;
}

export interface RunFormValues {
  kind: RunFormKind;
  modelId: number;
  datasetId: number;
  weights: SpecValues;
  activations: SpecValues;
  estimator: RunConfig['estimator']['kind'];
  /** The kernels' range estimator (PTQ; '' for the default: mse with the mse estimator, else minmax). */
  weightEstimator: NonNullable<RunConfig['estimator']['weights']> | '';
  percentile: number;
  decay: number;
  bins: number;
  calibrationCount: number;
  calibrationSeed: number;
  evalCount: number;
  evalSeed: number;
  unsupported: RunConfig['unsupported'];
  overrides: OverrideValues[];
  /** Training settings (sent for QAT and float training only). */
  optimizer: 'adam' | 'sgd';
  learningRate: number;
  momentum: number;
  batchSize: number;
  epochs: number;
  validationSplit: number;
  bnFreezeStep: number;
  trainingSeed: number;
  /** Accuracy recovery (PTQ only; sent when any of CLE, bias correction, AdaRound is on). */
  cle: boolean;
  cleRelu6: 'skip' | 'as-relu';
  cleFlatten: 'skip' | 'cross';
  highBiasAbsorption: boolean;
  biasCorrection: Recovery['biasCorrection'];
  adaround: boolean;
  adaroundIterations: number;
  adaroundBatchSize: number;
  adaroundRegularization: number;
  /** Sensitivity analysis: the first eval samples each case runs on (sent for that kind only). */
  sensitivitySubset: number;
  /** The export target the run is planned for ('' for none; PTQ and QAT runs). */
  target: NonNullable<RunConfig['target']> | '';
}

// The contract's defaults (run-config.ts), for parts a stored config leaves out.
const TRAINING_DEFAULTS = { optimizer: 'adam', learningRate: 1e-3, momentum: 0.9, batchSize: 64, epochs: 1, validationSplit: 0.1, bnFreezeStep: 200, seed: 0 } as const;
const ADAROUND_DEFAULTS = { iterations: 2000, batchSize: 32, regularization: 0.01 } as const;
const SENSITIVITY_SUBSET = 500;

const spec = (s: RunConfig['weights']): SpecValues => ({
  bits: s.bits,
  symmetric: s.symmetric,
  narrowRange: s.narrowRange,
  granularity: s.granularity,
  ...(s.axis !== undefined ? { axis: s.axis } : {}),
});

export function formFromRun(kind: RunFormKind, c: RunConfig): RunFormValues {
  const t = c.training ?? TRAINING_DEFAULTS;
  const r = c.recovery;
  const a = r?.adaround ?? ADAROUND_DEFAULTS;
  return {
    kind,
    modelId: c.modelId,
    datasetId: c.datasetId,
    weights: spec(c.weights),
    activations: spec(c.activations),
    estimator: c.estimator.kind,
    weightEstimator: c.estimator.weights ?? '',
    percentile: c.estimator.percentile,
    decay: c.estimator.decay,
    bins: c.estimator.bins,
    calibrationCount: c.calibration.count,
    calibrationSeed: c.calibration.seed,
    evalCount: c.eval.count,
    evalSeed: c.eval.seed,
    unsupported: c.unsupported,
    // An override that only sets one side keeps the run's own bits on the other.
    overrides: c.overrides.map((o) =>
      o.float
        ? { layer: o.layer, mode: 'float' as const, weightBits: c.weights.bits, activationBits: c.activations.bits }
        : { layer: o.layer, mode: 'bits' as const, weightBits: o.weightBits ?? c.weights.bits, activationBits: o.activationBits ?? c.activations.bits },
    ),
    optimizer: t.optimizer,
    learningRate: t.learningRate,
    momentum: t.momentum,
    batchSize: t.batchSize,
    epochs: t.epochs,
    validationSplit: t.validationSplit,
    bnFreezeStep: t.bnFreezeStep,
    trainingSeed: t.seed,
    cle: r?.cle ?? false,
    cleRelu6: r?.relu6 ?? 'skip',
    cleFlatten: r?.flatten ?? 'skip',
    highBiasAbsorption: r?.highBiasAbsorption ?? false,
    biasCorrection: r?.biasCorrection ?? 'off',
    adaround: !!r?.adaround,
    adaroundIterations: a.iterations,
    adaroundBatchSize: a.batchSize,
    adaroundRegularization: a.regularization,
    sensitivitySubset: c.sensitivity?.subset ?? SENSITIVITY_SUBSET,
    target: c.target ?? '',
  };
}

const whole = (x: number, min: number) => Math.max(min, Math.round(x));
const specConfig = (s: SpecValues): RunConfigInput['weights'] => ({ ...s });

/** The config New run sends for these values: recovery for PTQ, the target for PTQ and QAT, the subset for sensitivity, training for QAT and float. */
export function configFromForm(v: RunFormValues): RunConfigInput {
  const overrides: LayerOverride[] = v.overrides
    .filter((o) => o.layer !== '')
    .map((o) => (o.mode === 'float' ? { layer: o.layer, float: true } : { layer: o.layer, weightBits: o.weightBits, activationBits: o.activationBits }));
  const config: RunConfigInput = {
    modelId: v.modelId,
    datasetId: v.datasetId,
    calibration: { count: whole(v.calibrationCount, 1), seed: v.calibrationSeed },
    eval: { count: whole(v.evalCount, 1), seed: v.evalSeed },
    weights: specConfig(v.weights),
    activations: specConfig(v.activations),
    // The kernels' own estimator is PTQ's (QAT refuses it), sensitivity's and the budget's PTQ runs included.
    estimator: { kind: v.estimator, percentile: v.percentile, decay: v.decay, bins: v.bins, ...(v.weightEstimator !== '' && v.kind !== 'qat' && v.kind !== 'float' ? { weights: v.weightEstimator } : {}) },
    overrides,
    unsupported: v.unsupported,
  };
  if (v.kind === 'ptq' && (v.cle || v.biasCorrection !== 'off' || v.adaround)) {
    config.recovery = { cle: v.cle, relu6: v.cleRelu6, flatten: v.cleFlatten, highBiasAbsorption: v.cle && v.highBiasAbsorption, biasCorrection: v.biasCorrection };
    if (v.adaround) {
      config.recovery.adaround = { iterations: whole(v.adaroundIterations, 1), batchSize: whole(v.adaroundBatchSize, 1), regularization: v.adaroundRegularization };
    }
  }
  if (v.kind === 'sensitivity') config.sensitivity = { subset: whole(v.sensitivitySubset, 1) };
  if ((v.kind === 'ptq' || v.kind === 'qat') && v.target !== '') config.target = v.target;
  if (v.kind === 'qat' || v.kind === 'float') {
    config.training = {
      optimizer: v.optimizer,
      learningRate: v.learningRate,
      momentum: v.momentum,
      batchSize: Math.round(v.batchSize),
      epochs: v.epochs,
      validationSplit: v.validationSplit,
      bnFreezeStep: whole(v.bnFreezeStep, 0),
      seed: v.trainingSeed,
    };
  }
  return config;
}
