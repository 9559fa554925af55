/** The run detail panel of Runs: one run's detail and its exports, reloaded when the host says the run changed. */
import type { ExportRecord, RunDetail } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';

export class RunDetailStore {
  #api: ApiClient;
  #seq = 0;
  id = $state<number | null>(null);
  detail = $state.raw<RunDetail | null>(null);
  exports = $state.raw<ExportRecord[]>([]);
  loading = $state(false);
  error = $state.raw<ApiError | null>(null);

  constructor(api: ApiClient) {
    this.#api = api;
  }

  listen(): () => void {
    const offChanged = this.#api.on('runs.changed', (c) => {
      if (c.id === this.id) void this.#load(c.id);
    });
    const offExport = this.#api.on('exports.finished', (e) => {
      if (e.runId === this.id) void this.#load(e.runId);
    });
    return () => {
      offChanged();
      offExport();
    };
  }

  open(id: number): void {
    if (this.id === id) return;
    this.id = id;
    this.detail = null;
    this.exports = [];
    void this.#load(id);
  }

  close(): void {
    this.id = null;
    this.detail = null;
    this.exports = [];
    this.error = null;
  }

  async #load(id: number): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const [detail, exports] = await Promise.all([this.#api.call('runs.get', { id }), this.#api.call('exports.list', { runId: id })]);
      if (seq !== this.#seq) return;
      this.detail = detail;
      this.exports = exports;
      this.error = null;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err, 'runs.get');
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }
}
