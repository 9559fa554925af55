/**
 * What a run is asked to do, validated at the API boundary and stored as JSON
 * with the run. Presets and readable names live next to it so the CLI, the
 * renderer and the store agree on one vocabulary.
 */
import { z } from 'zod';

export const Granularity = z.enum(['per-tensor', 'per-channel']);
export type Granularity = z.infer<typeof Granularity>;

/** How one tensor is quantized. */
export const QuantSpec = z
  .object({
    bits: z.number().int().min(2, 'bits must be between 2 and 16').max(16, 'bits must be between 2 and 16'),
    symmetric: z.boolean(),
    narrowRange: z.boolean(),
    granularity: Granularity,
    /** Channel axis for per-channel; default is the layer's output-channel axis. */
    axis: z.number().int().optional(),
  })
  .strict();
export type QuantSpec = z.infer<typeof QuantSpec>;

/**
 * Range estimators. Keras names in brackets: minmax (AllValues), lastvalue
 * (LastValue), movingaverage (MovingAverage).
 */
export const EstimatorKind = z.enum(['minmax', 'lastvalue', 'movingaverage', 'percentile', 'mse', 'entropy']);
export type EstimatorKind = z.infer<typeof EstimatorKind>;

export const Estimator = z
  .object({
    kind: EstimatorKind,
    /** movingaverage: weight of the old value per batch. */
    decay: z.number().gt(0).lt(1).default(0.999),
    /** percentile: two-sided percentile kept, e.g. 99.99. */
    percentile: z.number().gt(50).lte(100).default(99.99),
    /** Histogram bins for percentile / mse / entropy. */
    bins: z.number().int().min(128).max(16384).default(2048),
    /**
     * PTQ: how each kernel's range is chosen, apart from the activations'
     * estimator: minmax (its exact |max|) or mse (the clipping range with the
     * least expected squared fake-quant error, searched per kernel or per
     * channel). Absent: mse with the mse estimator, minmax with any other.
     * QAT's kernels keep their LastValue ranges.
     */
    weights: z.enum(['minmax', 'mse']).optional(),
  })
  .strict();
export type Estimator = z.infer<typeof Estimator>;

/** The estimator a run's kernels are observed with (see Estimator.weights): the activations' one with its kind replaced. */
export function weightEstimator(estimator: Estimator): Estimator {
  return { ...estimator, kind: estimator.weights ?? (estimator.kind === 'mse' ? 'mse' : 'minmax') };
}

export const LayerOverride = z
  .object({
    layer: z.string().min(1),
    /** Keep this layer in float (no weight or output quantizer). */
    float: z.boolean().optional(),
    weightBits: z.number().int().min(2).max(16).optional(),
    activationBits: z.number().int().min(2).max(16).optional(),
  })
  .strict();
export type LayerOverride = z.infer<typeof LayerOverride>;

export const Split = z
  .object({
    count: z.number().int().positive(),
    seed: z.number().int().default(0),
  })
  .strict();

export const Training = z
  .object({
    optimizer: z.enum(['adam', 'sgd']).default('adam'),
    learningRate: z.number().positive('learning rate must be positive').default(1e-3),
    momentum: z.number().min(0).lt(1).default(0.9),
    batchSize: z.number().int().positive().default(64),
    epochs: z.number().positive().default(1),
    validationSplit: z.number().min(0).lt(1).default(0.1),
    /** QAT: steps using batch statistics in folded BN before freezing to moving statistics. */
    bnFreezeStep: z.number().int().min(0).default(200),
    /** Seed of the training order, the validation hold-out and Dropout's masks (`studio qat --seed`). */
    seed: z.number().int().min(0).default(0),
  })
  .strict();
export type Training = z.infer<typeof Training>;

/**
 * AdaRound (transform/adaround.ts): each planned kernel's rounding learned on
 * the calibration split, layer by layer (AIMET's defaults but the iterations:
 * AIMET takes 10,000 per layer).
 */
export const Adaround = z
  .object({
    /** Adam steps per layer; the first 20 % without the regulariser. */
    iterations: z.number().int().min(1).max(100_000).default(2000),
    /** Calibration samples per step; the split must hold at least one batch. */
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** λ, the weight of the rounding regulariser Σ(1 − |2h − 1|^β). */
    regularization: z.number().gt(0).max(100).default(0.01),
  })
  .strict();
export type Adaround = z.infer<typeof Adaround>;

/**
 * Accuracy recovery before calibration (engine/transform: cle.ts,
 * high-bias-absorption.ts, bias-correction.ts), PTQ only. relu6: 'skip' leaves pairs joined by a ReLU6
 * alone (exact); 'as-relu' replaces those ReLU6 by ReLU and equalizes them,
 * as DFQ and AIMET do (the float model changes). flatten: 'skip' leaves a
 * conv → Dense pair joined by a Flatten alone, 'cross' equalizes it (exact
 * either way; engine/transform/cle-pairs.ts says why skipping is the default).
 */
export const Recovery = z
  .object({
    cle: z.boolean().default(false),
    relu6: z.enum(['skip', 'as-relu']).default('skip'),
    flatten: z.enum(['skip', 'cross']).default('skip'),
    /** With CLE: move c = max(0, β − 3γ) of a ReLU layer's bias into the next layer's (approximate where x < c). */
    highBiasAbsorption: z.boolean().default(false),
    /**
     * Bias correction for the kernels' quantization error: 'empirical' holds
     * each quantized layer's mean output on the calibration split to the float
     * layer's for the same input (torch.ao's _correct_bias); 'empirical-float'
     * to the float model's (AIMET's correct_bias: also takes out the mean
     * shift arriving from earlier layers); 'analytic' from BatchNorm statistics.
     */
    biasCorrection: z.enum(['off', 'empirical', 'empirical-float', 'analytic']).default('off'),
    /** Learned rounding of the kernels (absent: off). Not with bias correction: AdaRound fits each layer's output, its mean included. */
    adaround: Adaround.optional(),
  })
  .strict();
