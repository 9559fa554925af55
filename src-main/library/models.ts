/**
 * Putting models into the user's library: built-ins and model files are read
 * in the engine worker (tfjs lives there), come back as the studio's
 * serialized graph, and are stored once per content hash.
 */
import type { ModelSummary } from '../api/contract.js';
import { ApiError } from '../api/dispatch.js';
import type { EngineHost } from '../jobs/engine-host.js';
import type { Store } from '../store/index.js';
import { importModel } from './import-model.js';
import { storeModel } from './store-model.js';

export { storeModel } from './store-model.js';
export { importModel, type ImportMode, type ModelImportRequest } from './import-model.js';

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

/** A model file (tfjs model.json, Keras .h5/.keras) referenced where it is, e.g. the bundled sample. */
export function importModelFile(
  ctx: { store: Store; engine: EngineHost },
  file: string,
  meta: { name?: string; source?: ModelSummary['source']; description?: string } = {},
): Promise<ModelSummary> {
  return importModel(ctx, { path: file, mode: 'reference', ...meta });
}
