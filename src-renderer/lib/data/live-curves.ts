/**
 * One training run's curves as it trains: loss and accuracy per step (train
 * and validation on one step axis) and the quantizers' ranges over steps,
 * grouped as the engine names them (`input`, `<layer>/output`,
 * `<layer>/kernel`). Pure, no DOM; the live chart feeds uPlot from these.
 */
import type { RunCurvePoint } from '../../../src-main/api/contract.js';

export type AlignedSeries = [number[], ...(number | null)[][]];

/** [steps, train, val] of one metric; null where a split logged nothing at that step. */
export function splitSeries(points: readonly RunCurvePoint[], metric: 'loss' | 'accuracy'): AlignedSeries {
  const train = new Map<number, number | null>();
  const val = new Map<number, number | null>();
  for (const p of points) (p.split === 'val' ? val : train).set(p.step, p[metric]);
  const steps = [...new Set([...train.keys(), ...val.keys()])].sort((a, b) => a - b);
  return [steps, steps.map((s) => train.get(s) ?? null), steps.map((s) => val.get(s) ?? null)];
}

export type RangeGroup = 'input' | 'activation' | 'kernel';

export const RANGE_GROUPS: readonly { group: RangeGroup; label: string; hint: string }[] = [
  { group: 'input', label: 'Model input', hint: 'the input quantizer’s min and max' },
  { group: 'activation', label: 'Activations', hint: 'each activation quantizer’s min and max' },
  { group: 'kernel', label: 'Kernels', hint: 'each kernel’s range; per-channel kernels as the envelope of their channels' },
];

/** Which group a logged range belongs to, from its name. */
export function rangeGroup(name: string): RangeGroup {
  if (name.endsWith('/kernel')) return 'kernel';
  if (name === 'input' || name.endsWith('/input')) return 'input';
  return 'activation';
}

/** Names of the ranges logged in these points, by group, each in order of first appearance. */
export function groupedRangeNames(points: readonly RunCurvePoint[]): Record<RangeGroup, string[]> {
  const out: Record<RangeGroup, string[]> = { input: [], activation: [], kernel: [] };
  const seen = new Set<string>();
  for (const p of points) {
    for (const name of Object.keys(p.ranges ?? {})) {
      if (seen.has(name)) continue;
      seen.add(name);
      out[rangeGroup(name)].push(name);
    }
  }
  return out;
}

/** [steps, min of name 1, max of name 1, min of name 2, ...] over the points that logged ranges. */
export function rangeSeries(points: readonly RunCurvePoint[], names: readonly string[]): AlignedSeries {
  const withRanges = points.filter((p) => p.ranges && names.some((n) => p.ranges![n] !== undefined));
  const byStep = new Map<number, Record<string, { min: number; max: number }>>();
  for (const p of withRanges) byStep.set(p.step, { ...byStep.get(p.step), ...p.ranges });
  const steps = [...byStep.keys()].sort((a, b) => a - b);
  const series: (number | null)[][] = [];
  for (const name of names) {
    series.push(steps.map((s) => byStep.get(s)![name]?.min ?? null));
    series.push(steps.map((s) => byStep.get(s)![name]?.max ?? null));
  }
  return [steps, ...series];
}

/** The group to show first: activations if any, else kernels, else the input. */
export function defaultRangeGroup(names: Record<RangeGroup, string[]>): RangeGroup | null {
  for (const g of ['activation', 'kernel', 'input'] as const) if (names[g].length > 0) return g;
  return null;
}

/** The newest train and validation figures, for a line of text beside the chart. */
export function latestFigures(points: readonly RunCurvePoint[]): { step: number; epoch: number; loss: number | null; accuracy: number | null; valLoss: number | null; valAccuracy: number | null } | null {
  let train: RunCurvePoint | null = null;
  let val: RunCurvePoint | null = null;
  for (const p of points) {
    if (p.split === 'val') {
      if (val === null || p.step >= val.step) val = p;
    } else if (train === null || p.step >= train.step) train = p;
  }
  const last = train ?? val;
  if (last === null) return null;
  return { step: last.step, epoch: last.epoch, loss: train?.loss ?? null, accuracy: train?.accuracy ?? null, valLoss: val?.loss ?? null, valAccuracy: val?.accuracy ?? null };
}
