/**
 * Putting models into the user's library: built-ins and model files are read
 * in the engine worker (tfjs lives there), come back as the studio's
 * serialized graph, and are stored once per content hash.
 */
import { createHash } from 'node:crypto';
import type { ModelSummary } from '../api/contract.js';
import { ApiError } from '../api/dispatch.js';
import { deserializeGraph } from '../engine/graph/serialize.js';
import { summarizeGraph } from '../engine/graph/summary.js';
import type { EngineHost } from '../jobs/engine-host.js';
import type { Store } from '../store/index.js';

export interface BuiltinEntry {
  name: string;
  description: string;
}

export function listBuiltinModels(engine: EngineHost): Promise<BuiltinEntry[]> {
  return engine.call<BuiltinEntry[]>('builtinCatalog', {});
}

export async function importBuiltinModel(ctx: { store: Store; engine: EngineHost }, name: string): Promise<ModelSummary> {
  const catalog = await listBuiltinModels(ctx.engine);
  const entry = catalog.find((b) => b.name === name);
  if (!entry) throw new ApiError('not_found', `no built-in model named "${name}" (have: ${catalog.map((b) => b.name).join(', ')})`);
  const bytes = await ctx.engine.call<Uint8Array>('buildBuiltin', { name });
  return storeModel(ctx.store, { name, source: 'builtin', format: 'builtin', path: null, description: entry.description }, bytes);
}

/** Reads a model file (tfjs model.json, Keras .h5/.keras) in the worker and stores it. */
export async function importModelFile(
  ctx: { store: Store; engine: EngineHost },
  file: string,
  meta: { name?: string; source?: ModelSummary['source']; description?: string } = {},
): Promise<ModelSummary> {
  const read = await ctx.engine.call<{ bytes: Uint8Array; format: string; name: string }>('readModel', { path: file });
  return storeModel(
    ctx.store,
    { name: meta.name ?? read.name, source: meta.source ?? 'imported', format: read.format, path: file, description: meta.description ?? `imported from ${file}` },
    read.bytes,
  );
}

/** Stores serialized graph bytes once per sha256; the same content again returns the stored model. */
export function storeModel(
  store: Store,
  meta: { name: string; source: ModelSummary['source']; format: string; path: string | null; description: string },
  bytes: Uint8Array,
): ModelSummary {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const existing = store.models.findBySha256(sha256);
  if (existing) return existing;
  const summary = summarizeGraph(deserializeGraph(bytes, meta.name));
  return store.models.insert({
    ...meta,
    sha256,
    inputShape: summary.inputShape,
    numClasses: summary.numClasses,
    layerCount: summary.layerCount,
    paramCount: summary.paramCount,
    layers: summary.layers,
    artifact: bytes,
  });
}
