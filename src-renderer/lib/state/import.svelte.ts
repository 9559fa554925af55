/**
 * Importing models and datasets from the Model view's Import panel and from
 * files dropped on the window. Paths come from a native dialog (Electron,
 * app.pickPath), a path field, or a drop: under Electron the preload names a
 * dropped file's path; in a browser the bytes are uploaded to the web host
 * first (with progress) and imported from there by copy.
 */
import type { DatasetSummary, ModelSummary } from '../../../src-main/api/contract.js';
import { toApiError, type ApiClient } from '../api.js';
import { droppedDatasetName, EMPTY_PREPROCESSING, parsePreprocessing, pickModelFile, type PreprocessingFields } from '../data/preprocessing.js';
import { desktopPathFor, newBatchId, uploadFile } from '../import/upload.js';

/** What an import needs of the model library (models.svelte.ts): its list, to refresh and find the new model, and selecting it. */
export interface ModelLibrary {
  readonly list: { readonly value: readonly { id: number }[] | null | undefined; refresh(): Promise<unknown> };
  select(id: number): Promise<void>;
}

export type ImportMode = 'copy' | 'reference';

export interface ImportProgress {
  label: string;
  /** Bytes sent so far and in all; null while the host works with no measure of progress. */
  loaded: number | null;
  total: number | null;
}

export interface ImportOutcome {
  kind: 'model' | 'dataset';
  id: number;
  name: string;
  /** The same content was in the library already; this is that entry. */
  existed: boolean;
}

const MODEL_FILTERS = [
  { name: 'Models (model.json, Keras .h5/.keras)', extensions: ['json', 'h5', 'hdf5', 'keras'] },
  { name: 'All files', extensions: ['*'] },
];

export class ImportStore {
  #api: ApiClient;
  #models: ModelLibrary;

  modelPath = $state('');
  modelMode = $state<ImportMode>('copy');
  modelName = $state('');
  datasetPath = $state('');
  datasetName = $state('');
  preprocessing = $state<PreprocessingFields>({ ...EMPTY_PREPROCESSING });

  /** What is being imported now, for the buttons and the drop zone. */
  busy = $state<'model' | 'dataset' | 'drop' | null>(null);
  progress = $state.raw<ImportProgress | null>(null);
  error = $state.raw<{ title: string; error: Error } | null>(null);
  outcome = $state.raw<ImportOutcome | null>(null);
  /** False once the host said it has no file dialog. */
  dialogs = $state(true);

  /** Called after a dataset import, so lists elsewhere (New run) refresh. */
  ondatasetimported: (() => unknown) | null = null;

  constructor(api: ApiClient, models: ModelLibrary) {
    this.#api = api;
    this.#models = models;
    this.dialogs = api.host === 'desktop';
  }

  dismissError(): void {
    this.error = null;
  }

  async browseModel(): Promise<void> {
    const picked = await this.#pick({ mode: 'open-file', title: 'Import a model', filters: MODEL_FILTERS });
    if (picked) this.modelPath = picked;
  }

  async browseDataset(kind: 'file' | 'folder'): Promise<void> {
    const picked = await this.#pick({ mode: kind === 'folder' ? 'open-folder' : 'open-file', title: 'Import a dataset' });
    if (picked) this.datasetPath = picked;
  }

