/**
 * Sample sources read per batch (types.ts BatchSource): what the readers hand
 * out instead of one Float32Array of the whole part.
 *
 *  - recordsPart: fixed-size records at known byte offsets in one or more
 *    files (IDX, CIFAR-10, NPY, stored NPZ members, and the decompressed cache
 *    copies of .gz IDX files and deflated NPZ members, data-cache.ts). A read
 *    opens the files, reads the asked records (consecutive ones in one read of
 *    at most RUN_BYTES), decodes and preprocesses them, and closes the files.
 *  - arrayPart: samples already decoded in memory (small parts, see
 *    RESIDENT_MAX_BYTES, and parts built by hand in tests).
 *  - holdWhole: reads a small part once into an arrayPart.
 *
 * Nothing here keeps a batch after returning it; the memory a read needs is
 * its output plus one run buffer.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { DatasetError } from './errors.js';
import { allocateSamples, preprocessInPlace, type Preprocessing } from './preprocess.js';
import type { LoadedPart } from './types.js';

/**
 * Parts whose decoded samples (float32) take at most this many bytes are read
 * once and held whole (simple and fast: the bundled Fashion-MNIST subset is
 * 2 x 6.3 MB); larger parts are read from disk batch by batch.
 */
export const RESIDENT_MAX_BYTES = 64 * 2 ** 20;

/** Largest single read of consecutive records. */
const RUN_BYTES = 2 ** 20;

/**
 * Compressed bytes given to the inflater at a time when decompressing to the
 * data cache: what one push yields is at most ~1032x this (deflate's limit).
 */
export const INFLATE_STEP = 16 * 2 ** 10;

/**
 * Compressed files and members (.gz IDX files, deflated NPZ members) that
 * decompress to at most this many bytes are decompressed in memory and read
 * from there; larger ones once to a cache file (data-cache.ts). The decoded
 * part of a small one is at most 4x this (uint8 -> float32), so it is held
 * whole anyway (RESIDENT_MAX_BYTES) and the bytes are dropped after loading.
 */
export const SMALL_COMPRESSED_BYTES = 16 * 2 ** 20;

/** One run buffer for every read in this thread (reads are synchronous), grown to the largest run read so far. */
let runBuffer = new Uint8Array(0);

/** One file's run of fixed-size records. */
export interface RecordSegment {
  /** The file named in errors: the source (an .idx.gz, a CIFAR batch, `archive.npz:x.npy`). */
  file: string;
  /** Where the bytes are read: a path (the source itself, or its decompressed cache copy) or bytes in memory. */
  bytes: string | Uint8Array;
  /** Byte offset (in `bytes`) of the first record's sample bytes. */
  offset: number;
  /** Bytes from one record's start to the next (at least the layout's sampleBytes). */
  stride: number;
  count: number;
}

/** How one record's bytes become one sample's raw values. */
export interface RecordLayout {
  sampleSize: number;
  /** Bytes of one sample, read at offset + i·stride. */
  sampleBytes: number;
  /** Writes the raw values of the sample in `bytes` (sampleBytes long) to out[at .. at+sampleSize), channels last. */
  decode(bytes: Uint8Array, out: Float32Array, at: number): void;
  /** Float data: every value read is checked to be finite. */
  float: boolean;
  /** What a sample is called in errors ('image' for IDX, 'sample' otherwise). */
  noun: string;
}

export interface PartFiles {
  imagesFile: string;
  labelsFile: string;
}

/** Same checks for every source: each index inside the part. */
function checkIndices(idx: Int32Array, count: number, file: string): void {
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    if (!(i >= 0 && i < count)) throw new DatasetError(file, `sample index ${i} is outside the ${count} samples`);
  }
}

/** Checks that decoded float samples are finite; `sampleAt(k)` is the part index of the k-th sample in `values`. */
function checkFinite(values: Float32Array, per: number, sampleAt: (k: number) => number, file: string, noun: string): void {
  for (let j = 0; j < values.length; j++) {
    const v = values[j]!;
    if (!Number.isFinite(v)) {
      throw new DatasetError(file, `${noun} ${sampleAt(Math.floor(j / per))} holds ${v} (value ${j % per} of the sample); ${noun}s must be finite numbers`);
    }
  }
}

class Readers {
  private fds = new Map<string, number>();

