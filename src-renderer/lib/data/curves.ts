/**
 * QAT / float-training curves of several runs on one shared step axis, for
 * an overlaid uPlot chart. Pure, no DOM.
 */
import type { RunCurvePoint } from '../../../src-main/api/contract.js';

export type CurveMetric = 'loss' | 'accuracy' | 'val_loss' | 'val_accuracy';

export const CURVE_METRICS: readonly { metric: CurveMetric; label: string }[] = [
  { metric: 'loss', label: 'Loss' },
  { metric: 'accuracy', label: 'Accuracy' },
  { metric: 'val_loss', label: 'Validation loss' },
  { metric: 'val_accuracy', label: 'Validation accuracy' },
];

/** The metric's value at this point; undefined when the point is of the other split. */
function pick(p: RunCurvePoint, metric: CurveMetric): number | null | undefined {
  const split = metric.startsWith('val_') ? 'val' : 'train';
  if (p.split !== split) return undefined;
  return metric.endsWith('loss') ? p.loss : p.accuracy;
}

/**
 * Steps of all runs joined (sorted, unique) and one series per run with null
 * where that run logged nothing at the step. Points of the other split are
 * skipped.
 */
export function joinCurves(runs: readonly (readonly RunCurvePoint[])[], metric: CurveMetric): [number[], ...(number | null)[][]] {
  const perRun = runs.map((points) => {
    const m = new Map<number, number | null>();
    for (const p of points) {
      const v = pick(p, metric);
      if (v !== undefined) m.set(p.step, v);
    }
    return m;
  });
  const steps = [...new Set(perRun.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  return [steps, ...perRun.map((m) => steps.map((s) => (m.has(s) ? (m.get(s) ?? null) : null)))];
}

/** Names of the quantizer ranges logged in any run, sorted. */
export function rangeNames(runs: readonly (readonly RunCurvePoint[])[]): string[] {
  const names = new Set<string>();
  for (const points of runs) for (const p of points) for (const k of Object.keys(p.ranges ?? {})) names.add(k);
  return [...names].sort();
}

/** One quantizer's range over steps: [steps, min run 1, max run 1, min run 2, ...]. */
export function joinRanges(runs: readonly (readonly RunCurvePoint[])[], name: string): [number[], ...(number | null)[][]] {
  const perRun = runs.map((points) => {
    const m = new Map<number, { min: number; max: number }>();
    for (const p of points) {
      const r = p.ranges?.[name];
      if (r) m.set(p.step, r);
    }
    return m;
  });
  const steps = [...new Set(perRun.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const series: (number | null)[][] = [];
  for (const m of perRun) {
    series.push(steps.map((s) => m.get(s)?.min ?? null));
    series.push(steps.map((s) => m.get(s)?.max ?? null));
  }
  return [steps, ...series];
}
