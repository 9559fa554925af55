/**
 * CIFAR-10 binary batches (cifar-10-binary.tar.gz): each file is a run of
 * 3073-byte records, one label byte then 3072 pixel bytes, the 1024 red values
 * of the 32x32 image row by row, then the green, then the blue ones (CHW).
 * The studio gives samples as 32x32x3, channels last (RGB).
 *
 * The path is a folder holding `data_batch_1.bin` … `data_batch_5.bin` (the
 * train part, in number order) and/or `test_batch.bin` (the test part) — or
 * the folder above it holding `cifar-10-batches-bin/` — or one batch file
 * (serving as train and test). `batches.meta.txt` beside the batches, when
 * present, names the classes (one per line). Describing streams the files in
 * whole records; the hash covers each file's name and bytes. Loading keeps the
 * labels and reads pixels by offset, the records of each batch only.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from './errors.js';
import { fileSize, forEachChunk } from './file-chunks.js';
import { checkLabelRange } from './labels.js';
import { resolvePreprocessing, type Preprocessing } from './preprocess.js';
import { recordsPart } from './sources.js';
import type { DatasetDescription, DatasetReader, LoadedPart, PartName, ReadDataset } from './types.js';

const SIDE = 32;
const PIXELS = SIDE * SIDE;
const RECORD = 1 + 3 * PIXELS;
const INPUT_SHAPE = [SIDE, SIDE, 3];
const TRAIN_FILE = /^data_batch_(\d+)\.bin$/;
const TEST_FILE = 'test_batch.bin';

interface CifarPart {
  name: PartName;
  files: string[];
  /** How the part is named in messages: its file, or `folder/data_batch_{1..5}.bin`. */
  label: string;
}

interface CifarLayout {
  dir: string;
  parts: CifarPart[];
  notes: string[];
}

export function looksLikeCifar(isFile: boolean, p: string, entries: string[]): boolean {
  if (isFile) return TRAIN_FILE.test(path.basename(p)) || path.basename(p) === TEST_FILE;
  return entries.some((e) => TRAIN_FILE.test(e) || e === TEST_FILE) || entries.includes('cifar-10-batches-bin');
}