  read(seg: RecordSegment, buf: Uint8Array, position: number): number {
    if (typeof seg.bytes !== 'string') {
      const from = seg.bytes.subarray(Math.min(position, seg.bytes.length), Math.min(position + buf.length, seg.bytes.length));
      buf.set(from);
      return from.length;
    }
    let fd = this.fds.get(seg.bytes);
    if (fd === undefined) {
      try {
        fd = openSync(seg.bytes, 'r');
      } catch (e) {
        const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
        const cache = seg.bytes !== seg.file ? ` (its decompressed copy ${seg.bytes})` : '';
        throw new DatasetError(seg.file, `${missing ? 'is gone' : 'cannot be read'}${cache}: ${(e as Error).message}`, { cause: e });
      }
      this.fds.set(seg.bytes, fd);
    }
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/**
 * A part whose samples are records at known offsets. `labels` has one entry
 * per record of all segments together, in segment order.
 */
export function recordsPart(o: {
  segments: RecordSegment[];
  layout: RecordLayout;
  labels: Int32Array;
  preprocessing: Preprocessing;
  /** The last axis of a sample (1 for flat samples). */
  channels: number;
  files: PartFiles;
}): LoadedPart {
  const { segments, layout, labels, preprocessing, channels, files } = o;
  const starts: number[] = [];
  let total = 0;
  for (const s of segments) {
    starts.push(total);
    total += s.count;
  }
  if (total !== labels.length) throw new Error(`records part ${files.imagesFile}: ${total} records but ${labels.length} labels`);
  const per = layout.sampleSize;
  const segmentOf = (i: number): number => {
    let lo = 0;
    let hi = segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const read = (idx: Int32Array): Float32Array => {
    checkIndices(idx, total, files.imagesFile);
    const out = new Float32Array(idx.length * per);
    const readers = new Readers();
    try {
      for (let k = 0; k < idx.length; ) {
        const i = idx[k]!;
        const s = segmentOf(i);
        const seg = segments[s]!;
        const local = i - starts[s]!;
        // Extend the run while the next index is the next record of the same file.
        let run = 1;
        const maxRun = Math.max(1, Math.floor(RUN_BYTES / seg.stride));
        while (run < maxRun && k + run < idx.length && idx[k + run] === i + run && local + run < seg.count) run++;
        const length = (run - 1) * seg.stride + layout.sampleBytes;
        if (runBuffer.length < length) runBuffer = new Uint8Array(length);
        const buf = runBuffer;
        const position = seg.offset + local * seg.stride;
        const got = readers.read(seg, buf.subarray(0, length), position);
        if (got < length) {
          const r = got < layout.sampleBytes ? 0 : Math.floor((got - layout.sampleBytes) / seg.stride) + 1;
          const bad = local + Math.min(r, run - 1);
          const start = seg.offset + bad * seg.stride;
          const where = seg.bytes !== seg.file && typeof seg.bytes === 'string' ? ` (read from its decompressed copy ${seg.bytes})` : '';
          throw new DatasetError(
            seg.file,
            `is truncated: ${layout.noun} ${starts[s]! + bad} (record ${bad} of this file) needs bytes ${start}..${start + layout.sampleBytes} but the data ends at byte ${position + got}${where}`,
          );
        }
        for (let r = 0; r < run; r++) layout.decode(buf.subarray(r * seg.stride, r * seg.stride + layout.sampleBytes), out, (k + r) * per);
        if (layout.float) checkFinite(out.subarray(k * per, (k + run) * per), per, (j) => idx[k + j]!, seg.file, layout.noun);
        k += run;
      }
    } finally {
      readers.close();
    }
    preprocessInPlace(out, channels, preprocessing);
    return out;
  };
  return { labels, count: total, sampleSize: per, imagesFile: files.imagesFile, labelsFile: files.labelsFile, resident: false, read };
}

/**
 * A part over samples already decoded in memory (preprocessing applied): the
 * small parts held whole, and hand-built parts in tests. Reads copy.
 */
export function arrayPart(images: Float32Array, labels: Int32Array, sampleSize: number, files: Partial<PartFiles> = {}): LoadedPart {
  const count = labels.length;
  if (images.length !== count * sampleSize) throw new Error(`${files.imagesFile ?? 'samples'}: ${images.length} values are not ${count} samples of ${sampleSize}`);
  const imagesFile = files.imagesFile ?? '';
  return {
    labels,
    count,
    sampleSize,
    imagesFile,
    labelsFile: files.labelsFile ?? imagesFile,
    resident: true,
    read(idx) {
      checkIndices(idx, count, imagesFile);
      const out = new Float32Array(idx.length * sampleSize);
      for (let k = 0; k < idx.length; k++) {
        const i = idx[k]!;
        out.set(images.subarray(i * sampleSize, (i + 1) * sampleSize), k * sampleSize);
      }
      return out;
    },
  };
}

/** Reads every sample of a (small) part once and holds them: reading errors surface here, at load. */
export function holdWhole(part: LoadedPart): LoadedPart {
  if (part.resident) return part;
  const per = part.sampleSize;
  const images = allocateSamples(part.count * per, part.imagesFile);
  const step = Math.max(1, Math.floor(RUN_BYTES / (4 * per)));
  for (let start = 0; start < part.count; start += step) {
    const n = Math.min(step, part.count - start);
    images.set(part.read(Int32Array.from({ length: n }, (_, k) => start + k)), start * per);
  }
  return arrayPart(images, part.labels, per, { imagesFile: part.imagesFile, labelsFile: part.labelsFile });
}

/** Every sample of a part, in order (tests and small tools; the whole part is allocated). */
export function readAll(part: { labels: Int32Array; read(idx: Int32Array): Float32Array }): Float32Array {
  return part.read(Int32Array.from({ length: part.labels.length }, (_, i) => i));
}
