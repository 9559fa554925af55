/** Writing a read model (the studio's serialized graph) into the store, once per content hash. */
import { createHash } from 'node:crypto';
import type { ModelSummary } from '../api/contract.js';
import { deserializeGraph } from '../engine/graph/serialize.js';
import { summarizeGraph } from '../engine/graph/summary.js';
import type { Store } from '../store/index.js';

export interface StoredModelMeta {
  name: string;
  source: ModelSummary['source'];
  format: string;
  path: string | null;
  description: string;
}

/**
 * Stores serialized graph bytes; the same sha256 again returns the stored
 * model. `sha256` identifies the content: imported files pass the hash of
 * their own bytes, built-ins and trained models default to the graph's.
 */
export function storeModel(store: Store, meta: StoredModelMeta, bytes: Uint8Array, sha256?: string): ModelSummary {
  const id = sha256 ?? createHash('sha256').update(bytes).digest('hex');
  const existing = store.models.findBySha256(id);
  if (existing) return existing;
  const summary = summarizeGraph(deserializeGraph(bytes, meta.name));
  return store.models.insert({
    ...meta,
    sha256: id,
    inputShape: summary.inputShape,
    numClasses: summary.numClasses,
    layerCount: summary.layerCount,
    paramCount: summary.paramCount,
    layers: summary.layers,
    artifact: bytes,
  });
}
