/**
 * IDX datasets (MNIST, Fashion-MNIST). A dataset is either
 *  - a folder holding pairs `<part>-images-idx3-ubyte[.gz]` +
 *    `<part>-labels-idx1-ubyte[.gz]`, parts `train` and `t10k` (or `test`), or
 *  - one pair, named by its images file (the labels file is found by
 *    replacing `images-idx3` with `labels-idx1`).
 * When only one part exists it serves as both train and test, and a note says so.
 * Raw values are the IDX values (0..255 for uint8 files); `numClasses` may be
 * given, else it is the largest label + 1. The hash covers the decompressed
 * IDX bytes, so gzipped and plain copies hash alike.
 *
 * Images are read by offset, batch by batch (sources.ts): a plain file
 * directly; a .gz file (gzip has no random access) from its decompressed copy
 * in the data cache (data-cache.ts), or, when small, from its bytes
 * decompressed in memory. Labels files (one byte or so a sample) are read whole.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { crc32, gunzipSync } from 'node:zlib';
import { Gunzip } from 'fflate';
import { cachedCopy } from './data-cache.js';
import { DatasetError } from './errors.js';
import { CHUNK_BYTES, fileSize, forEachChunk, readRange } from './file-chunks.js';
import { decodeIdxValues, IdxError, isGzip, parseIdx, parseIdxHeader, type IdxArray, type IdxHeader, type IdxType } from './idx.js';
import { checkLabelRange, checkLabelValues } from './labels.js';
import { resolvePreprocessing, type Preprocessing } from './preprocess.js';
import { INFLATE_STEP, recordsPart, SMALL_COMPRESSED_BYTES } from './sources.js';
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

/** Reads and decompresses one (small) file whole: labels files. */
function readIdxFile(file: string): { bytes: Uint8Array; idx: IdxArray } {
  let raw: Uint8Array;
  try {
    raw = readFileSync(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new DatasetError(file, missing ? 'file not found' : `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  if (isGzip(raw)) raw = gunzipWhole(file, raw, Infinity);
  try {
    return { bytes: raw, idx: parseIdx(raw, file) };
  } catch (e) {
    if (e instanceof IdxError) throw new DatasetError(file, e.problem, { cause: e });
    throw e;
  }
}

const notDecompressing = (file: string, e: unknown) =>
  new DatasetError(file, `is gzip-compressed but does not decompress (${(e as Error).message}); the file may be truncated or corrupt`, { cause: e });

function gunzipWhole(file: string, raw: Uint8Array, max: number): Uint8Array {
  try {
    return gunzipSync(raw, Number.isFinite(max) ? { maxOutputLength: max } : {});
  } catch (e) {
    throw notDecompressing(file, e);
  }
}

/** An images file ready to be read by offset: its decompressed bytes (a path, or in memory) and its checked header. */
interface OpenedIdx {
  file: string;
  /** The file itself, its decompressed copy in the data cache, or (small .gz files) the bytes themselves. */
  bytes: string | Uint8Array;
  size: number;
  header: IdxHeader;
}

/** Streams a .gz file through gunzip into `write`, checking the gzip trailer (CRC-32 and size) of a one-member file. */
function gunzipStream(file: string, write: (chunk: Uint8Array) => void): void {
  let crc = 0;
  let size = 0;
  let members = 0;
  const gunzip = new Gunzip((chunk) => {
    crc = crc32(chunk, crc);
    size += chunk.length;
    write(chunk);
  });
  gunzip.onmember = () => members++;
  let tail: Uint8Array = new Uint8Array(0);
  try {
    forEachChunk(file, (chunk) => {
      tail = chunk.length >= 8 ? chunk.subarray(chunk.length - 8) : Uint8Array.from([...tail, ...chunk].slice(-8));
      // Small pushes keep each decompressed piece small (fflate hands out all a push inflates at once).
      for (let at = 0; at < chunk.length; at += INFLATE_STEP) gunzip.push(chunk.subarray(at, at + INFLATE_STEP));
    });
    gunzip.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw notDecompressing(file, e);
  }
  if (members <= 1 && tail.length === 8) {
    const view = new DataView(tail.buffer, tail.byteOffset, 8);
    const wantCrc = view.getUint32(0, true);
    const wantSize = view.getUint32(4, true);
    if (wantCrc !== crc >>> 0 || wantSize !== size % 2 ** 32) {
      throw notDecompressing(file, new Error(`the gzip trailer says CRC-32 ${wantCrc.toString(16)} and ${wantSize} bytes, the data has ${(crc >>> 0).toString(16)} and ${size % 2 ** 32}`));
    }
  }
}

function openIdx(file: string): OpenedIdx {
  const size = fileSize(file);
  const magic = readRange(file, 0, 2);
  let bytes: string | Uint8Array = file;
  let total = size;
  if (isGzip(magic)) {
    const trailer = readRange(file, Math.max(0, size - 4), 4);
    const declared = trailer.length === 4 ? new DataView(trailer.buffer, trailer.byteOffset, 4).getUint32(0, true) : 0;
    let inMemory: Uint8Array | null = null;
    // Small files (compressed, and decompressed as the gzip trailer says) are decompressed in memory.
    if (size <= SMALL_COMPRESSED_BYTES && declared <= SMALL_COMPRESSED_BYTES) {
      try {
        inMemory = gunzipSync(readFileSync(file), { maxOutputLength: SMALL_COMPRESSED_BYTES });
      } catch (e) {
        // Larger than the trailer said (it is only the size mod 2^32): decompress to the cache instead.
        if ((e as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw notDecompressing(file, e);
      }
    }
    if (inMemory) {
      bytes = inMemory;
      total = inMemory.length;
    } else {
      const copy = cachedCopy(file, '', (n) => n % 2 ** 32 === declared, (write) => gunzipStream(file, write));
      bytes = copy;
      total = fileSize(copy);
    }
  }
  const head = typeof bytes === 'string' ? readRange(bytes, 0, 4 + 4 * 255) : bytes.subarray(0, 4 + 4 * 255);
  try {
    return { file, bytes, size: total, header: parseIdxHeader(head, total, file) };
  } catch (e) {
    if (e instanceof IdxError) throw new DatasetError(file, e.problem, { cause: e });
    throw e;
  }
}

/** Calls `each` with successive chunks of the opened file's bytes, header included. */
function forEachIdxChunk(opened: OpenedIdx, each: (chunk: Uint8Array) => void): void {
  if (typeof opened.bytes !== 'string') {
    for (let at = 0; at < opened.bytes.length; at += CHUNK_BYTES) each(opened.bytes.subarray(at, at + CHUNK_BYTES));
    return;
  }
  const n = forEachChunk(opened.bytes, each);
  if (n !== opened.size) throw new DatasetError(opened.file, `changed while being read (${n} bytes, expected ${opened.size})`);
}

/** Checks that float images hold finite values, streaming; errors name the image and value. */
function checkFiniteImages(opened: OpenedIdx, per: number): void {
  const { header } = opened;
  const scratch = new Float64Array(CHUNK_BYTES / header.itemBytes + 1);
  let pos = 0;
  let value = 0;
  let carry = new Uint8Array(0);
  forEachIdxChunk(opened, (chunk) => {
    let data = chunk;
    if (pos < header.headerBytes) {
      const skip = Math.min(data.length, header.headerBytes - pos);
      pos += skip;
      data = data.subarray(skip);
    }
    pos += data.length;
    if (carry.length) data = Uint8Array.from([...carry, ...data]);
    const whole = data.length - (data.length % header.itemBytes);
    decodeIdxValues(header.type, data.subarray(0, whole), scratch, 0);
    const n = whole / header.itemBytes;
    for (let i = 0; i < n; i++) {
      const v = scratch[i]!;
      if (!Number.isFinite(v)) {
        const k = value + i;
        throw new DatasetError(opened.file, `image ${Math.floor(k / per)} holds ${v} (value ${k % per} of the sample); images must be finite numbers`);
      }
    }
    value += n;
    carry = data.slice(whole);
  });
}

interface CheckedPair {
  name: PartName;
  files: PairFiles;
  images: OpenedIdx;
  labels: Int32Array;
  labelBytes: Uint8Array;
  sampleShape: number[];
}

function checkPair(files: PairFiles, describing: boolean): CheckedPair {
  const img = openIdx(files.images);
  const lab = readIdxFile(files.labels);
  const dims = img.header.dims;
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
  // Loading reads values batch by batch and checks float ones as it reads them; describing checks them all now.
  if (describing && isFloat(img.header.type)) checkFiniteImages(img, sampleShape.reduce((a, b) => a * b, 1));
  const labels = Int32Array.from(lab.idx.data as ArrayLike<number>);
  checkLabelValues(labels, files.labels);
  return { name: files.name, files, images: img, labels, labelBytes: lab.bytes, sampleShape };
}

const isFloat = (t: IdxType) => t === 'float32' || t === 'float64';

interface Checked {
  pairs: CheckedPair[];
  inputShape: number[];
  numClasses: number;
  preprocessing: Preprocessing;
  notes: string[];
}

function checkDataset(p: string, given: Record<string, unknown> | undefined, describing: boolean): Checked {
  const pairs = datasetFiles(p).map((f) => checkPair(f, describing));
  const first = pairs[0]!;
  for (const other of pairs.slice(1)) {
    if (other.sampleShape.join(',') !== first.sampleShape.join(',')) {
      throw new DatasetError(other.files.images, `images are ${other.sampleShape.join('x')} but ${path.basename(first.files.images)} has ${first.sampleShape.join('x')}; all parts must share one shape`);
    }
  }
  const integerData = pairs.every((q) => !isFloat(q.images.header.type));
  const preprocessing = resolvePreprocessing(given, integerData, p, first.sampleShape[first.sampleShape.length - 1]);
  let maxLabel = -1;
  for (const q of pairs) maxLabel = Math.max(maxLabel, checkLabelRange(q.labels, q.files.labels, preprocessing.numClasses));
  const numClasses = preprocessing.numClasses ?? Math.max(maxLabel + 1, 1);
  const notes: string[] = [];
  if (pairs.length === 1) notes.push(`only the ${first.name} part (${path.basename(first.files.images)}) exists; it serves as both train and test split`);
  return { pairs, inputShape: first.sampleShape, numClasses, preprocessing, notes };
}

/** The hash covers the decompressed IDX bytes of each part (images, then labels), parts in name order. */
function hashPairs(pairs: CheckedPair[]): string {
  const hash = createHash('sha256');
  for (const q of [...pairs].sort((a, b) => a.name.localeCompare(b.name))) {
    hash.update(`${q.name}/images\n`);
    forEachIdxChunk(q.images, (chunk) => hash.update(chunk));
    hash.update(`${q.name}/labels\n`).update(q.labelBytes);
  }
  return hash.digest('hex');
}

function describeIdx(p: string, preprocessing?: Record<string, unknown>): DatasetDescription {
  const c = checkDataset(p, preprocessing, true);
  return {
    format: 'idx',
    count: c.pairs.reduce((sum, q) => sum + q.labels.length, 0),
    inputShape: c.inputShape,
    numClasses: c.numClasses,
    sha256: hashPairs(c.pairs),
    preprocessing: c.preprocessing,
    parts: c.pairs.map((q) => ({ name: q.name, count: q.labels.length, images: q.files.images, labels: q.files.labels })),
    notes: c.notes,
  };
}

/** A part read by offset: image i is the i-th run of sampleSize values after the header. */
function lazyPart(q: CheckedPair, pre: Preprocessing): LoadedPart {
  const { header } = q.images;
  const per = q.sampleShape.reduce((a, b) => a * b, 1);
  const sampleBytes = per * header.itemBytes;
  return recordsPart({
    segments: [{ file: q.files.images, bytes: q.images.bytes, offset: header.headerBytes, stride: sampleBytes, count: q.labels.length }],
    layout: { sampleSize: per, sampleBytes, float: isFloat(header.type), noun: 'image', decode: (bytes, out, at) => decodeIdxValues(header.type, bytes, out, at) },
    labels: q.labels,
    preprocessing: pre,
    channels: q.sampleShape[q.sampleShape.length - 1]!,
    files: { imagesFile: q.files.images, labelsFile: q.files.labels },
  });
}

function loadIdx(p: string, given: Record<string, unknown> | undefined): ReadDataset {
  const c = checkDataset(p, given, false);
  const parts = Object.fromEntries(c.pairs.map((q) => [q.name, lazyPart(q, c.preprocessing)])) as Partial<Record<PartName, LoadedPart>>;
  return { parts, inputShape: c.inputShape, numClasses: c.numClasses, preprocessing: c.preprocessing, notes: c.notes };
}

export const idxReader: DatasetReader = { format: 'idx', describe: describeIdx, load: loadIdx };

/** Whether a path looks like IDX data: an images-idx3 file, or a folder holding one. */
export function looksLikeIdx(p: string, isFile: boolean, entries: string[]): boolean {
  if (isFile) return /-(images-idx3|labels-idx1)-ubyte(\.gz)?$/.test(path.basename(p));
  return entries.some((e) => /^(train|t10k|test)-(images-idx3|labels-idx1)-ubyte(\.gz)?$/.test(e));
}