  async #pick(input: { mode: 'open-file' | 'open-folder'; title: string; filters?: { name: string; extensions: string[] }[] }): Promise<string | null> {
    try {
      const r = await this.#api.call('app.pickPath', input);
      if (!r.supported) this.dialogs = false;
      return r.path;
    } catch (err) {
      this.error = { title: 'Could not open the file dialog', error: toApiError(err, 'app.pickPath') };
      return null;
    }
  }

  /** Imports the model named in the path field. */
  importModel(): Promise<void> {
    const path = this.modelPath.trim();
    if (path === '') {
      this.error = { title: 'Could not import the model', error: new Error('Give the model file: its path (model.json, .h5 or .keras) or Browse.') };
      return Promise.resolve();
    }
    return this.#run('model', 'Could not import the model', async () => {
      this.progress = { label: `Reading ${path}…`, loaded: null, total: null };
      await this.#importModelAt(path, this.modelMode, this.modelName.trim());
    });
  }

  /** Imports the dataset named in the path field with the preprocessing fields. */
  importDataset(): Promise<void> {
    const path = this.datasetPath.trim();
    const pre = parsePreprocessing(this.preprocessing);
    if (path === '' || !pre.ok) {
      this.error = { title: 'Could not import the dataset', error: new Error(path === '' ? 'Give the dataset: the path of its file or folder, or Browse.' : (pre as { error: string }).error) };
      return Promise.resolve();
    }
    return this.#run('dataset', 'Could not import the dataset', async () => {
      this.progress = { label: `Reading ${path}…`, loaded: null, total: null };
      await this.#importDatasetAt(path, this.datasetName.trim(), pre.value);
    });
  }

  /**
   * Files dropped on the window, imported together: a model file among them
   * (model.json goes with its shards) is imported as a model, else they are a
   * dataset (one file, or the folder they are uploaded into).
   */
  importDropped(files: readonly File[]): Promise<void> {
    if (files.length === 0 || this.busy !== null) return Promise.resolve();
    const model = pickModelFile(files);
    const pre = parsePreprocessing(this.preprocessing);
    if (!model && !pre.ok) {
      this.error = { title: 'Could not import the dropped files', error: new Error(pre.error) };
      return Promise.resolve();
    }
    return this.#run('drop', model ? 'Could not import the dropped model' : 'Could not import the dropped dataset', async () => {
      const local = files.map((f) => desktopPathFor(f));
      let paths: string[];
      if (local.every((p): p is string => p !== null)) paths = local;
      else if (this.#api.host === 'desktop') {
        // The desktop app imports from disk; a file with no path (e.g. dragged out of a web page) has nothing to import from.
        const nameless = files.filter((_, i) => local[i] === null).map((f) => f.name);
        throw new Error(`${nameless.join(', ')}: not a file on disk (dragged from another application?). Save it to a folder first and drop it from there.`);
      } else paths = await this.#upload(files);
      if (model) {
        const at = paths[files.indexOf(model)]!;
        this.progress = { label: `Reading ${model.name}…`, loaded: null, total: null };
        // Desktop drops keep the panel's choice; uploads are copies already.
        await this.#importModelAt(at, local[0] ? this.modelMode : 'copy', '');
      } else {
        const at = paths.length === 1 ? paths[0]! : parentOf(paths[0]!);
        this.progress = { label: `Reading ${files.length === 1 ? files[0]!.name : `${files.length} files`}…`, loaded: null, total: null };
        await this.#importDatasetAt(at, local[0] ? '' : droppedDatasetName(files.map((f) => f.name)), pre.ok ? pre.value : {});
      }
    });
  }

  async #upload(files: readonly File[]): Promise<string[]> {
    const batch = newBatchId();
    const total = files.reduce((s, f) => s + f.size, 0);
    const paths: string[] = [];
    let done = 0;
    for (const file of files) {
      this.progress = { label: `Uploading ${file.name}…`, loaded: done, total };
      const r = await uploadFile(file, batch, (loaded) => {
        this.progress = { label: `Uploading ${file.name}…`, loaded: done + Math.min(loaded, file.size), total };
      });
      done += file.size;
      paths.push(r.path);
    }
    this.progress = { label: 'Uploaded', loaded: total, total };
    return paths;
  }

  async #importModelAt(path: string, mode: ImportMode, name: string): Promise<void> {
    const known = new Set((this.#models.list.value ?? []).map((m) => m.id));
    const model: ModelSummary = await this.#api.call('models.import', { path, mode, ...(name ? { name } : {}) });
    this.outcome = { kind: 'model', id: model.id, name: model.name, existed: known.has(model.id) };
    await this.#models.list.refresh();
    await this.#models.select(model.id);
  }

  async #importDatasetAt(path: string, name: string, preprocessing: Record<string, unknown>): Promise<void> {
    const known = new Set((await this.#api.call('datasets.list', {})).map((d) => d.id));
    const dataset: DatasetSummary = await this.#api.call('datasets.import', {
      path,
      ...(name ? { name } : {}),
      ...(Object.keys(preprocessing).length > 0 ? { preprocessing } : {}),
    });
    this.outcome = { kind: 'dataset', id: dataset.id, name: dataset.name, existed: known.has(dataset.id) };
    await this.ondatasetimported?.();
  }

  async #run(kind: 'model' | 'dataset' | 'drop', title: string, work: () => Promise<void>): Promise<void> {
    if (this.busy !== null) return;
    this.busy = kind;
    this.error = null;
    this.outcome = null;
    try {
      await work();
    } catch (err) {
      this.error = { title, error: toApiError(err) };
    } finally {
      this.busy = null;
      this.progress = null;
    }
  }
}

/** The folder part of a host path (either separator). */
function parentOf(p: string): string {
  const i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  return i > 0 ? p.slice(0, i) : p;
}
