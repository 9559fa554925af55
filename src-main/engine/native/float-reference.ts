/**
 * The float model's accuracy and loss on an eval split do not depend on how
 * the run quantizes: a per-tensor and a per-channel run of the same model on
 * the same samples evaluate the same float graph. A run's native evaluation
 * records a key for its float figures; the next run whose key is equal takes
 * them from the earlier run (the host passes the model's earlier keys in the
 * payload) and its accuracy graph runs the simulated branch alone.
 *
 * The key is a sha256 over everything the float figures depend on, so an
 * equal key means the same numbers to the last bit:
 *   the float branch's ONNX bytes (weights, folding, CLE…),
 *   the dataset (library key: content hash and preprocessing) and the eval
 *   indices, the input shape, the batch size, whether outputs are logits,
 *   onnxruntime's version, and where the session ran (provider, threads,
 *   optimization level).
 * The statistics batches still run both branches: per-layer SQNR needs the
 * float tensors themselves.
 */
import { createHash } from 'node:crypto';

/** An earlier run's float figures under their key. */
export interface FloatReference {
  key: string;
  accuracy: number;
  loss: number;
  count: number;
  /** The run that computed or reused them (for the summary). */
  runId: number;
}

/** What the float figures depend on besides the session's placement. */
export interface FloatKeyParts {
  floatModel: Uint8Array;
  /** The dataset's library key (its content hash at import and the preprocessing). */
  dataset: string;
  indices: Int32Array;
  inputShape: readonly number[];
  batchSize: number;
  fromLogits: boolean;
}

/** The part of the key known before a session exists. */
export function floatKeyBase(parts: FloatKeyParts): string {
  const h = createHash('sha256');
  h.update(parts.floatModel);
  h.update(new Uint8Array(parts.indices.buffer, parts.indices.byteOffset, parts.indices.byteLength));
  h.update(JSON.stringify({ dataset: parts.dataset, inputShape: parts.inputShape, batchSize: parts.batchSize, fromLogits: parts.fromLogits }));
  return h.digest('hex');
}

/** The full key: the base and where the session ran (a provider's kernels or another thread count may sum in another order). */
export function floatKey(base: string, session: { provider: string; threads: number; optimization: string; ortVersion: string }): string {
  return createHash('sha256')
    .update(`${base}\n${JSON.stringify([session.provider, session.threads, session.optimization, session.ortVersion])}`)
    .digest('hex');
}

/** The latest reference under `key`, if any. */
export function findFloatReference(references: readonly FloatReference[] | undefined, key: string, count: number): FloatReference | undefined {
  return references?.filter((r) => r.key === key && r.count === count).sort((a, b) => b.runId - a.runId)[0];
}
