/**
 * Putting datasets into the user's library. The files stay where they are;
 * the worker reads them once to check them and count samples, and the store
 * records where they are, how to preprocess them and their content hash.
 */
import type { DatasetSummary } from '../api/contract.js';
import type { EngineHost } from '../jobs/engine-host.js';
import type { Store } from '../store/index.js';

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
  const existing = ctx.store.datasets.findBySha256(d.sha256);
  if (existing) return existing;
  return ctx.store.datasets.insert({
    name: req.name,
    source: req.source,
    format: d.format,
    path: req.path,
    sha256: d.sha256,
    count: d.count,
    inputShape: d.inputShape,
    numClasses: d.numClasses,
    description: req.description,
    preprocessing: d.preprocessing,
  });
}
