/**
 * The Model view's explanation of every quantization variable: the chosen
 * model, the few config controls, and the last `models.explain` answer.
 * Control changes reload after a short pause; answers that arrive out of
 * order are dropped.
 */
import type { VariableExplanation } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { DEFAULT_EXPLAIN_CONTROLS, explainConfig, type ExplainControls } from '../data/explain.js';

const RELOAD_DEBOUNCE_MS = 200;

export class ExplainStore {
  #api: ApiClient;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  modelId = $state<number | null>(null);
  controls = $state<ExplainControls>({ ...DEFAULT_EXPLAIN_CONTROLS });
  /** The last answer, for model `forModel` under the controls as they were asked. */
  result = $state.raw<VariableExplanation | null>(null);
  forModel = $state<number | null>(null);
  loading = $state(false);
  error = $state.raw<ApiError | null>(null);

  constructor(api: ApiClient) {
    this.#api = api;
  }

  /** Shows this model (loads at once when it changes). */
  show(modelId: number | null): Promise<void> {
    if (modelId === this.modelId && (this.result !== null || this.loading)) return Promise.resolve();
    this.modelId = modelId;
    return this.load();
  }

  /** Reloads after the controls changed (debounced: a number field fires on every keystroke). */
  scheduleLoad(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.load();
    }, RELOAD_DEBOUNCE_MS);
  }

  async load(): Promise<void> {
    const id = this.modelId;
    const seq = ++this.#seq;
    if (id === null) {
      this.result = null;
      this.forModel = null;
      this.error = null;
      this.loading = false;
      return;
    }
    if (this.forModel !== id) this.result = null;
    this.loading = true;
    this.error = null;
    try {
      const out = await this.#api.call('models.explain', { id, config: explainConfig(this.controls) });
      if (seq !== this.#seq) return;
      this.result = out;
      this.forModel = id;
    } catch (err) {
      if (seq === this.#seq) this.error = toApiError(err, 'models.explain');
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }
}
