/**
 * What .npy and .npz datasets share: an x array (samples) and a y array
 * (labels) per part, read as streams (npy.ts), checked, and turned into a
 * description or loaded parts. Sample shapes: (N, H, W, C) as is, (N, H, W)
 * gets a channel axis of 1, (N, D) stays flat. Labels: (N,) or (N, 1), integer.
 * Raw values are the array's values; integer arrays default to scale 1/255.
 * Describing streams every value (checks, hash); loading reads the x header
 * and keeps the labels, and the samples are read by offset per batch.
 */
import { DatasetError } from './errors.js';
import { checkLabelRange } from './labels.js';
import { readRange } from './file-chunks.js';
import { decodeValues, isFloatDtype, parseNpyHeader, type NpyConsumer, type NpyHeader } from './npy.js';
import { MAX_LOADED_VALUES, resolvePreprocessing, type Preprocessing } from './preprocess.js';
import { recordsPart } from './sources.js';
import type { DatasetFormat, DatasetReader, LoadedPart, PartDescription, PartName } from './types.js';

export type Mode = 'describe' | 'load';

/** Takes an x array: checks its header, and the values when they are streamed (describing). */
export class SamplesConsumer implements NpyConsumer {
  h: NpyHeader | null = null;
  sampleShape: number[] = [];
  private scratch = new Float64Array(0);

  constructor(readonly file: string) {}

  header(h: NpyHeader): void {
    const s = h.shape;
    if (s.length < 2 || s.length > 4) {
      throw new DatasetError(this.file, `samples must have 2 to 4 dimensions (count, [height, width,] [channels] or count, features); this array has shape (${s.join(', ')})`);
    }
    if (s[0] === 0) throw new DatasetError(this.file, `holds no samples: shape (${s.join(', ')})`);
    if (s.slice(1).some((d) => d === 0)) throw new DatasetError(this.file, `samples have an empty dimension: shape (${s.join(', ')})`);
    this.sampleShape = s.length === 3 ? [s[1]!, s[2]!, 1] : s.slice(1);
    this.h = h;
  }

  values(bytes: Uint8Array, at: number): void {
    const h = this.h!;
    if (!isFloatDtype(h.dtype)) return;
    const n = bytes.length / h.itemBytes;
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    decodeValues(h.dtype, bytes, this.scratch, 0);
    const per = this.sampleShape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) {
      const v = this.scratch[i]!;
      if (!Number.isFinite(v)) {
        const k = at + i;
        throw new DatasetError(this.file, `sample ${Math.floor(k / per)} holds ${v} (value ${k % per} of the sample); samples must be finite numbers`);
      }
    }
  }
}

/**
 * Reads an .npy header at `offset` of `bytes` (a path: an .npy file, or an
 * .npz member in place or decompressed to the cache; or a member decompressed
 * in memory) and checks that the `available` bytes hold the whole array, no
 * more; `file` names the array in errors.
 */
export function readNpyHeaderAt(bytes: string | Uint8Array, offset: number, available: number, file: string): NpyHeader {
  let want = Math.min(available, 4096);
  for (;;) {
    const head = typeof bytes === 'string' ? readRange(bytes, offset, want) : bytes.subarray(offset, offset + want);
    const h = parseNpyHeader(head, file);
    if (h) {
      const need = h.dataOffset + h.count * h.itemBytes;
      if (available < need) throw new DatasetError(file, `is truncated: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes (header included) but there are ${available}`);
      if (available > need) throw new DatasetError(file, `has trailing bytes: shape (${h.shape.join(', ')}) of ${h.dtype} needs ${need} bytes but there are ${available}`);
      return h;
    }
    if (want >= available) throw new DatasetError(file, `is truncated: ${available} bytes, too short for a complete .npy header`);
    want = Math.min(available, want * 16);
  }
}

/** Takes a y array: one integer class label per sample, 0..255. */
export class LabelsConsumer implements NpyConsumer {
  h: NpyHeader | null = null;
  labels = new Int32Array(0);
  private scratch = new Float64Array(0);

  constructor(readonly file: string) {}

  header(h: NpyHeader): void {
    const s = h.shape;
    if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
      throw new DatasetError(this.file, `labels must be one class index per sample, shape (N,) or (N, 1); this array has shape (${s.join(', ')})${s.length === 2 ? ' (one-hot labels: save np.argmax(y, axis=1))' : ''}`);
    }
    if (isFloatDtype(h.dtype)) throw new DatasetError(this.file, `labels must be integers; this array holds ${h.dtype === 'f4' ? 'float32' : 'float64'} (save y.astype(np.int64))`);
    if (s[0]! > MAX_LOADED_VALUES) throw new DatasetError(this.file, `declares ${s[0]} labels, above the studio's limit of ${MAX_LOADED_VALUES} samples`);
    this.h = h;
    this.labels = new Int32Array(s[0]!);
  }

  values(bytes: Uint8Array, at: number): void {
    const n = bytes.length / this.h!.itemBytes;
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    decodeValues(this.h!.dtype, bytes, this.scratch, 0);
    for (let i = 0; i < n; i++) {
      const v = this.scratch[i]!;
      if (v < 0 || v > 255) throw new DatasetError(this.file, `label ${at + i} is ${v}; class labels must be between 0 and 255`);
      this.labels[at + i] = v;
    }
  }
}

