/**
 * Datasets as NumPy .npy files: `x.npy` + `y.npy` (one part, serving as
 * train and test), or `x_train.npy` + `y_train.npy` and `x_test.npy` +
 * `y_test.npy`; the path is the folder or an x file (its labels are the file
 * named with y in place of the leading x). Describing streams the files in
 * 4 MiB chunks: it reads the header, hashes and checks the values without
 * holding them. Loading reads the x header and the labels; samples are read
 * by offset from x, the records of each batch only (sources.ts).
 * The hash covers each file's name and bytes, parts in name order.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { arraysReader, assembleArrays, LabelsConsumer, partOfKey, readNpyHeaderAt, SamplesConsumer, type ArrayPart, type Mode } from './arrays.js';
import { DatasetError } from './errors.js';
import { fileSize, forEachChunk } from './file-chunks.js';
import { NpyStream, type NpyConsumer } from './npy.js';
import type { DatasetReader, PartName } from './types.js';

interface NpyPair {
  name: PartName;
  x: string;
  y: string;
}

const X_FILE = /^x(.*)\.npy$/i;

function pairFor(xFile: string): NpyPair {
  const base = path.basename(xFile);
  const m = X_FILE.exec(base);
  if (!m) throw new DatasetError(xFile, 'cannot tell which .npy file holds the labels: name the arrays x.npy + y.npy (or x_train.npy + y_train.npy, x_test.npy + y_test.npy) and give the x file or the folder');
  const yBase = `${base[0] === 'X' ? 'Y' : 'y'}${m[1]}.npy`;
  const y = path.join(path.dirname(xFile), yBase);
  if (!existsSync(y)) throw new DatasetError(y, `labels file missing (expected next to ${base})`);
  return { name: partOfKey(m[1]!), x: xFile, y };
}

/** The x/y pairs a path stands for. */
export function npyPairs(p: string): NpyPair[] {
  const info = statSync(p, { throwIfNoEntry: false });
  if (!info) throw new DatasetError(p, 'not found');
  if (info.isFile()) {
    if (/^y/i.test(path.basename(p))) throw new DatasetError(p, 'is a labels array; give the samples file (x…) or the folder holding both');
    return [pairFor(p)];
  }
  const xs = readdirSync(p).filter((e) => X_FILE.test(e)).sort();
  if (xs.length === 0) throw new DatasetError(p, 'holds no x*.npy samples file: expected x.npy + y.npy, or x_train.npy + y_train.npy and x_test.npy + y_test.npy');
  const pairs = xs.map((x) => pairFor(path.join(p, x)));
  for (const name of ['train', 'test'] as const) {
    const same = pairs.filter((q) => q.name === name);
    if (same.length > 1) throw new DatasetError(p, `${same.map((q) => path.basename(q.x)).join(' and ')} would both be the ${name} part; keep one`);
  }
  return pairs.sort((a, b) => (a.name === b.name ? 0 : a.name === 'train' ? -1 : 1));
}

function streamFile(file: string, consumer: NpyConsumer, hash: ReturnType<typeof createHash> | null): void {
  const stream = new NpyStream(file, consumer);
  hash?.update(`${path.basename(file)}\n`);
  forEachChunk(file, (chunk) => {
    hash?.update(chunk);
    stream.push(chunk);
  });
  stream.end();
}

function read(p: string, given: Record<string, unknown> | undefined, mode: Mode) {
  const pairs = npyPairs(p);
  const hash = mode === 'describe' ? createHash('sha256') : null;
  const parts: ArrayPart[] = pairs.map((q) => ({ name: q.name, x: new SamplesConsumer(q.x), y: new LabelsConsumer(q.y) }));
  for (const q of parts) {
    if (mode === 'describe') {
      streamFile(q.x.file, q.x, hash);
    } else {
      // Loading: the header only; values are read by offset per batch.
      q.x.header(readNpyHeaderAt(q.x.file, 0, fileSize(q.x.file), q.x.file));
      q.values = { bytes: q.x.file, offset: 0 };
    }
    streamFile(q.y.file, q.y, hash);
  }
  return { assembled: assembleArrays(parts, p, given), sha256: hash?.digest('hex') ?? '' };
}

export const npyReader: DatasetReader = arraysReader('npy', read);
