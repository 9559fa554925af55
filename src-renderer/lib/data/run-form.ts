/**
 * "Edit as new run": the New run form's fields from a stored run's config,
 * so a past run can be changed in one place and started again. Missing
 * parts take the contract's defaults (run-config.ts), as the host would.
 */
import type { RunConfig, Training } from '../../../src-main/api/run-config.js';

export interface RunFormValues {
  kind: 'ptq' | 'qat' | 'float';
  modelId: number;
  datasetId: number;
  weights: { bits: number; symmetric: boolean; narrowRange: boolean; granularity: 'per-tensor' | 'per-channel' };
  activations: { bits: number; symmetric: boolean; narrowRange: boolean; granularity: 'per-tensor' | 'per-channel' };
  estimator: RunConfig['estimator']['kind'];
  percentile: number;
  decay: number;
  calibrationCount: number;
  evalCount: number;
  overrides: { layer: string; mode: 'float' | 'bits'; weightBits: number; activationBits: number }[];
  training: Training | null;
  /** The export target the run was planned for ('' for none). */
  target: NonNullable<RunConfig['target']> | '';
}

const spec = (s: RunConfig['weights']) => ({ bits: s.bits, symmetric: s.symmetric, narrowRange: s.narrowRange, granularity: s.granularity });

export function formFromRun(kind: RunFormValues['kind'], c: RunConfig): RunFormValues {
  return {
    kind,
    modelId: c.modelId,
    datasetId: c.datasetId,
    weights: spec(c.weights),
    activations: spec(c.activations),
    estimator: c.estimator.kind,
    percentile: c.estimator.percentile,
    decay: c.estimator.decay,
    calibrationCount: c.calibration.count,
    evalCount: c.eval.count,
    // An override that only sets one side keeps the run's own bits on the other.
    overrides: c.overrides.map((o) =>
      o.float
        ? { layer: o.layer, mode: 'float' as const, weightBits: c.weights.bits, activationBits: c.activations.bits }
        : { layer: o.layer, mode: 'bits' as const, weightBits: o.weightBits ?? c.weights.bits, activationBits: o.activationBits ?? c.activations.bits },
    ),
    training: c.training ?? null,
    target: c.target ?? '',
  };
}
