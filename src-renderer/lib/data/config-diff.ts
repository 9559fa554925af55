/**
 * The Compare view's config diff: each run's config flattened into readable
 * fields, keeping only the fields whose values differ between the runs.
 * Pure, no DOM: compiled by the Node tsconfig and unit-tested with node:test.
 */
import type { RunSummary } from '../../../src-main/api/contract.js';
import type { LayerOverride, QuantSpec } from '../../../src-main/api/run-config.js';
import { weightRangeEstimator } from './format.js';

export interface DiffRow {
  /** Stable key, e.g. "weights.granularity". */
  key: string;
  /** What a user reads, e.g. "Weights granularity". */
  label: string;
  /** One value per run, in the runs' order; "–" where a run does not have the field. */
  values: string[];
}

type DiffInput = Pick<RunSummary, 'kind' | 'modelName' | 'datasetName' | 'config'>;

const ABSENT = '–';

function specFields(prefix: 'weights' | 'activations', label: string, s: QuantSpec): [string, string, string][] {
  return [
    [`${prefix}.bits`, `${label} bits`, String(s.bits)],
    [`${prefix}.granularity`, `${label} granularity`, s.granularity],
    [`${prefix}.symmetric`, `${label} symmetric`, s.symmetric ? 'symmetric' : 'asymmetric'],
    [`${prefix}.narrowRange`, `${label} narrow range`, s.narrowRange ? 'narrow' : 'full'],
    [`${prefix}.axis`, `${label} channel axis`, s.axis === undefined ? 'default' : String(s.axis)],
  ];
}

/** "float", "W8 A16", "W4"; what one override does. */
export function describeOverride(o: LayerOverride): string {
  if (o.float) return 'float';
  const parts = [o.weightBits !== undefined ? `W${o.weightBits}` : null, o.activationBits !== undefined ? `A${o.activationBits}` : null];
  const text = parts.filter((p) => p !== null).join(' ');
  return text === '' ? 'no change' : text;
}

/** A run's config as [key, label, value] triples, in reading order. */
export function flattenConfig(run: DiffInput): [string, string, string][] {
  const c = run.config;
  const out: [string, string, string][] = [
    ['kind', 'Kind', run.kind.toUpperCase()],
    ['model', 'Model', run.modelName],
    ['dataset', 'Dataset', run.datasetName],
  ];
  if (run.kind !== 'float') {
    out.push(...specFields('weights', 'Weights', c.weights), ...specFields('activations', 'Activations', c.activations));
    out.push(['estimator.kind', 'Range estimator', c.estimator.kind]);
    if (c.estimator.kind === 'percentile') out.push(['estimator.percentile', 'Percentile', String(c.estimator.percentile)]);
    if (c.estimator.kind === 'movingaverage') out.push(['estimator.decay', 'Moving-average decay', String(c.estimator.decay)]);
    if (c.estimator.kind === 'percentile' || c.estimator.kind === 'mse' || c.estimator.kind === 'entropy') {
      out.push(['estimator.bins', 'Histogram bins', String(c.estimator.bins)]);
    }
    // Absent: the kernels follow the estimator (mse with mse, else minmax), as before the setting existed.
    if (run.kind !== 'qat') out.push(['estimator.weights', 'Weight range estimator', weightRangeEstimator(c.estimator)]);
    out.push(['unsupported', 'Unsupported layers', c.unsupported]);
  }
  if (run.kind === 'ptq') {
    // Runs stored before accuracy recovery existed read as 'off'.
    const r = c.recovery;
    out.push(['recovery.cle', 'Cross-layer equalization', r?.cle ? 'on' : 'off']);
    if (r?.cle) out.push(['recovery.relu6', 'CLE across ReLU6', r.relu6 === 'as-relu' ? 'as ReLU' : 'skip']);
    if (r?.cle) out.push(['recovery.flatten', 'CLE across Flatten', r.flatten === 'cross' ? 'cross' : 'skip']);
    if (r?.cle) out.push(['recovery.highBiasAbsorption', 'High-bias absorption', r.highBiasAbsorption ? 'on' : 'off']);
    out.push(['recovery.biasCorrection', 'Bias correction', r?.biasCorrection ?? 'off']);
    out.push(['recovery.adaround', 'AdaRound', r?.adaround ? `${r.adaround.iterations} steps × ${r.adaround.batchSize}, λ ${r.adaround.regularization}` : 'off']);
    // No target: the studio's plain TF fake-quant simulation.
    out.push(['target', 'Export target', c.target ?? 'none']);
  }
  out.push(['calibration.count', 'Calibration samples', String(c.calibration.count)]);
  out.push(['calibration.seed', 'Calibration seed', String(c.calibration.seed)]);
  out.push(['eval.count', 'Evaluation samples', String(c.eval.count)]);
  out.push(['eval.seed', 'Evaluation seed', String(c.eval.seed)]);
  for (const o of c.overrides) out.push([`override.${o.layer}`, `Override ${o.layer}`, describeOverride(o)]);
  if (c.training) {
    const t = c.training;
    out.push(
      ['training.optimizer', 'Optimizer', t.optimizer],
      ['training.learningRate', 'Learning rate', String(t.learningRate)],
      ['training.batchSize', 'Batch size', String(t.batchSize)],
      ['training.epochs', 'Epochs', String(t.epochs)],
      ['training.validationSplit', 'Validation split', String(t.validationSplit)],
    );
    if (t.optimizer === 'sgd') out.push(['training.momentum', 'Momentum', String(t.momentum)]);
    if (run.kind === 'qat') out.push(['training.bnFreezeStep', 'BN freeze step', String(t.bnFreezeStep)]);
  }
  return out;
}

/**
 * The fields that differ between the runs, in reading order (fields only
 * some runs have, such as an override or a percentile, count as differing).
 * With fewer than two runs nothing differs.
 */
export function configDiff(runs: readonly DiffInput[]): DiffRow[] {
  if (runs.length < 2) return [];
  const flat = runs.map((r) => new Map(flattenConfig(r).map(([key, label, value]) => [key, { label, value }])));
  const order: { key: string; label: string }[] = [];
  const seen = new Set<string>();
  for (const m of flat) {
    for (const [key, { label }] of m) {
      if (seen.has(key)) continue;
      seen.add(key);
      order.push({ key, label });
    }
  }
  const rows: DiffRow[] = [];
  for (const { key, label } of order) {
    const values = flat.map((m) => m.get(key)?.value ?? ABSENT);
    if (values.some((v) => v !== values[0])) rows.push({ key, label, values });
  }
  return rows;
}
