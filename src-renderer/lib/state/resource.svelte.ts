/**
 * One piece of data fetched from the host: its last value, whether a load is
 * under way, and the error of the last attempt. Refreshes asked for while one
 * is running are folded into a single follow-up load, so a burst of events
 * costs two calls, not one per event.
 */
import { toApiError, type ApiError } from '../api.js';

export class Resource<T> {
  /** The last value loaded; undefined until the first load succeeds. */
  value = $state.raw<T | undefined>(undefined);
  /** The last load's error; cleared by the next success. */
  error = $state.raw<ApiError | null>(null);
  loading = $state(false);
  readonly loaded = $derived(this.value !== undefined);

  #load: () => Promise<T>;
  #inflight: Promise<void> | null = null;
  #again = false;

  constructor(load: () => Promise<T>) {
    this.#load = load;
  }

  refresh(): Promise<void> {
    if (this.#inflight) {
      this.#again = true;
      return this.#inflight;
    }
    this.#inflight = this.#run();
    return this.#inflight;
  }

  dismissError(): void {
    this.error = null;
  }

  async #run(): Promise<void> {
    this.loading = true;
    try {
      do {
        this.#again = false;
        try {
          this.value = await this.#load();
          this.error = null;
        } catch (err) {
          this.error = toApiError(err);
        }
      } while (this.#again);
    } finally {
      this.loading = false;
      this.#inflight = null;
    }
  }
}
