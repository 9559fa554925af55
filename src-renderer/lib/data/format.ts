/**
 * How figures and configs read in the UI. Pure functions, no DOM: compiled by
 * the Node tsconfig as well and unit-tested with node:test.
 *
 * Accuracies in the contract are fractions (0.9123 = 91.23 %); a difference
 * between two of them is reported in percentage points ("pt").
 */
import type { AppInfo, LayerSummary, RunSummary } from '../../../src-main/api/contract.js';
import type { Estimator, QuantSpec, RunConfig } from '../../../src-main/api/run-config.js';

const DASH = '–';
const MINUS = '−';

/** "W8 per-channel sym" — bits, granularity, symmetry of the weights. */
export function formatWeightSpec(w: QuantSpec): string {
  return `W${w.bits} ${w.granularity} ${w.symmetric ? 'sym' : 'asym'}`;
}

/**
 * "A8 per-tensor" — activations are asymmetric unless said otherwise, so
 * only a symmetric activation quantizer gets a suffix.
 */
export function formatActivationSpec(a: QuantSpec): string {
  return `A${a.bits} ${a.granularity}${a.symmetric ? ' sym' : ''}`;
}

/** "minmax", "percentile 99.99", "movingaverage 0.999", "mse", "entropy". */
export function formatEstimator(e: Estimator): string {
  return `${activationEstimatorLabel(e)}${weightRangesNote(e)}`;
}

function activationEstimatorLabel(e: Estimator): string {
  switch (e.kind) {
    case 'percentile':
      return `percentile ${trimNumber(e.percentile)}`;
    case 'movingaverage':
      return `movingaverage ${trimNumber(e.decay)}`;
    default:
      return e.kind;
  }
}

/** The kernels' range estimator: `weights` when set, else mse with the mse estimator and minmax with any other (as run-config.ts weightEstimator). */
export function weightRangeEstimator(e: Pick<Estimator, 'kind' | 'weights'>): 'minmax' | 'mse' {
  return e.weights ?? (e.kind === 'mse' ? 'mse' : 'minmax');
}

/** ", weights mse" when the kernels' range estimator is set apart from the estimator's own default. */
function weightRangesNote(e: Estimator): string {
  return e.weights && e.weights !== weightRangeEstimator({ kind: e.kind }) ? `, weights ${e.weights}` : '';
}

/**
 * One line for the runs table: "W8 per-channel sym / A8 per-tensor / minmax",
 * with "+2 overrides" when layers are configured apart. A float run has no
 * quantizers to describe.
 */
export function formatConfigSummary(kind: RunSummary['kind'], c: RunConfig): string {
  if (kind === 'float') return 'float baseline';
  const parts = [formatWeightSpec(c.weights), formatActivationSpec(c.activations), formatEstimator(c.estimator)];
  let line = parts.join(' / ');
  const n = c.overrides.length;
  if (n > 0) line += ` +${n} override${n === 1 ? '' : 's'}`;
  return line;
}

