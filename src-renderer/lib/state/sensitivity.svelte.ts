/** A sensitivity run's layers (runs.sensitivity), loaded for one run and again when it finishes. */
import type { SensitivityLayer } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';

export class SensitivityStore {
  #api: ApiClient;
  #seq = 0;
  #key = '';
  layers = $state.raw<SensitivityLayer[]>([]);
  loading = $state(false);
  error = $state.raw<ApiError | null>(null);

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Loads the run's layers unless this run in this status was loaded already. */
  load(runId: number, status: string): void {
    const key = `${runId}:${status}`;
    if (key === this.#key) return;
    this.#key = key;
    void this.#fetch(runId);
  }

  async #fetch(runId: number): Promise<void> {
    const seq = ++this.#seq;
    this.loading = true;
    try {
      const out = await this.#api.call('runs.sensitivity', { id: runId });
      if (seq !== this.#seq) return;
      this.layers = out.layers;
      this.error = null;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err, 'runs.sensitivity');
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }
}
