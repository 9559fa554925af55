/** The runs table: the list from the host, its sort, the selection for Compare, and live progress. */
import type { JobProgress, RunSummary } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { advanceProgress, filterRuns, type RunProgress } from '../data/progress.js';
import { DEFAULT_RUN_SORT, nextRunSort, sortRuns, type RunSortKey, type SortState } from '../data/sort.js';
import { Resource } from './resource.svelte.js';
import { RunDetailStore } from './run-detail.svelte.js';

export class RunsStore {
  #api: ApiClient;
  readonly list = new Resource<RunSummary[]>(() => this.#api.call('runs.list', {}));
  sort = $state.raw<SortState<RunSortKey>>(DEFAULT_RUN_SORT);
  /** Run ids ticked for comparison. */
  selected = $state.raw<ReadonlySet<number>>(new Set());
  /** The run opened by a click on its row. */
  readonly open: RunDetailStore;
  /** Latest progress per running run, from job.progress events, with its overall figure across phases. */
  progress = $state.raw<ReadonlyMap<number, RunProgress>>(new Map());

  /** Words every shown run must contain (name, model, dataset, kind, status, config). */
  query = $state('');
  /** The last rename / delete failure. */
  actionError = $state.raw<ApiError | null>(null);

  readonly rows = $derived(sortRuns(filterRuns(this.list.value ?? [], this.query), this.sort));
  /** Selected runs that still exist, in table order (filtered out or not). */
  readonly selectedRuns = $derived(sortRuns(this.list.value ?? [], this.sort).filter((run) => this.selected.has(run.id)));

  constructor(api: ApiClient) {
    this.#api = api;
    this.open = new RunDetailStore(api);
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
    const offProgress = this.#api.on('job.progress', (p: JobProgress) => {
      const kind = this.list.value?.find((r) => r.id === p.runId)?.kind ?? 'ptq';
      const next = new Map(this.progress);
      next.set(p.runId, advanceProgress(this.progress.get(p.runId), kind, p));
      this.progress = next;
    });
    const offDetail = this.open.listen();
    return () => {
      offChanged();
      offProgress();
      offDetail();
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

  async rename(id: number, name: string): Promise<boolean> {
    const trimmed = name.trim();
    if (trimmed === '') return false;
    this.actionError = null;
    try {
      await this.#api.call('runs.rename', { id, name: trimmed });
      await this.list.refresh();
      return true;
    } catch (err) {
      this.actionError = toApiError(err, 'runs.rename');
      return false;
    }
  }

  /** Deletes a run with its rows and the files it owns (the host refuses a queued or running run). */
  async remove(id: number): Promise<boolean> {
    this.actionError = null;
    try {
      await this.#api.call('runs.delete', { id });
      if (this.open.id === id) this.open.close();
      if (this.selected.has(id)) {
        const next = new Set(this.selected);
        next.delete(id);
        this.selected = next;
      }
      await this.list.refresh();
      return true;
    } catch (err) {
      this.actionError = toApiError(err, 'runs.delete');
      return false;
    }
  }

  cancel(id: number): Promise<unknown> {
    return this.#api.call('runs.cancel', { id }).catch((err: unknown) => {
      this.actionError = toApiError(err, 'runs.cancel');
    });
  }

  dismissActionError(): void {
    this.actionError = null;
  }
}