/** The whole config in words, for a tooltip. */
export function describeConfig(kind: RunSummary['kind'], c: RunConfig): string {
  const lines: string[] = [];
  if (kind !== 'float') {
    lines.push(`Weights: ${describeSpec(c.weights)}`);
    lines.push(`Activations: ${describeSpec(c.activations)}`);
    lines.push(`Range estimator: ${describeEstimator(c.estimator)}`);
  }
  lines.push(`Calibration: ${c.calibration.count} samples (seed ${c.calibration.seed})`);
  lines.push(`Evaluation: ${c.eval.count} samples (seed ${c.eval.seed})`);
  if (kind === 'sensitivity') lines.push(`Sensitivity: each case on the first ${c.sensitivity?.subset ?? 500} evaluation samples`);
  for (const o of c.overrides) {
    if (o.float) lines.push(`Override ${o.layer}: kept in float`);
    else {
      const what = [o.weightBits !== undefined ? `W${o.weightBits}` : null, o.activationBits !== undefined ? `A${o.activationBits}` : null].filter((x) => x !== null);
      lines.push(`Override ${o.layer}: ${what.length > 0 ? what.join(' ') : 'no change'}`);
    }
  }
  if (kind !== 'float') lines.push(`Unsupported layers: ${c.unsupported === 'stop' ? 'stop the run' : 'keep in float'}`);
  if (c.target) lines.push(`Export target: ${c.target} (planned and evaluated as it computes)`);
  if (kind === 'ptq' && c.recovery) {
    const r = c.recovery;
    const steps = [
      r.cle ? `CLE${r.relu6 === 'as-relu' ? ' (ReLU6 as ReLU)' : ''}${r.flatten === 'cross' ? ' (across Flatten)' : ''}${r.highBiasAbsorption ? ' + high-bias absorption' : ''}` : null,
      r.biasCorrection !== 'off' ? `${r.biasCorrection} bias correction` : null,
      r.adaround ? `AdaRound (${r.adaround.iterations} steps × ${r.adaround.batchSize}, λ ${trimNumber(r.adaround.regularization)})` : null,
    ].filter((x) => x !== null);
    if (steps.length > 0) lines.push(`Accuracy recovery: ${steps.join(', ')}`);
  }
  if (c.training) {
    const t = c.training;
    lines.push(`Training: ${t.optimizer}, lr ${trimNumber(t.learningRate)}, batch ${t.batchSize}, ${trimNumber(t.epochs)} epoch${t.epochs === 1 ? '' : 's'}`);
  }
  return lines.join('\n');
}

function describeSpec(s: QuantSpec): string {
  const axis = s.granularity === 'per-channel' && s.axis !== undefined ? ` (axis ${s.axis})` : '';
  return `${s.bits}-bit ${s.granularity}${axis}, ${s.symmetric ? 'symmetric' : 'asymmetric'}, ${s.narrowRange ? 'narrow range' : 'full range'}`;
}

function describeEstimator(e: Estimator): string {
  return `${describeActivationEstimator(e)}${weightRangesNote(e)}`;
}

function describeActivationEstimator(e: Estimator): string {
  switch (e.kind) {
    case 'percentile':
      return `percentile ${trimNumber(e.percentile)} (${e.bins} bins)`;
    case 'movingaverage':
      return `moving average, decay ${trimNumber(e.decay)}`;
    case 'mse':
    case 'entropy':
      return `${e.kind} (${e.bins} bins)`;
    default:
      return e.kind;
  }
}

/** 0.91234 -> "91.23 %"; null -> "–". */
export function formatAccuracy(fraction: number | null | undefined, digits = 2): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return DASH;
  return `${(fraction * 100).toFixed(digits)} %`;
}

/** quant − float in percentage points, or null when either is missing. */
export function accuracyDelta(floatAccuracy: number | null, quantAccuracy: number | null): number | null {
  if (floatAccuracy === null || quantAccuracy === null || !Number.isFinite(floatAccuracy) || !Number.isFinite(quantAccuracy)) return null;
  return (quantAccuracy - floatAccuracy) * 100;
}

/** −0.42 -> "−0.42 pt", 0.1 -> "+0.10 pt", null -> "–". A difference that rounds to zero reads "±0.00 pt". */
export function formatDelta(points: number | null, digits = 2): string {
  if (points === null || !Number.isFinite(points)) return DASH;
  const rounded = Number(points.toFixed(digits));
  if (rounded === 0) return `±${(0).toFixed(digits)} pt`;
  const sign = rounded > 0 ? '+' : MINUS;
  return `${sign}${Math.abs(points).toFixed(digits)} pt`;
}

export type DeltaSeverity = 'none' | 'good' | 'warn' | 'bad';

/**
 * How worrying an accuracy change is: within half a point of the float model
 * is good, up to two points lost is a warning, more is bad.
 */
export function deltaSeverity(points: number | null): DeltaSeverity {
  if (points === null || !Number.isFinite(points)) return 'none';
  if (points >= -0.5) return 'good';
  if (points >= -2) return 'warn';
  return 'bad';
}

/** 1234567 -> "1,234,567". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return DASH;
  const sign = n < 0 ? MINUS : '';
  const digits = String(Math.round(Math.abs(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 1234567 -> "1.23 M", 45200 -> "45.2 k", 812 -> "812". */
