/**
 * Image-classification datasets on disk, in the IDX format (MNIST,
 * Fashion-MNIST). A dataset is either
 *  - a folder holding pairs `<part>-images-idx3-ubyte[.gz]` +
 *    `<part>-labels-idx1-ubyte[.gz]`, parts `train` and `t10k` (or `test`), or
 *  - one pair, named by its images file (the labels file is found by
 *    replacing `images-idx3` with `labels-idx1`).
 * When only one part exists it serves as both train and test, and a note says so.
 *
 * Preprocessing maps a raw value v to `v·scale + offset` (default scale 1/255
 * for integer IDX, 1 for float IDX; offset 0). `numClasses` may be given; else
 * it is the largest label + 1. Every problem is a DatasetError naming the file.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from './errors.js';
import { IdxError, isGzip, parseIdx, type IdxArray } from './idx.js';

export { DatasetError };

export type PartName = 'train' | 'test';

export interface Preprocessing {
  /** Multiplies each raw value. */
  scale: number;
  /** Added after scaling. */
  offset: number;
  /** Number of classes; labels must be below it. */
  numClasses?: number;
  [key: string]: unknown;
}

export interface DatasetDescription {
  format: 'idx';
  /** Samples in all parts together. */
  count: number;
  /** One sample's shape, channels last: [28, 28, 1] for MNIST-like images. */
  inputShape: number[];
  numClasses: number;
  /** SHA-256 over the parts' decompressed IDX bytes (gz or not gives the same hash). */
  sha256: string;
  /** The preprocessing in effect, defaults filled in. */
  preprocessing: Preprocessing;
  parts: { name: PartName; count: number; images: string; labels: string }[];
  notes: string[];
}

export interface LoadedPart {
  /** N·H·W·C values, normalised by the preprocessing. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** Values per sample (the product of inputShape). */
  sampleSize: number;
  /** Files it came from, for error messages. */
  imagesFile: string;
  labelsFile: string;
}

export interface LoadedDataset {
  name?: string;
  path: string;
  parts: Record<PartName, LoadedPart>;
  inputShape: number[];
  numClasses: number;
  preprocessing: Preprocessing;
  notes: string[];
}

export interface DatasetRef {
  name?: string;
  path: string;
  format: string;
  preprocessing: Record<string, unknown>;
}

interface PairFiles {
  name: PartName;
  images: string;
  labels: string;
}

const PART_ALIASES: [string, PartName][] = [
  ['train', 'train'],
  ['t10k', 'test'],
  ['test', 'test'],
];

function findFile(dir: string, stem: string): string | null {
  for (const candidate of [stem, `${stem}.gz`]) {
    const p = path.join(dir, candidate);
    if (existsSync(p)) return p;
  }
  return null;
}

function labelsFileFor(imagesFile: string): string {
  const dir = path.dirname(imagesFile);
  const base = path.basename(imagesFile);
  if (!base.includes('images-idx3')) {
    throw new DatasetError(imagesFile, 'is not named like an IDX images file (<part>-images-idx3-ubyte[.gz]), so its labels file cannot be found');
  }
  const labelsBase = base.replace('images-idx3', 'labels-idx1');
  const found = findFile(dir, labelsBase.replace(/\.gz$/, ''));
  if (!found) throw new DatasetError(path.join(dir, labelsBase), `labels file missing (expected next to ${base})`);
  return found;
}

