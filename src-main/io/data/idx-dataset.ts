/**
 * IDX datasets (MNIST, Fashion-MNIST). A dataset is either
 *  - a folder holding pairs `<part>-images-idx3-ubyte[.gz]` +
 *    `<part>-labels-idx1-ubyte[.gz]`, parts `train` and `t10k` (or `test`), or
 *  - one pair, named by its images file (the labels file is found by
 *    replacing `images-idx3` with `labels-idx1`).
 * When only one part exists it serves as both train and test, and a note says so.
 * Raw values are the IDX values (0..255 for uint8 files); `numClasses` may be
 * given, else it is the largest label + 1. The hash covers the decompressed
 * IDX bytes, so gzipped and plain copies hash alike. IDX files are read whole
 * (gzip has no random access); they are the small classic datasets.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from './errors.js';
import { IdxError, isGzip, parseIdx, type IdxArray } from './idx.js';
import { checkLabelRange, checkLabelValues } from './labels.js';
import { allocateSamples, preprocessInPlace, resolvePreprocessing, type Preprocessing } from './preprocess.js';
import type { DatasetDescription, DatasetReader, LoadedPart, PartName, ReadDataset } from './types.js';

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
  checkLabelValues(labels, files.labels);
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
  const preprocessing = resolvePreprocessing(given, integerData, p, first.sampleShape[first.sampleShape.length - 1]);
  let maxLabel = -1;
  for (const q of pairs) maxLabel = Math.max(maxLabel, checkLabelRange(q.labels, q.files.labels, preprocessing.numClasses));
  const numClasses = preprocessing.numClasses ?? Math.max(maxLabel + 1, 1);
  const hash = createHash('sha256');
  for (const q of [...pairs].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${q.name}/images\n`).update(q.imageBytes).update(`${q.name}/labels\n`).update(q.labelBytes);
  }
  const notes: string[] = [];
  if (pairs.length === 1) notes.push(`only the ${first.name} part (${path.basename(first.files.images)}) exists; it serves as both train and test split`);
  return { pairs, inputShape: first.sampleShape, numClasses, preprocessing, sha256: hash.digest('hex'), notes };
}

function describeIdx(p: string, preprocessing?: Record<string, unknown>): DatasetDescription {
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
  const images = allocateSamples(src.length, q.files.images);
  images.set(src);
  preprocessInPlace(images, q.sampleShape[q.sampleShape.length - 1]!, pre);
  return {
    images,
    labels: q.labels,
    count: q.labels.length,
    sampleSize: q.sampleShape.reduce((a, b) => a * b, 1),
    imagesFile: q.files.images,
    labelsFile: q.files.labels,
  };
}


function loadIdx(p: string, given: Record<string, unknown> | undefined): ReadDataset {
  const c = checkDataset(p, given);
  const parts = Object.fromEntries(c.pairs.map((q) => [q.name, normalise(q, c.preprocessing)])) as Partial<Record<PartName, LoadedPart>>;
  return { parts, inputShape: c.inputShape, numClasses: c.numClasses, preprocessing: c.preprocessing, notes: c.notes };
}

export const idxReader: DatasetReader = { format: 'idx', describe: describeIdx, load: loadIdx };

/** Whether a path looks like IDX data: an images-idx3 file, or a folder holding one. */
export function looksLikeIdx(p: string, isFile: boolean, entries: string[]): boolean {
  if (isFile) return /-(images-idx3|labels-idx1)-ubyte(\.gz)?$/.test(path.basename(p));
  return entries.some((e) => /^(train|t10k|test)-(images-idx3|labels-idx1)-ubyte(\.gz)?$/.test(e));
}
