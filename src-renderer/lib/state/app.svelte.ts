/**
 * The renderer's root state: the API client and one store per concern.
 * Created once in main.ts and handed to components through context.
 */
import type { AppInfo, DatasetSummary } from '../../../src-main/api/contract.js';
import type { ApiClient } from '../api.js';
import { CompareStore } from './compare.svelte.js';
import { ConnectionStore } from './connection.svelte.js';
import { ExplainStore } from './explain.svelte.js';
import { ExportStore } from './exports.svelte.js';
import { LiveCurvesStore } from './live-curves.svelte.js';
import { ModelsStore } from './models.svelte.js';
import { Navigation } from './navigation.svelte.js';
import { NewRunStore } from './new-run.svelte.js';
import { Resource } from './resource.svelte.js';
import { RunsStore } from './runs.svelte.js';
import { watchStore } from './store-watch.js';

export class AppState {
  readonly api: ApiClient;
  readonly connection: ConnectionStore;
  readonly info: Resource<AppInfo>;
  readonly runs: RunsStore;
  readonly models: ModelsStore;
  readonly datasets: Resource<DatasetSummary[]>;
  readonly compare: CompareStore;
  readonly newRun: NewRunStore;
  readonly explain: ExplainStore;
  readonly live: LiveCurvesStore;
  readonly exports: ExportStore;
  readonly nav: Navigation;

  /** Set when the link went down: data may be stale and events were missed. */
  #stale = false;

  constructor(api: ApiClient) {
    this.api = api;
    this.connection = new ConnectionStore(api);
    this.info = new Resource(() => api.call('app.info', {}));
    this.runs = new RunsStore(api);
    this.models = new ModelsStore(api);
    this.datasets = new Resource(() => api.call('datasets.list', {}));
    this.compare = new CompareStore(api);
    this.newRun = new NewRunStore(api);
    this.explain = new ExplainStore(api);
    this.live = new LiveCurvesStore(api);
    this.exports = new ExportStore(api, () => this.info.value?.dataDir ?? null);
    this.nav = new Navigation();
  }

  /** Loads everything and follows the host; returns the cleanup. */
  start(): () => void {
    const offConnection = this.api.onConnection((state) => {
      this.connection.state = state;
      if (state.status === 'reconnecting' || state.status === 'unavailable') this.#stale = true;
      else if (state.status === 'open' && this.#stale) {
        this.#stale = false;
        void this.refreshAll();
      }
    });
    const offRuns = this.runs.listen();
    const offCompare = this.compare.listen();
    const offLive = this.live.listen();
    const offExports = this.exports.listen();
    // A finished training run (QAT or float) adds its model to the library.
    const offTrained = this.api.on('runs.changed', (c) => {
      if (c.status === 'done') void this.models.refresh();
    });
    // A model opened from outside the window (Electron: a file double-clicked, a second launch, a recent model).
    const offOpened = this.api.on('models.imported', () => void this.models.refresh());
    const offWatch = watchStore(this.api, () => {
      void this.runs.list.refresh();
      void this.models.refresh();
      void this.datasets.refresh();
    });
    void this.refreshAll();
    return () => {
      offConnection();
      offRuns();
      offCompare();
      offLive();
      offExports();
      offWatch();
      offTrained();
      offOpened();
    };
  }

  refreshAll(): Promise<unknown> {
    const jobs: Promise<unknown>[] = [this.info.refresh(), this.runs.list.refresh(), this.models.refresh(), this.datasets.refresh()];
    if (this.compare.ids.length > 0) jobs.push(this.compare.load(true));
    this.live.reloadAll();
    return Promise.all(jobs);
  }
}
