/** Progress and run-list helpers for the New run and Runs views. Pure, no DOM. */
import type { JobProgress, RunSummary } from '../../../src-main/api/contract.js';
import { formatConfigSummary } from './format.js';

/** 75 -> "1 min 15 s left"; 8.2 -> "9 s left"; null -> "estimating time left…". */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'estimating time left…';
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s left`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s left`;
  return `${Math.floor(m / 60)} h ${m % 60} min left`;
}

/** done/total as 0..1, clamped; 0 when the total is unknown. */
export function progressFraction(p: Pick<JobProgress, 'done' | 'total'> | null | undefined): number {
  if (!p || !(p.total > 0)) return 0;
  return Math.min(1, Math.max(0, p.done / p.total));
}

/**
 * Runs whose name, model, dataset, kind, status or config summary contain
 * every word of the query (case-insensitive). An empty query keeps all.
 */
export function filterRuns(runs: readonly RunSummary[], query: string): RunSummary[] {
  const words = query.toLowerCase().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return [...runs];
  return runs.filter((run) => {
    const text = [run.name, run.modelName, run.datasetName, run.kind, run.status, formatConfigSummary(run.kind, run.config)].join(' ').toLowerCase();
    return words.every((w) => text.includes(w));
  });
}

export interface FoldedBn {
  batchNorm: string;
  into: string;
}

/**
 * BatchNorm folds from a run summary. Accepts the engine's records
 * ({batchNorm, layer}) and the short form ({bn, into}); anything else is skipped.
 */
export function foldedBatchNorms(summary: Record<string, unknown> | null | undefined): FoldedBn[] {
  const list = summary?.folded;
  if (!Array.isArray(list)) return [];
  const out: FoldedBn[] = [];
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const o = item as Record<string, unknown>;
    const bn = typeof o.batchNorm === 'string' ? o.batchNorm : typeof o.bn === 'string' ? o.bn : null;
    const into = typeof o.layer === 'string' ? o.layer : typeof o.into === 'string' ? o.into : null;
    if (bn !== null && into !== null) out.push({ batchNorm: bn, into });
  }
  return out;
}
