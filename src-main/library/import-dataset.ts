/**
 * Importing a dataset: the files stay where they are (a dataset is read per
 * run, in parts), the worker's reader checks them and describes them, and the
 * store records the path, the preprocessing in effect and the reader's content
 * hash. The preprocessing record is passed through as given; the reader
 * validates it and fills in its defaults.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { DatasetSummary } from '../api/contract.js';
import { ApiError } from '../api/dispatch.js';
import type { EngineHost } from '../jobs/engine-host.js';
import type { Store } from '../store/index.js';
import { registerDataset } from './datasets.js';
import { isInside, libraryFolders } from './folders.js';

export interface DatasetImportRequest {
  path: string;
  name?: string;
  preprocessing?: Record<string, unknown>;
}

/** The folder or file name, without the extensions a dataset file carries. */
export function defaultDatasetName(p: string): string {
  return path.basename(p).replace(/(\.(gz|npz|npy|bin|zip))+$/i, '') || p;
}

export async function importDataset(ctx: { store: Store; engine: EngineHost }, req: DatasetImportRequest): Promise<DatasetSummary> {
  if (!path.isAbsolute(req.path)) throw new ApiError('invalid_input', `dataset path must be absolute, got ${req.path}`);
  const where = path.normalize(req.path);
  if (!(await stat(where).catch(() => null))) throw new ApiError('invalid_input', `${where}: not found`);
  const uploaded = isInside(libraryFolders(ctx.store.path).imports, where);
  try {
    return await registerDataset(ctx, {
      name: req.name?.trim() || defaultDatasetName(where),
      path: where,
      source: 'imported',
      description: uploaded ? `uploaded as ${path.basename(where)}` : `imported from ${where}`,
      preprocessing: req.preprocessing ?? {},
    });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError('invalid_input', err instanceof Error ? err.message : String(err));
  }
}