/** The IDX pairs a path stands for; throws naming what is missing. */
export function datasetFiles(p: string): PairFiles[] {
  const info = statSync(p, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(p, 'not found');
  if (info.isFile()) {
    const base = path.basename(p);
    const alias = PART_ALIASES.find(([prefix]) => base.startsWith(`${prefix}-`));
    return [{ name: alias?.[1] ?? 'train', images: p, labels: labelsFileFor(p) }];
  }
  const pairs: PairFiles[] = [];
  for (const [prefix, name] of PART_ALIASES) {
    if (pairs.some((q) => q.name === name)) continue;
    const images = findFile(p, `${prefix}-images-idx3-ubyte`);
    const labels = findFile(p, `${prefix}-labels-idx1-ubyte`);
    if (!images && !labels) continue;
    if (!images) throw new DatasetError(path.join(p, `${prefix}-images-idx3-ubyte[.gz]`), `images file missing (its labels file ${path.basename(labels!)} is there)`);
    if (!labels) throw new DatasetError(path.join(p, `${prefix}-labels-idx1-ubyte[.gz]`), `labels file missing (its images file ${path.basename(images)} is there)`);
    pairs.push({ name, images, labels });
  }
  if (pairs.length === 0) {
    throw new DatasetError(p, 'holds no IDX dataset: expected train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] and/or t10k-… (or test-…) pairs');
  }
  return pairs;
}

/** Reads and decompresses one file; returns the IDX bytes and the parsed array. */
function readIdxFile(file: string): { bytes: Uint8Array; idx: IdxArray } {
  let raw: Uint8Array;
  try {
    raw = readFileSync(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DatasetError(file, missing ? 'file not found' : `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  if (isGzip(raw)) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new DatasetError(file, `is gzip-compressed but does not decompress (${(e as Error).message}); the file may be truncated or corrupt`, { cause: e });
    }
  }
  try {
    return { bytes: raw, idx: parseIdx(raw, file) };
  } catch (e) {
    if (e instanceof IdxError) throw new DatasetError(file, e.problem, { cause: e });
    throw e;
  }
}

/** Fills in defaults and checks the preprocessing; `where` names the dataset in errors. */
export function resolvePreprocessing(given: Record<string, unknown> | undefined, integerData: boolean, where: string): Preprocessing {
  const p = { ...(given ?? {}) };
  const num = (key: string, fallback: number): number => {
    const v = p[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new DatasetError(where, `preprocessing.${key} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: Preprocessing = { ...p, scale: num('scale', integerData ? 1 / 255 : 1), offset: num('offset', 0) };
  if (p['numClasses'] !== undefined) {
    const n = p['numClasses'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 2 || n > 256) {
      throw new DatasetError(where, `preprocessing.numClasses must be an integer from 2 to 256, got ${JSON.stringify(n)}`);
    }
    out.numClasses = n;
  }
  return out;
}

interface CheckedPair {
  name: PartName;
  files: PairFiles;
  images: IdxArray;
  labels: Int32Array;
  imageBytes: Uint8Array;
  labelBytes: Uint8Array;
  sampleShape: number[];
}

function checkPair(files: PairFiles): CheckedPair {
  const img = readIdxFile(files.images);
  const lab = readIdxFile(files.labels);
  const dims = img.idx.dims;
  if (dims.length < 2 || dims.length > 4) {
    throw new DatasetError(files.images, `images must have 2 to 4 dimensions (count, [height, width,] [channels]); this file has ${dims.length}: ${dims.join('x')}`);
  }
  const sampleShape = dims.length === 3 ? [dims[1]!, dims[2]!, 1] : dims.slice(1);
  if (sampleShape.some((d) => d === 0)) throw new DatasetError(files.images, `images have an empty dimension: ${dims.join('x')}`);
  if (lab.idx.dims.length !== 1) {
    throw new DatasetError(files.labels, `labels must be one-dimensional (one class index per image); this file has dims ${lab.idx.dims.join('x')}`);
  }
  if (lab.idx.type === 'float32' || lab.idx.type === 'float64') {
    throw new DatasetError(files.labels, `labels must be integers; this file holds ${lab.idx.type}`);
  }
  const count = dims[0]!;
  if (lab.idx.dims[0] !== count) {
    throw new DatasetError(files.labels, `holds ${lab.idx.dims[0]} labels but ${path.basename(files.images)} holds ${count} images; the counts must match`);
  }
  if (img.idx.type === 'float32' || img.idx.type === 'float64') {
    const data = img.idx.data;
    const per = sampleShape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        throw new DatasetError(files.images, `image ${Math.floor(i / per)} holds ${data[i]} (value ${i % per} of the sample); images must be finite numbers`);
      }
    }
  }
  const labels = Int32Array.from(lab.idx.data as ArrayLike<number>);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v < 0 || v > 255) throw new DatasetError(files.labels, `label ${i} is ${v}; class labels must be between 0 and 255`);
  }
  return { name: files.name, files, images: img.idx, labels, imageBytes: img.bytes, labelBytes: lab.bytes, sampleShape };
}

interface Checked {
  pairs: CheckedPair[];
  inputShape: number[];
  numClasses: number;
  preprocessing: Preprocessing;
  sha256: string;
  notes: string[];
}

