/**
 * Image-classification datasets on disk: one reader per format, chosen by
 * what the path is (detectFormat), and what every run needs from them —
 * normalised samples per part, a check against the model's input, seeded
 * splits and batches.
 *
 *  - idx (idx-dataset.ts): MNIST / Fashion-MNIST IDX pairs, gzipped or not.
 *  - cifar10 (cifar10.ts): CIFAR-10 binary batches.
 *  - image-folder (image-folder.ts): one subfolder of PNG/JPEG images per class.
 *  - npy (npy-dataset.ts): x.npy + y.npy arrays; npz (npz-dataset.ts): an .npz archive.
 *
 * Preprocessing (preprocess.ts) maps a raw value v in channel c to
 * (v·scale + offset − mean[c]) / std[c], after an optional RGB→BGR swap.
 * Every problem is a DatasetError naming the file.
 *
 * Memory: a loaded part holds its labels and reads samples per batch
 * (types.ts BatchSource.read, sources.ts): records by offset from the files
 * (or from decompressed copies in the data cache, data-cache.ts), images of
 * an image folder decoded per batch. Only parts of at most RESIDENT_MAX_BYTES
 * decoded are read once and held.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { cifar10Reader, looksLikeCifar } from './cifar10.js';
import { DatasetError } from './errors.js';
import { idxReader, looksLikeIdx } from './idx-dataset.js';
import { imageFolderReader, looksLikeImageFolder } from './image-folder.js';
import { npyReader } from './npy-dataset.js';
import { npzReader } from './npz-dataset.js';
import type { Preprocessing } from './preprocess.js';
import { holdWhole, RESIDENT_MAX_BYTES } from './sources.js';
import { DATASET_FORMATS, type DatasetDescription, type DatasetFormat, type DatasetReader, type LoadedPart, type PartName, type PartSpec } from './types.js';

export { DatasetError };
export { resolvePreprocessing, preprocessInPlace, type Preprocessing, type ChannelOrder } from './preprocess.js';
export { datasetFiles } from './idx-dataset.js';
export { DATASET_FORMATS, type DatasetDescription, type DatasetFormat, type LoadedPart, type PartDescription, type PartName, type PartSpec } from './types.js';
export { arrayPart, readAll, RESIDENT_MAX_BYTES } from './sources.js';
export { DATA_CACHE_ENV } from './data-cache.js';

export interface LoadedDataset {
  name?: string;
  path: string;
  /** The format it was read as (absent in hand-built datasets). */
  format?: DatasetFormat;
  parts: Record<PartName, LoadedPart>;
  inputShape: number[];
  numClasses: number;
  /** Class names when the dataset names them. */
  classNames?: string[];
  preprocessing: Preprocessing;
  notes: string[];
}

export interface DatasetRef {
  name?: string;
  path: string;
  format: string;
  preprocessing: Record<string, unknown>;
}

/** The readers, one per format. */
const READERS: Record<DatasetFormat, DatasetReader> = {
  idx: idxReader,
  cifar10: cifar10Reader,
  'image-folder': imageFolderReader,
  npy: npyReader,
  npz: npzReader,
};

const EXPECTED =
  'IDX pairs (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz], t10k-…), CIFAR-10 batches (data_batch_1.bin … test_batch.bin), ' +
  'NumPy arrays (x.npy + y.npy, x_train.npy + y_train.npy …, or an .npz archive), or one subfolder per class of PNG/JPEG images';

