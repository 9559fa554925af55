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

/**
 * Share of a whole run each phase of the engine stands for (phase names as
 * src-main/engine reports them), so progress is one bar from 0 to 100 % across
 * phases instead of restarting at each. Shares are rough costs: evaluation
 * passes the eval split through two models, training dominates QAT.
 */
export const PHASE_SPANS: Record<RunSummary['kind'], Record<string, [number, number]>> = {
  ptq: { calibrate: [0, 0.35], evaluate: [0.35, 1] },
  qat: { 'float baseline': [0, 0.08], train: [0.08, 0.88], evaluate: [0.88, 1] },
  float: { train: [0, 0.88], evaluate: [0.88, 1] },
  // A sensitivity run: one calibration, then several dozen passes over its subset.
  sensitivity: { calibrate: [0, 0.1], sensitivity: [0.1, 1] },
};

/** A job.progress event with the run's overall progress. */
export interface RunProgress extends JobProgress {
  /** 0..1 over the whole run; never goes down. */
  overall: number;
  /** Seconds left for the whole run, from the current phase's rate; null while unknown. */
  overallEta: number | null;
}

/**
 * The next overall progress of a run from a job.progress event. A phase not
 * in PHASE_SPANS keeps the last overall figure (it still names the phase);
 * the figure never goes below the previous one.
 */
export function advanceProgress(prev: RunProgress | undefined, kind: RunSummary['kind'], p: JobProgress): RunProgress {
  const span = PHASE_SPANS[kind][p.phase];
  const inPhase = progressFraction(p);
  const computed = span ? span[0] + (span[1] - span[0]) * inPhase : (prev?.overall ?? 0);
  const overall = Math.max(prev?.overall ?? 0, Math.min(1, computed));
  let overallEta: number | null = null;
  if (span && p.etaSeconds !== null && Number.isFinite(p.etaSeconds)) {
    // The phase's seconds per unit of overall progress, carried over the phases still to come.
    const phaseLeft = (1 - inPhase) * (span[1] - span[0]);
    overallEta = phaseLeft > 1e-9 ? (p.etaSeconds / phaseLeft) * (1 - overall) : p.etaSeconds;
  } else if (!span && p.etaSeconds !== null && Number.isFinite(p.etaSeconds)) {
    // A phase without a share (AdaRound, bias correction: only some runs have them): its own time left, the rest not counted.
    overallEta = p.etaSeconds;
  }
  return { ...p, overall, overallEta };
}
