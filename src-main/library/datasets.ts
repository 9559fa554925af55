/**
 * Putting datasets into the user's library. The files stay where they are;
 * the worker reads them once to check them and count samples, and the store
 * records where they are, how to preprocess them and their content hash.
 *
 * The library key (the sha256 column) is the reader's content hash combined
 * with the preprocessing in effect: the same files imported again with the
 * same preprocessing return the entry already there, while other
 * preprocessing (say, mean/std) makes another dataset, since runs read the
 * preprocessing from the entry.
 */
import { createHash } from 'node:crypto';
import type { DatasetSummary } from '../api/contract.js';
import type { EngineHost } from '../jobs/engine-host.js';
import { StoreConflictError, type Store } from '../store/index.js';

export interface DatasetDescription {
  format: string;
  count: number;
  inputShape: number[];
  numClasses: number;
  sha256: string;
  preprocessing: Record<string, unknown>;
}

export async function registerDataset(
  ctx: { store: Store; engine: EngineHost },
  req: { name: string; path: string; source: DatasetSummary['source']; description: string; preprocessing?: Record<string, unknown> },
): Promise<DatasetSummary> {
  const d = await ctx.engine.call<DatasetDescription>('describeDataset', { path: req.path, preprocessing: req.preprocessing ?? {} });
  const key = libraryKey(d.sha256, d.preprocessing);
  const existing = ctx.store.datasets.findBySha256(key);
  if (existing) return existing;
  const row = {
    name: req.name,
    source: req.source,
    format: d.format,
    path: req.path,
    sha256: key,
    count: d.count,
    inputShape: d.inputShape,
    numClasses: d.numClasses,
    description: req.description,
    preprocessing: d.preprocessing,
  };
  try {
    return ctx.store.datasets.insert(row);
  } catch (err) {
    // The same content imported twice at once: the second gets the first's entry.
    const raced = err instanceof StoreConflictError ? ctx.store.datasets.findBySha256(key) : undefined;
    if (raced) return raced;
    throw err;
  }
}

/** JSON with object keys sorted, so equal records give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 over the content hash and the preprocessing in effect. */
export function libraryKey(contentSha256: string, preprocessing: Record<string, unknown>): string {
  return createHash('sha256').update(`${contentSha256}\n${canonicalJson(preprocessing)}`).digest('hex');
}
