/**
 * Deterministic sample selection and batching over a dataset part (a
 * BatchSource: labels held, samples read per batch).
 * Selection is a seeded partial Fisher–Yates shuffle driven by mulberry32, so
 * the same (count, available, seed) always picks the same samples in the same
 * order, on any machine.
 */
import { tf } from '../../engine/tfjs.js';
import { DatasetError } from './errors.js';
import type { BatchSource } from './types.js';

export type { BatchSource } from './types.js';

/** mulberry32: a small, fast 32-bit seeded PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sample indices, plus how the request was met. */
export type Split = Int32Array & {
  /** The count asked for. */
  requested: number;
  /** True when fewer samples were available than requested (all of them were taken). */
  clipped: boolean;
};

/**
 * `count` distinct indices out of [0, available), in seeded random order.
 * A count above `available` is clipped to it and flagged in `clipped`.
 * `source` names the dataset in errors.
 */
export function sampleSplit(count: number, available: number, seed: number, source = ''): Split {
  if (!Number.isInteger(available) || available <= 0) throw new DatasetError(source, `cannot sample a split: the dataset part is empty`);
  if (!Number.isInteger(count) || count <= 0) throw new DatasetError(source, `cannot sample a split of ${count} samples; a split needs at least one`);
  const n = Math.min(count, available);
  const pool = new Int32Array(available);
  for (let i = 0; i < available; i++) pool[i] = i;
  const rand = mulberry32(seed);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (available - i));
    const t = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = t;
  }
  const out = pool.slice(0, n) as Split;
  out.requested = count;
  out.clipped = count > available;
  return out;
}

/** A seeded permutation of the given indices (a new array). */
export function shuffled(indices: Int32Array, seed: number): Int32Array {
  const out = indices.slice();
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

export interface Batch {
  /** [size, ...inputShape], float32. */
  x: tf.Tensor;
  /** Class labels, int32. */
  y: tf.Tensor1D;
  size: number;
}

/**
 * The samples at `idx`, back to back (channels-last row-major, preprocessed),
 * read from the source (types.ts BatchSource.read: from disk for large parts).
 */
export function gatherSamples(part: BatchSource, idx: Int32Array): Float32Array {
  const n = part.labels.length;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (!(i >= 0 && i < n)) throw new DatasetError(part.imagesFile ?? '', `sample index ${i} is outside the ${n} samples`);
  }
  const xs = part.read(idx);
  if (xs.length !== idx.length * part.sampleSize) throw new Error(`${part.imagesFile ?? 'sample source'}: read ${xs.length} values for ${idx.length} samples of ${part.sampleSize}`);
  return xs;
}

/** A batch before it becomes tensors: samples back to back (channels-last, as stored) and their labels. */
export interface RawBatch {
  xs: Float32Array;
  ys: Int32Array;
  size: number;
}

/**
 * Yields batches of the given samples, in the given order, as arrays (see
 * {@link makeBatches}, which checks the same things and makes tensors of them).
 */
export function* makeRawBatches(part: BatchSource, indices: Int32Array, batchSize: number, inputShape: number[]): Generator<RawBatch> {
  const file = part.imagesFile ?? '';
  if (indices.length === 0) throw new DatasetError(file, 'the split is empty: no samples to batch');
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new DatasetError(file, `batch size must be a positive integer, got ${batchSize}`);
  const per = part.sampleSize;
  const want = inputShape.reduce((a, b) => a * b, 1);
  if (want !== per) throw new DatasetError(file, `samples hold ${per} values but the model input [${inputShape.join(',')}] needs ${want}`);
  for (let start = 0; start < indices.length; start += batchSize) {
    const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
    yield { xs: gatherSamples(part, idx), ys: Int32Array.from(idx, (i) => part.labels[i]!), size: idx.length };
  }
}

/**
 * Yields batches of the given samples, in the given order, shaped
 * [size, ...inputShape] (any shape holding sampleSize values: the data is
 * channels-last row-major, so [784] and [28,28,1] are the same bytes). The
 * caller disposes each batch's tensors.
 */
export function* makeBatches(part: BatchSource, indices: Int32Array, batchSize: number, inputShape: number[]): Generator<Batch> {
  for (const raw of makeRawBatches(part, indices, batchSize, inputShape)) yield toTensors(raw, inputShape);
}

export function toTensors(raw: RawBatch, inputShape: number[]): Batch {
  return { x: tf.tensor(raw.xs, [raw.size, ...inputShape], 'float32'), y: tf.tensor1d(raw.ys, 'int32'), size: raw.size };
}