function checkDataset(p: string, given: Record<string, unknown> | undefined): Checked {
  const pairs = datasetFiles(p).map(checkPair);
  const first = pairs[0]!;
  for (const other of pairs.slice(1)) {
    if (other.sampleShape.join(',') !== first.sampleShape.join(',')) {
      throw new DatasetError(other.files.images, `images are ${other.sampleShape.join('x')} but ${path.basename(first.files.images)} has ${first.sampleShape.join('x')}; all parts must share one shape`);
    }
  }
  const integerData = pairs.every((q) => q.images.type !== 'float32' && q.images.type !== 'float64');
  const preprocessing = resolvePreprocessing(given, integerData, p);
  let maxLabel = -1;
  for (const q of pairs) {
    for (let i = 0; i < q.labels.length; i++) {
      const v = q.labels[i]!;
      if (preprocessing.numClasses !== undefined && v >= preprocessing.numClasses) {
        throw new DatasetError(q.files.labels, `label ${i} is ${v}, outside the ${preprocessing.numClasses} classes set in preprocessing.numClasses (0..${preprocessing.numClasses - 1})`);
      }
      if (v > maxLabel) maxLabel = v;
    }
  }
  const numClasses = preprocessing.numClasses ?? Math.max(maxLabel + 1, 1);
  const hash = createHash('sha256');
  for (const q of [...pairs].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${q.name}/images\n`).update(q.imageBytes).update(`${q.name}/labels\n`).update(q.labelBytes);
  }
  const notes: string[] = [];
  if (pairs.length === 1) notes.push(`only the ${first.name} part (${path.basename(first.files.images)}) exists; it serves as both train and test split`);
  return { pairs, inputShape: first.sampleShape, numClasses, preprocessing, sha256: hash.digest('hex'), notes };
}

/** Reads and checks a dataset; what the library records about it. */
export function describeDataset(p: string, preprocessing?: Record<string, unknown>): DatasetDescription {
  const c = checkDataset(p, preprocessing);
  return {
    format: 'idx',
    count: c.pairs.reduce((sum, q) => sum + q.labels.length, 0),
    inputShape: c.inputShape,
    numClasses: c.numClasses,
    sha256: c.sha256,
    preprocessing: c.preprocessing,
    parts: c.pairs.map((q) => ({ name: q.name, count: q.labels.length, images: q.files.images, labels: q.files.labels })),
    notes: c.notes,
  };
}

function normalise(q: CheckedPair, pre: Preprocessing): LoadedPart {
  const src = q.images.data;
  const images = new Float32Array(src.length);
  const { scale, offset } = pre;
  for (let i = 0; i < src.length; i++) images[i] = src[i]! * scale + offset;
  return {
    images,
    labels: q.labels,
    count: q.labels.length,
    sampleSize: q.sampleShape.reduce((a, b) => a * b, 1),
    imagesFile: q.files.images,
    labelsFile: q.files.labels,
  };
}

const cache = new Map<string, LoadedDataset>();

function cacheKey(ref: DatasetRef): string {
  const resolved = path.resolve(ref.path);
  const info = statSync(resolved, { throwIfNoEntry: false });
  return JSON.stringify([resolved, info?.mtimeMs ?? 0, ref.preprocessing ?? {}]);
}

/** Loads (once per path and preprocessing in this process) and normalises a dataset. */
export function loadDataset(ref: DatasetRef): LoadedDataset {
  if (ref.format !== 'idx') throw new DatasetError(ref.path, `dataset format ${ref.format} is not supported (supported: idx)`);
  const key = cacheKey(ref);
  const hit = cache.get(key);
  if (hit) return hit;
  const c = checkDataset(ref.path, ref.preprocessing);
  const parts = Object.fromEntries(c.pairs.map((q) => [q.name, normalise(q, c.preprocessing)])) as Partial<Record<PartName, LoadedPart>>;
  const train = parts.train ?? parts.test!;
  const test = parts.test ?? parts.train!;
  const loaded: LoadedDataset = {
    ...(ref.name !== undefined ? { name: ref.name } : {}),
    path: ref.path,
    parts: { train, test },
    inputShape: c.inputShape,
    numClasses: c.numClasses,
    preprocessing: c.preprocessing,
    notes: c.notes,
  };
  cache.set(key, loaded);
  return loaded;
}

/** Forgets cached datasets (tests; freeing memory). */
export function clearDatasetCache(): void {
  cache.clear();
}

export interface FitCheck {
  /** The model wants another shape of the same values (e.g. [784] for [28,28,1]); makeBatches reshapes. */
  reshape: boolean;
  from: number[];
  to: number[];
}

const squeeze = (s: number[]) => s.filter((d) => d !== 1);

/**
 * Whether a model with this input shape (no batch axis) and number of outputs
 * can take the dataset. Reshaping is allowed when it keeps the element order:
 * to a flat vector (as Keras Flatten does) or when the shapes differ only by
 * axes of size 1. Throws a DatasetError giving both shapes otherwise.
 */
export function checkFitsModel(ds: Pick<LoadedDataset, 'inputShape' | 'numClasses' | 'path'>, inputShape: number[], numClasses: number): FitCheck {
  const from = ds.inputShape;
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const same = from.length === inputShape.length && from.every((d, i) => d === inputShape[i]);
  const fit: FitCheck = { reshape: !same, from, to: inputShape };
  if (!same) {
    const orderKept = inputShape.length === 1 || squeeze(from).join(',') === squeeze(inputShape).join(',');
    if (size(from) !== size(inputShape)) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (${size(from)} values) but the model expects inputs of shape [${inputShape.join(',')}] (${size(inputShape)} values)`);
    }
    if (!orderKept) {
      throw new DatasetError(ds.path, `dataset images are [${from.join(',')}] (channels last) but the model expects [${inputShape.join(',')}]; the sizes match but reshaping would scramble the layout`);
    }
  }
  if (numClasses < ds.numClasses) {
    throw new DatasetError(ds.path, `dataset has ${ds.numClasses} classes but the model outputs ${numClasses} scores; labels ${numClasses}..${ds.numClasses - 1} could never be predicted`);
  }
  return fit;
}

export { sampleSplit, makeBatches, mulberry32, shuffled, type Batch, type BatchSource, type Split } from './split.js';