export interface ArrayPart {
  name: PartName;
  x: SamplesConsumer;
  y: LabelsConsumer;
  /** Loading: where x's values are (a path, or bytes in memory), to be read by offset (x.h.dataOffset counts from `offset`). */
  values?: { bytes: string | Uint8Array; offset: number };
}

export interface AssembledArrays {
  inputShape: number[];
  numClasses: number;
  preprocessing: Preprocessing;
  notes: string[];
  parts: PartDescription[];
  loaded: Partial<Record<PartName, LoadedPart>>;
}

/** Checks the parts against each other, resolves preprocessing, and (loading) makes parts read by offset. */
export function assembleArrays(parts: ArrayPart[], where: string, given: Record<string, unknown> | undefined): AssembledArrays {
  const first = parts[0]!;
  for (const q of parts) {
    const n = q.x.h!.shape[0]!;
    const m = q.y.h!.shape[0]!;
    if (n > MAX_LOADED_VALUES) throw new DatasetError(q.x.file, `holds ${n} samples, above the studio's limit of ${MAX_LOADED_VALUES}`);
    if (n !== m) throw new DatasetError(q.y.file, `holds ${m} labels but ${q.x.file} holds ${n} samples; the counts must match`);
    if (q.x.sampleShape.join(',') !== first.x.sampleShape.join(',')) {
      throw new DatasetError(q.x.file, `samples are ${q.x.sampleShape.join('x')} but ${first.x.file} has ${first.x.sampleShape.join('x')}; all parts must share one shape`);
    }
  }
  const inputShape = first.x.sampleShape;
  const channels = inputShape.length === 3 ? inputShape[2]! : 1;
  const integerData = parts.every((q) => !isFloatDtype(q.x.h!.dtype));
  const preprocessing = resolvePreprocessing(given, integerData, where, channels);
  let maxLabel = -1;
  for (const q of parts) maxLabel = Math.max(maxLabel, checkLabelRange(q.y.labels, q.y.file, preprocessing.numClasses));
  const numClasses = preprocessing.numClasses ?? Math.max(maxLabel + 1, 1);
  const notes: string[] = [];
  if (parts.length === 1) notes.push(`only the ${first.name} part (${first.x.file}) exists; it serves as both train and test split`);
  if (inputShape.length === 3 && (inputShape[0] === 1 || inputShape[0] === 3) && inputShape[2] !== 1 && inputShape[2] !== 3) {
    notes.push(`samples are ${inputShape.join('x')}, which looks channels-first; the studio reads them as height x width x channels (transpose to (N, H, W, C) if the first axis is channels)`);
  }
  const loaded: Partial<Record<PartName, LoadedPart>> = {};
  const sampleSize = inputShape.reduce((a, b) => a * b, 1);
  for (const q of parts) {
    if (!q.values) continue;
    const h = q.x.h!;
    const sampleBytes = sampleSize * h.itemBytes;
    loaded[q.name] = recordsPart({
      segments: [{ file: q.x.file, bytes: q.values.bytes, offset: q.values.offset + h.dataOffset, stride: sampleBytes, count: h.shape[0]! }],
      layout: { sampleSize, sampleBytes, float: isFloatDtype(h.dtype), noun: 'sample', decode: (bytes, out, at) => decodeValues(h.dtype, bytes, out, at) },
      labels: q.y.labels,
      preprocessing,
      channels,
      files: { imagesFile: q.x.file, labelsFile: q.y.file },
    });
  }
  return {
    inputShape,
    numClasses,
    preprocessing,
    notes,
    parts: parts.map((q) => ({ name: q.name, count: q.y.labels.length, images: q.x.file, labels: q.y.file })),
    loaded,
  };
}

/** The part an array key names: x / x_train → train, x_test → test (also -test, test in the name). */
export function partOfKey(key: string): PartName {
  return /test/i.test(key) ? 'test' : 'train';
}

/** A dataset reader over one way of reading arrays (.npy pairs, .npz archives): describe and load differ only in what they keep. */
export function arraysReader(
  format: DatasetFormat,
  read: (p: string, given: Record<string, unknown> | undefined, mode: Mode) => { assembled: AssembledArrays; sha256: string },
): DatasetReader {
  return {
    format,
    describe(p, given) {
      const { assembled: a, sha256 } = read(p, given, 'describe');
      return { format, count: a.parts.reduce((s, q) => s + q.count, 0), inputShape: a.inputShape, numClasses: a.numClasses, sha256, preprocessing: a.preprocessing, parts: a.parts, notes: a.notes };
    },
    load(p, given) {
      const { assembled: a } = read(p, given, 'load');
      return { parts: a.loaded, inputShape: a.inputShape, numClasses: a.numClasses, preprocessing: a.preprocessing, notes: a.notes };
    },
  };
}