export type Recovery = z.infer<typeof Recovery>;

/** Whether a bias correction runs on the calibration split (its shifts are then stored in the run's summary). */
export function isEmpirical(kind: Recovery['biasCorrection'] | undefined): kind is 'empirical' | 'empirical-float' {
  return kind === 'empirical' || kind === 'empirical-float';
}

/** Whether a run asks for any recovery transform. */
export function recoveryOn(r: Recovery | undefined): boolean {
  return !!r && (r.cle || r.biasCorrection !== 'off' || !!r.adaround);
}

/** A sensitivity run (engine/sensitivity): the eval samples each case is evaluated on (the first `subset` of the eval split). */
export const Sensitivity = z
  .object({
    subset: z.number().int().positive('the sensitivity subset needs at least one sample').default(500),
  })
  .strict();
export type Sensitivity = z.infer<typeof Sensitivity>;

/**
 * Export targets a run can be planned and simulated for (engine/targets: each
 * profile's rules, and the arithmetic its evaluation then simulates).
 */
export const TargetName = z.enum(['tflite-int8', 'onnx-ort-cpu', 'onnx-tensorrt']);
export type TargetName = z.infer<typeof TargetName>;

export const RunConfig = z
  .object({
    modelId: z.number().int().positive(),
    datasetId: z.number().int().positive(),
    calibration: Split.default({ count: 1000, seed: 0 }),
    eval: Split.default({ count: 2000, seed: 1 }),
    weights: QuantSpec.default({ bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' }),
    activations: QuantSpec.default({ bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' }),
    estimator: Estimator.default({ kind: 'minmax', decay: 0.999, percentile: 99.99, bins: 2048 }),
    overrides: z.array(LayerOverride).default([]),
    /** What to do with a layer the quantizer cannot handle. */
    unsupported: z.enum(['stop', 'keep-float']).default('stop'),
    training: Training.optional(),
    /** Absent in runs stored before it existed: no recovery. */
    recovery: Recovery.optional(),
    /** Sensitivity runs only; absent elsewhere. */
    sensitivity: Sensitivity.optional(),

    /** Plan and simulate as this export target computes (engine/targets); absent: the studio's plain TF fake-quant simulation. */
    target: TargetName.optional(),
  })
  .strict();
export type RunConfig = z.infer<typeof RunConfig>;
export type RunConfigInput = z.input<typeof RunConfig>;

/** Why a config's AdaRound cannot run as asked (with bias correction; fewer calibration samples than one batch), or null. */
export function adaroundProblem(c: Pick<RunConfig, 'recovery' | 'calibration'>): string | null {
  const a = c.recovery?.adaround;
  if (!a) return null;
  if (c.recovery!.biasCorrection !== 'off') return `AdaRound and ${c.recovery!.biasCorrection} bias correction do not go together: AdaRound fits each layer's output, its mean included; choose one`;
  if (c.calibration.count < a.batchSize) return `AdaRound needs at least one batch of ${a.batchSize} calibration samples; the calibration split has ${c.calibration.count}`;
  return null;
}

/** A readable default name, e.g. `fashion_cnn_8w8a_sym_narrow_perch_minmax`. */
export function defaultRunName(kind: 'ptq' | 'qat' | 'float' | 'sensitivity', modelName: string, c: RunConfig): string {
  const base = modelName.replace(/[^A-Za-z0-9]+/g, '_').toLowerCase();
  if (kind === 'float') return `${base}_float`;
  const w = c.weights;
  const parts = [
    base,
    `${w.bits}w${c.activations.bits}a`,
    w.symmetric ? 'sym' : 'asym',
    w.narrowRange ? 'narrow' : 'full',
    w.granularity === 'per-channel' ? 'perch' : 'perten',
    c.estimator.kind,
  ];
  if (c.estimator.weights && c.estimator.weights !== weightEstimator({ ...c.estimator, weights: undefined }).kind) parts.push(`w${c.estimator.weights}`);
  if (kind === 'qat') parts.push('qat');
  if (kind === 'sensitivity') parts.push(`sensitivity${c.sensitivity?.subset ?? 500}`);
  if (c.recovery?.cle) parts.push(`${c.recovery.relu6 === 'as-relu' ? 'cle6' : 'cle'}${c.recovery.flatten === 'cross' ? 'flat' : ''}${c.recovery.highBiasAbsorption ? 'hba' : ''}`);
  if (c.recovery && c.recovery.biasCorrection !== 'off') parts.push(`bc${{ empirical: 'emp', 'empirical-float': 'empf', analytic: 'ana' }[c.recovery.biasCorrection]}`);
  if (c.recovery?.adaround) parts.push(`adaround${c.recovery.adaround.iterations}`);
  if (c.overrides.length > 0) parts.push(c.overrides.map(overrideLabel).join('_'));
  if (c.target) parts.push(c.target.replace(/-/g, ''));
  return parts.join('_');
}

function overrideLabel(o: LayerOverride): string {
  const layer = o.layer.replace(/[^A-Za-z0-9]+/g, '');
  if (o.float) return `${layer}float`;
  return `${layer}${o.weightBits ?? ''}w${o.activationBits ?? ''}a`;
}