/** Which format a path holds, from its name (files) or its entries (folders). */
export function detectFormat(p: string): DatasetFormat {
  const info = statSync(p, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(p, 'not found');
  if (info.isFile()) {
    const base = path.basename(p).toLowerCase();
    if (base.endsWith('.npz')) return 'npz';
    if (base.endsWith('.npy')) return 'npy';
    if (looksLikeCifar(true, p, []) || base.endsWith('.bin')) return 'cifar10';
    if (looksLikeIdx(p, true, [])) return 'idx';
    throw new DatasetError(p, `is not a dataset file the studio can tell apart by its name; give a folder or one of: ${EXPECTED}`);
  }
  const entries = readdirSync(p, { withFileTypes: true });
  const names = entries.map((e) => e.name);
  if (looksLikeIdx(p, false, names)) return 'idx';
  if (looksLikeCifar(false, p, names)) return 'cifar10';
  if (names.some((n) => /^x.*\.npy$/i.test(n))) return 'npy';
  if (looksLikeImageFolder(entries)) return 'image-folder';
  const npz = names.filter((n) => n.toLowerCase().endsWith('.npz'));
  const hint = npz.length ? ` (for an .npz archive give the file itself, e.g. ${path.join(p, npz[0]!)})` : '';
  throw new DatasetError(p, `holds no dataset: no IDX dataset, CIFAR-10 batches, x*.npy arrays or class subfolders; expected ${EXPECTED}${hint}`);
}

function readerFor(format: string, p: string): DatasetReader {
  const reader = READERS[format as DatasetFormat];
  if (!reader) throw new DatasetError(p, `dataset format ${format} is not supported (supported: ${DATASET_FORMATS.join(', ')})`);
  return reader;
}

/** Reads and checks a dataset; what the library records about it. */
export function describeDataset(p: string, preprocessing?: Record<string, unknown>): DatasetDescription {
  return READERS[detectFormat(p)].describe(p, preprocessing);
}

const cache = new Map<string, LoadedDataset>();

export interface LoadOptions {
  /**
   * Parts whose decoded samples take at most this many bytes are read once and
   * held; larger ones are read per batch. Default $STUDIO_DATA_RESIDENT_MAX
   * (bytes), else RESIDENT_MAX_BYTES.
   */
  residentMaxBytes?: number;
}

export const RESIDENT_MAX_ENV = 'STUDIO_DATA_RESIDENT_MAX';

/** The resident limit in effect: the option, else $STUDIO_DATA_RESIDENT_MAX, else RESIDENT_MAX_BYTES. */
export function residentMaxBytes(requested?: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = requested ?? (env[RESIDENT_MAX_ENV] ? Number(env[RESIDENT_MAX_ENV]) : RESIDENT_MAX_BYTES);
  if (!Number.isFinite(raw) || raw < 0) throw new DatasetError(`$${RESIDENT_MAX_ENV}`, `must be a number of bytes (0 or more), got ${JSON.stringify(requested ?? env[RESIDENT_MAX_ENV])}`);
  return raw;
}

function cacheKey(ref: DatasetRef, resident: number): string {
  const resolved = path.resolve(ref.path);
  const info = statSync(resolved, { throwIfNoEntry: false });
  return JSON.stringify([resolved, ref.format, info?.mtimeMs ?? 0, ref.preprocessing ?? {}, resident]);
}

/**
 * Loads (once per path, format, preprocessing and resident limit in this
 * process) a dataset: labels and what it takes to read samples by offset;
 * small parts (see LoadOptions.residentMaxBytes) are read whole now.
 */
export function loadDataset(ref: DatasetRef, opts: LoadOptions = {}): LoadedDataset {
  const reader = readerFor(ref.format, ref.path);
  const limit = residentMaxBytes(opts.residentMaxBytes);
  const key = cacheKey(ref, limit);
  const hit = cache.get(key);
  if (hit) return hit;
  const r = reader.load(ref.path, ref.preprocessing);
  const specRef = { ...(ref.name !== undefined ? { name: ref.name } : {}), path: ref.path, format: ref.format, preprocessing: ref.preprocessing ?? {} };
  const parts: Partial<Record<PartName, LoadedPart>> = {};
  for (const name of ['train', 'test'] as const) {
    const part = r.parts[name];
    if (!part) continue;
    const held = part.count * part.sampleSize * 4 <= limit ? holdWhole(part) : part;
    parts[name] = { ...held, spec: { ref: specRef, part: name, residentMaxBytes: limit, count: part.count } };
  }
  const train = parts.train ?? parts.test!;
  const test = parts.test ?? parts.train!;
  const loaded: LoadedDataset = {
    ...(ref.name !== undefined ? { name: ref.name } : {}),
    path: ref.path,
    format: reader.format,
    parts: { train, test },
    inputShape: r.inputShape,
    numClasses: r.numClasses,
    ...(r.classNames ? { classNames: r.classNames } : {}),
    preprocessing: r.preprocessing,
    notes: r.notes,
  };
  cache.set(key, loaded);
  return loaded;
}

/**
 * Opens the part a spec names (another thread's BatchSource.spec): loads the
 * dataset the same way, in this thread, and checks it still has the samples.
 */
export function openPart(spec: PartSpec): LoadedPart {
  const part = loadDataset(spec.ref, { residentMaxBytes: spec.residentMaxBytes }).parts[spec.part];
  if (part.count !== spec.count) throw new DatasetError(part.imagesFile, `holds ${part.count} samples now but ${spec.count} when the run started; the dataset changed on disk`);
  return part;
}

/** Forgets cached datasets (tests; freeing memory). */
export function clearDatasetCache(): void {
  cache.clear();
}

export { checkFitsModel, type FitCheck } from './fit.js';

export { sampleSplit, makeBatches, gatherSamples, mulberry32, shuffled, type Batch, type BatchSource, type Split } from './split.js';
