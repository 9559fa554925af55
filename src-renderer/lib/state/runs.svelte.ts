/** The runs table: the list from the host, its sort, the selection for Compare, and live progress. */
import type { JobProgress, RunSummary } from '../../../src-main/api/contract.js';
import type { ApiClient } from '../api.js';
import { DEFAULT_RUN_SORT, nextRunSort, sortRuns, type RunSortKey, type SortState } from '../data/sort.js';
import { Resource } from './resource.svelte.js';

export class RunsStore {
  #api: ApiClient;
  readonly list = new Resource<RunSummary[]>(() => this.#api.call('runs.list', {}));
  sort = $state.raw<SortState<RunSortKey>>(DEFAULT_RUN_SORT);
  /** Run ids ticked for comparison. */
  selected = $state.raw<ReadonlySet<number>>(new Set());
  /** Latest progress per running run, from job.progress events. */
  progress = $state.raw<ReadonlyMap<number, JobProgress>>(new Map());

  readonly rows = $derived(sortRuns(this.list.value ?? [], this.sort));
  /** Selected runs that still exist, in table order. */
  readonly selectedRuns = $derived(this.rows.filter((run) => this.selected.has(run.id)));

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Subscribes to run events; returns the unsubscribe function. */
  listen(): () => void {
    const offChanged = this.#api.on('runs.changed', (change) => {
      if (change.status !== 'running' && this.progress.has(change.id)) {
        const next = new Map(this.progress);
        next.delete(change.id);
        this.progress = next;
      }
      void this.list.refresh();
    });
    const offProgress = this.#api.on('job.progress', (p) => {
      const next = new Map(this.progress);
      next.set(p.runId, p);
      this.progress = next;
    });
    return () => {
      offChanged();
      offProgress();
    };
  }

  sortBy(key: RunSortKey): void {
    this.sort = nextRunSort(this.sort, key);
  }

  toggleSelected(id: number): void {
    const next = new Set(this.selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    this.selected = next;
  }

  clearSelection(): void {
    this.selected = new Set();
  }
}