export function formatCompactCount(n: number): string {
  if (!Number.isFinite(n)) return DASH;
  const a = Math.abs(n);
  const sign = n < 0 ? MINUS : '';
  if (a >= 1e9) return `${sign}${toPrecision3(a / 1e9)} G`;
  if (a >= 1e6) return `${sign}${toPrecision3(a / 1e6)} M`;
  if (a >= 1e3) return `${sign}${toPrecision3(a / 1e3)} k`;
  return `${sign}${Math.round(a)}`;
}

function toPrecision3(x: number): string {
  // 999.95 k would print as "1000 k": let it carry over like a person would write it.
  return Number(x.toPrecision(3)).toString();
}

/** [28, 28, 1] -> "28×28×1"; [] -> "scalar"; -1 or null dimensions print as "?". */
export function formatShape(shape: readonly (number | null)[]): string {
  if (shape.length === 0) return 'scalar';
  return shape.map((d) => (d === null || d < 0 ? '?' : String(d))).join('×');
}

/** { kernel: [3,3,1,16], bias: [16] } -> "kernel 3×3×1×16 · bias 16"; none -> "–". */
export function formatWeightShapes(weights: Record<string, readonly number[]>): string {
  const entries = Object.entries(weights);
  if (entries.length === 0) return DASH;
  return entries.map(([name, shape]) => `${name} ${formatShape(shape)}`).join(' · ');
}

/** Sum of the layers' parameters. */
export function totalParams(layers: readonly Pick<LayerSummary, 'params'>[]): number {
  let total = 0;
  for (const l of layers) total += l.params;
  return total;
}

/** An ISO timestamp in local time as "2025-11-23 14:05"; unreadable input is returned as given. */
export function formatDateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * Shortens a long path in the middle so both the root and the file name stay
 * readable: "/home/ana/…/studio/studio.db".
 */
export function shortenPath(path: string, max = 48): string {
  if (path.length <= max) return path;
  const sep = path.includes('\\') && !path.includes('/') ? '\\' : '/';
  const parts = path.split(sep);
  const tail: string[] = [];
  let length = 2; // the ellipsis and its separator
  for (let i = parts.length - 1; i > 0; i--) {
    const part = parts[i] ?? '';
    if (tail.length > 0 && length + part.length + 1 > max * 0.7) break;
    tail.unshift(part);
    length += part.length + 1;
  }
  const head: string[] = [];
  for (let i = 0; i < parts.length - tail.length - 1; i++) {
    const part = parts[i] ?? '';
    if (length + part.length + 1 > max) break;
    head.push(part);
    length += part.length + 1;
  }
  const out = [...head, '…', ...tail].join(sep);
  // A single enormous file name: keep its end.
  return out.length <= max + 1 ? out : `…${path.slice(path.length - max + 1)}`;
}

/** The status bar's short label for the backend, e.g. "wasm · 4 threads". */
export function formatBackend(backend: AppInfo['backend']): string {
  return backend.threads > 1 ? `${backend.name} · ${backend.threads} threads` : backend.name;
}

/**
 * Tooltip for the backend: which one runs, and why each better one was not
 * used ("tensorflow: Cannot find module '@tensorflow/tfjs-node'").
 */
export function backendTitle(backend: AppInfo['backend']): string {
  const lines = [`Compute backend: ${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'})`];
  if (backend.fallbacks.length === 0) lines.push('The preferred backend is in use.');
  else {
    lines.push('Not used:');
    for (const f of backend.fallbacks) lines.push(`${f.name}: ${f.reason}`);
  }
  return lines.join('\n');
}

/** "electron" -> "desktop", "web" -> "browser". */
export function hostLabel(host: 'electron' | 'web' | 'cli' | 'desktop' | 'browser'): string {
  switch (host) {
    case 'electron':
    case 'desktop':
      return 'desktop';
    case 'web':
    case 'browser':
      return 'browser';
    default:
      return host;
  }
}

/** A number without trailing zeros: 99.990 -> "99.99", 0.001 -> "0.001". */
function trimNumber(x: number): string {
  return Number(x.toPrecision(6)).toString();
}
