/**
 * Sorting for the renderer's tables. Pure, no DOM: compiled by the Node
 * tsconfig as well and unit-tested with node:test.
 */
import type { ModelSummary, RunStatus, RunSummary } from '../../../src-main/api/contract.js';
import { accuracyDelta, formatConfigSummary } from './format.js';

export type SortDirection = 'asc' | 'desc';

export interface SortState<K extends string> {
  key: K;
  dir: SortDirection;
}

export type RunSortKey =
  | 'name'
  | 'model'
  | 'dataset'
  | 'kind'
  | 'config'
  | 'floatAccuracy'
  | 'quantAccuracy'
  | 'delta'
  | 'status'
  | 'createdAt';

/** Newest first: what a table of runs opens with. */
export const DEFAULT_RUN_SORT: SortState<RunSortKey> = { key: 'createdAt', dir: 'desc' };

/** Order of statuses when sorting by status: what needs attention first. */
const STATUS_ORDER: Record<RunStatus, number> = {
  running: 0,
  queued: 1,
  failed: 2,
  interrupted: 3,
  cancelled: 4,
  done: 5,
};

type SortValue = string | number | null;

function runSortValue(run: RunSummary, key: RunSortKey): SortValue {
  switch (key) {
    case 'name':
      return run.name;
    case 'model':
      return run.modelName;
    case 'dataset':
      return run.datasetName;
    case 'kind':
      return run.kind;
    case 'config':
      return formatConfigSummary(run.kind, run.config);
    case 'floatAccuracy':
      return run.floatAccuracy;
    case 'quantAccuracy':
      return run.quantAccuracy;
    case 'delta':
      return accuracyDelta(run.floatAccuracy, run.quantAccuracy);
    case 'status':
      return STATUS_ORDER[run.status] ?? 99;
    case 'createdAt': {
      const t = Date.parse(run.createdAt);
      return Number.isNaN(t) ? null : t;
    }
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function isMissing(v: SortValue): boolean {
  return v === null || (typeof v === 'number' && Number.isNaN(v));
}

/** Compares two values; null (no figure yet) is handled by the caller. */
function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * A sorted copy. Missing values (a run without an accuracy yet) always go
 * last, whichever the direction; ties keep a stable order by id, newest first.
 */
export function sortRuns(runs: readonly RunSummary[], sort: SortState<RunSortKey>): RunSummary[] {
  const sign = sort.dir === 'asc' ? 1 : -1;
  const keyed = runs.map((run) => ({ run, value: runSortValue(run, sort.key) }));
  keyed.sort((x, y) => {
    const a = x.value;
    const b = y.value;
    const aMissing = isMissing(a);
    const bMissing = isMissing(b);
    if (aMissing !== bMissing) return aMissing ? 1 : -1;
    if (a !== null && b !== null && !aMissing) {
      const c = compareValues(a, b);
      if (c !== 0) return sign * c;
    }
    return y.run.id - x.run.id;
  });
  return keyed.map((k) => k.run);
}

/**
 * Clicking a column header: the same column flips direction, a new one starts
 * with the direction that reads best (figures and dates high first, text A–Z).
 */
export function nextRunSort(current: SortState<RunSortKey>, key: RunSortKey): SortState<RunSortKey> {
  if (current.key === key) return { key, dir: current.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: defaultDirection(key) };
}

export function defaultDirection(key: RunSortKey): SortDirection {
  switch (key) {
    case 'floatAccuracy':
    case 'quantAccuracy':
    case 'delta':
    case 'createdAt':
      return 'desc';
    default:
      return 'asc';
  }
}

/** Models by name, builtin and imported alike; the id breaks ties. */
export function sortModels(models: readonly ModelSummary[]): ModelSummary[] {
  return [...models].sort((a, b) => collator.compare(a.name, b.name) || a.id - b.id);
}
