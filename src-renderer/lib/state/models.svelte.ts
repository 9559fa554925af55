/** The Model view: models in the store, the built-in catalog, and the selected model's layers. */
import type { MethodOutput, ModelDetail, ModelSummary } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { sortModels } from '../data/sort.js';
import { ImportStore } from './import.svelte.js';
import { Resource } from './resource.svelte.js';

export type BuiltinModel = MethodOutput<'models.builtins'>[number];

export class ModelsStore {
  #api: ApiClient;
  #detailSeq = 0;
  #focusSeq = 0;

  readonly list = new Resource<ModelSummary[]>(() => this.#api.call('models.list', {}));
  readonly builtins = new Resource<BuiltinModel[]>(() => this.#api.call('models.builtins', {}));
  readonly sorted = $derived(sortModels(this.list.value ?? []));

  selectedId = $state<number | null>(null);
  detail = $state.raw<ModelDetail | null>(null);
  detailLoading = $state(false);
  detailError = $state.raw<ApiError | null>(null);

  /** A layer to show in the model's graph (asked from another view, e.g. an exported file's node) until the graph has shown it; `seq` tells a repeated ask. */
  focus = $state.raw<{ modelId: number; layer: string; seq: number } | null>(null);

  /** Built-in names being added right now. */
  adding = $state.raw<ReadonlySet<string>>(new Set());
  addError = $state.raw<ApiError | null>(null);

  /** The Import panel and the window's drop zone. */
  readonly importer: ImportStore;

  constructor(api: ApiClient) {
    this.#api = api;
    this.importer = new ImportStore(api, this);
  }

  refresh(): Promise<unknown> {
    const jobs: Promise<unknown>[] = [this.list.refresh(), this.builtins.refresh()];
    if (this.selectedId !== null) jobs.push(this.#loadDetail(this.selectedId));
    return Promise.all(jobs);
  }

  select(id: number): Promise<void> {
    if (this.selectedId === id && (this.detail?.id === id || this.detailLoading)) return Promise.resolve();
    this.selectedId = id;
    return this.#loadDetail(id);
  }

  /** Selects the model and asks its graph to show `layer` (selected and opened). */
  showLayer(modelId: number, layer: string): Promise<void> {
    this.focus = { modelId, layer, seq: ++this.#focusSeq };
    return this.select(modelId);
  }

  async addBuiltin(name: string): Promise<void> {
    if (this.adding.has(name)) return;
    this.adding = new Set([...this.adding, name]);
    this.addError = null;
    try {
      const model = await this.#api.call('models.importBuiltin', { name });
      await Promise.all([this.list.refresh(), this.builtins.refresh()]);
      await this.select(model.id);
    } catch (err) {
      this.addError = toApiError(err, 'models.importBuiltin');
    } finally {
      const next = new Set(this.adding);
      next.delete(name);
      this.adding = next;
    }
  }

  dismissAddError(): void {
    this.addError = null;
  }

  async #loadDetail(id: number): Promise<void> {
    const seq = ++this.#detailSeq;
    this.detailLoading = true;
    this.detailError = null;
    if (this.detail?.id !== id) this.detail = null;
    try {
      const detail = await this.#api.call('models.get', { id });
      if (seq === this.#detailSeq) this.detail = detail;
    } catch (err) {
      if (seq === this.#detailSeq) this.detailError = toApiError(err, 'models.get');
    } finally {
      if (seq === this.#detailSeq) this.detailLoading = false;
    }
  }

  retryDetail(): Promise<void> {
    return this.selectedId === null ? Promise.resolve() : this.#loadDetail(this.selectedId);
  }
}
