/**
 * Live curves of training runs (QAT and float): components `watch` a run
 * while they show it; its points are fetched at once and again whenever the
 * host says the run changed (the run manager sends `runs.changed` with
 * status 'running' each time it stores new curve points), at most twice a
 * second per run, plus once more when the run ends.
 */
import type { RunCurvePoint } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { throttle, type Throttled } from '../data/throttle.js';

/** At most this often per run (ms): ~2 refreshes a second. */
export const LIVE_REFRESH_MS = 500;

interface Watch {
  watchers: number;
  refresh: Throttled;
  inflight: boolean;
  again: boolean;
}

export class LiveCurvesStore {
  #api: ApiClient;
  #watches = new Map<number, Watch>();

  /** Points per watched run (replaced as a whole on each refresh). */
  points = $state.raw<ReadonlyMap<number, RunCurvePoint[]>>(new Map());
  errors = $state.raw<ReadonlyMap<number, ApiError>>(new Map());

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Follows run changes; returns the unsubscribe. */
  listen(): () => void {
    return this.#api.on('runs.changed', (change) => {
      const w = this.#watches.get(change.id);
      if (!w) return;
      w.refresh();
      // The last points arrive with the end of the run: fetch them now, not after the throttle.
      if (change.status !== 'running' && change.status !== 'queued') w.refresh.flush();
    });
  }

  /** Shows this run's curves until the returned function is called. */
  watch(runId: number): () => void {
    let w = this.#watches.get(runId);
    if (!w) {
      const created: Watch = { watchers: 0, refresh: throttle(() => void this.#load(runId, created), LIVE_REFRESH_MS), inflight: false, again: false };
      w = created;
      this.#watches.set(runId, w);
      w.refresh();
    }
    w.watchers++;
    const watch = w;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      watch.watchers--;
      if (watch.watchers > 0) return;
      watch.refresh.cancel();
      this.#watches.delete(runId);
      if (this.points.has(runId)) {
        const next = new Map(this.points);
        next.delete(runId);
        this.points = next;
      }
    };
  }

  /** Fetches now (a retry button). */
  reload(runId: number): void {
    const w = this.#watches.get(runId);
    if (w) void this.#load(runId, w);
  }

  /** Fetches every watched run now (after a reconnect: events were missed). */
  reloadAll(): void {
    for (const [runId, w] of this.#watches) void this.#load(runId, w);
  }

  /** One call at a time per run; a refresh asked for meanwhile runs once after it. */
  async #load(runId: number, w: Watch): Promise<void> {
    if (w.inflight) {
      w.again = true;
      return;
    }
    w.inflight = true;
    try {
      do {
        w.again = false;
        try {
          const [out] = await this.#api.call('runs.curves', { ids: [runId] });
          if (this.#watches.get(runId) !== w) return;
          const next = new Map(this.points);
          next.set(runId, out?.points ?? []);
          this.points = next;
          if (this.errors.has(runId)) {
            const errs = new Map(this.errors);
            errs.delete(runId);
            this.errors = errs;
          }
        } catch (err) {
          if (this.#watches.get(runId) !== w) return;
          const errs = new Map(this.errors);
          errs.set(runId, toApiError(err, 'runs.curves'));
          this.errors = errs;
        }
      } while (w.again);
    } finally {
      w.inflight = false;
    }
  }
}