function layout(p: string): CifarLayout {
  const info = statSync(p, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(p, 'not found');
  if (info.isFile()) {
    const base = path.basename(p);
    const name: PartName = base.startsWith('test') ? 'test' : 'train';
    return { dir: path.dirname(p), parts: [{ name, files: [p], label: p }], notes: [`only the ${name} part (${base}) was given; it serves as both train and test split`] };
  }
  let dir = p;
  let entries = readdirSync(dir);
  if (!entries.some((e) => TRAIN_FILE.test(e) || e === TEST_FILE) && entries.includes('cifar-10-batches-bin')) {
    dir = path.join(p, 'cifar-10-batches-bin');
    entries = readdirSync(dir);
  }
  const train = entries.filter((e) => TRAIN_FILE.test(e)).sort((a, b) => Number(TRAIN_FILE.exec(a)![1]) - Number(TRAIN_FILE.exec(b)![1]));
  const parts: CifarPart[] = [];
  const notes: string[] = [];
  if (train.length) {
    const nums = train.map((e) => TRAIN_FILE.exec(e)![1]);
    parts.push({ name: 'train', files: train.map((e) => path.join(dir, e)), label: train.length === 1 ? path.join(dir, train[0]!) : path.join(dir, `data_batch_{${nums.join(',')}}.bin`) });
    const missing = [1, 2, 3, 4, 5].filter((n) => !nums.includes(String(n)));
    if (missing.length && missing.length < 5) notes.push(`train part without ${missing.map((n) => `data_batch_${n}.bin`).join(', ')}`);
  }
  if (entries.includes(TEST_FILE)) parts.push({ name: 'test', files: [path.join(dir, TEST_FILE)], label: path.join(dir, TEST_FILE) });
  if (parts.length === 0) throw new DatasetError(p, 'holds no CIFAR-10 batches: expected data_batch_1.bin … data_batch_5.bin and/or test_batch.bin');
  if (parts.length === 1) notes.push(`only the ${parts[0]!.name} part exists; it serves as both train and test split`);
  return { dir, parts, notes };
}

function recordCount(file: string): number {
  const size = fileSize(file);
  if (size === 0) throw new DatasetError(file, 'is empty; a CIFAR-10 batch holds 3073-byte records');
  if (size % RECORD !== 0) {
    const hint = size % (RECORD + 1) === 0 ? '; its size fits 3074-byte records, as in CIFAR-100 (two label bytes), which is not supported' : '; the file is truncated or not a CIFAR-10 batch';
    throw new DatasetError(file, `is ${size} bytes, not a whole number of 3073-byte records (${Math.floor(size / RECORD)} records and ${size % RECORD} bytes left over)${hint}`);
  }
  return size / RECORD;
}

function classNames(dir: string): string[] | undefined {
  const meta = path.join(dir, 'batches.meta.txt');
  if (!existsSync(meta)) return undefined;
  const names = readFileSync(meta, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  if (names.length < 2 || names.length > 256) throw new DatasetError(meta, `names ${names.length} classes; expected one class name per line, 2 to 256 of them`);
  return names;
}

/** Streams one batch file for its labels (and the hash when describing). */
function readBatch(file: string, count: number, labels: Int32Array, labelAt: number, hash: ReturnType<typeof createHash> | null): void {
  hash?.update(`${path.basename(file)}\n`);
  let record = 0;
  forEachChunk(
    file,
    (chunk) => {
      hash?.update(chunk);
      for (let at = 0; at < chunk.length; at += RECORD, record++) labels[labelAt + record] = chunk[at]!;
    },
    RECORD * 1024,
  );
  if (record !== count) throw new DatasetError(file, `changed while being read (${record} records, expected ${count})`);
}

/** One record's 3072 pixel bytes (R plane, G plane, B plane) as HWC values. */
function decodeRecord(bytes: Uint8Array, out: Float32Array, at: number): void {
  for (let c = 0; c < 3; c++) {
    const src = c * PIXELS;
    for (let q = 0; q < PIXELS; q++) out[at + q * 3 + c] = bytes[src + q]!;
  }
}

interface Read {
  layout: CifarLayout;
  counts: number[];
  perFile: number[][];
  labels: Int32Array[];
  preprocessing: Preprocessing;
  numClasses: number;
  classNames: string[] | undefined;
  sha256: string;
}

function read(p: string, given: Record<string, unknown> | undefined, load: boolean): Read {
  const lay = layout(p);
  const preprocessing = resolvePreprocessing(given, true, p, 3);
  const names = classNames(lay.dir);
  const numClasses = preprocessing.numClasses ?? names?.length ?? 10;
  const source = preprocessing.numClasses !== undefined ? 'preprocessing.numClasses' : names ? path.join(lay.dir, 'batches.meta.txt') : 'CIFAR-10';
  const hash = load ? null : createHash('sha256');
  const counts: number[] = [];
  const perFiles: number[][] = [];
  const labels: Int32Array[] = [];
  for (const part of lay.parts) {
    const perFile = part.files.map(recordCount);
    const count = perFile.reduce((a, b) => a + b, 0);
    const partLabels = new Int32Array(count);
    let at = 0;
    part.files.forEach((f, i) => {
      readBatch(f, perFile[i]!, partLabels, at, hash);
      checkLabelRange(partLabels.subarray(at, at + perFile[i]!), f, numClasses, source);
      at += perFile[i]!;
    });
    counts.push(count);
    perFiles.push(perFile);
    labels.push(partLabels);
  }
  return { layout: lay, counts, perFile: perFiles, labels, preprocessing, numClasses, classNames: names, sha256: hash?.digest('hex') ?? '' };
}

function describeCifar(p: string, given: Record<string, unknown> | undefined): DatasetDescription {
  const r = read(p, given, false);
  return {
    format: 'cifar10',
    count: r.counts.reduce((a, b) => a + b, 0),
    inputShape: INPUT_SHAPE,
    numClasses: r.numClasses,
    ...(r.classNames ? { classNames: r.classNames } : {}),
    sha256: r.sha256,
    preprocessing: r.preprocessing,
    parts: r.layout.parts.map((q, i) => ({ name: q.name, count: r.counts[i]!, images: q.label, labels: q.label })),
    notes: r.layout.notes,
  };
}

/** Parts read by offset: sample i is the pixel bytes of record i (after its label byte) of the part's files in order. */
function loadCifar(p: string, given: Record<string, unknown> | undefined): ReadDataset {
  const r = read(p, given, true);
  const parts: Partial<Record<PartName, LoadedPart>> = {};
  r.layout.parts.forEach((q, i) => {
    parts[q.name] = recordsPart({
      segments: q.files.map((file, f) => ({ file, bytes: file, offset: 1, stride: RECORD, count: r.perFile[i]![f]! })),
      layout: { sampleSize: PIXELS * 3, sampleBytes: PIXELS * 3, float: false, noun: 'image', decode: decodeRecord },
      labels: r.labels[i]!,
      preprocessing: r.preprocessing,
      channels: 3,
      files: { imagesFile: q.label, labelsFile: q.label },
    });
  });
  return { parts, inputShape: INPUT_SHAPE, numClasses: r.numClasses, ...(r.classNames ? { classNames: r.classNames } : {}), preprocessing: r.preprocessing, notes: r.layout.notes };
}

export const cifar10Reader: DatasetReader = { format: 'cifar10', describe: describeCifar, load: loadCifar };
