/**
 * Datasets as one NumPy .npz archive (np.savez / np.savez_compressed): keys
 * x + y (one part, serving as train and test), or x_train + y_train and
 * x_test + y_test (the layout of Keras's mnist.npz). Other keys are ignored
 * with a note. The archive is streamed through fflate's Unzip in 4 MiB chunks
 * (stored and deflated entries, ZIP64 as numpy writes it), so a file of
 * several GB is never held whole: describing keeps only the labels, loading
 * decodes samples straight into float32. The hash covers the archive's bytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { arraysReader, assembleArrays, LabelsConsumer, partOfKey, SamplesConsumer, type ArrayPart, type Mode } from './arrays.js';
import { DatasetError } from './errors.js';
import { fileSize, forEachChunk, readRange } from './file-chunks.js';
import { NpyStream } from './npy.js';
import type { DatasetReader } from './types.js';

const ARRAY_KEY = /^([xy])(_(train|test))?$/;

interface Entry {
  key: string;
  role: 'x' | 'y';
  stream: NpyStream;
  consumer: SamplesConsumer | LabelsConsumer;
}

/** A complete zip ends with an end-of-central-directory record (50 4b 05 06) in its last 64 KiB + 22 bytes. */
function checkEnd(file: string, size: number): void {
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readRange(file, size - tailLength, tailLength);
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 0x05 && tail[i + 3] === 0x06) return;
  }
  throw new DatasetError(file, 'is truncated: the zip end-of-central-directory record is missing, so the archive is incomplete');
}

function read(file: string, given: Record<string, unknown> | undefined, mode: Mode) {
  const size = fileSize(file);
  const magic = readRange(file, 0, 4);
  if (size < 22 || magic[0] !== 0x50 || magic[1] !== 0x4b || magic[2] !== 0x03 || magic[3] !== 0x04) {
    throw new DatasetError(file, `is not an .npz archive: a zip file starts with 50 4b 03 04, this one with ${Array.from(magic, (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'}`);
  }
  checkEnd(file, size);
  const hash = mode === 'describe' ? createHash('sha256') : null;
  const entries = new Map<string, Entry>();
  const ignored: string[] = [];
  const unzip = new Unzip((f: UnzipFile) => {
    const key = path.posix.basename(f.name).replace(/\.npy$/, '');
    const m = ARRAY_KEY.exec(key);
    if (!m || !f.name.endsWith('.npy')) {
      ignored.push(f.name);
      return;
    }
    const where = `${file}:${f.name}`;
    const consumer = m[1] === 'x' ? new SamplesConsumer(where, mode) : new LabelsConsumer(where);
    const stream = new NpyStream(where, consumer);
    entries.set(key, { key, role: m[1] as 'x' | 'y', stream, consumer });
    f.ondata = (err, data) => {
      // fflate's inflater hands errors thrown by our own stream back here: keep ours as they are.
      if (err instanceof DatasetError) throw err;
      if (err) throw new DatasetError(where, `does not decompress (${err.message}); the archive may be truncated or corrupt`, { cause: err });
      stream.push(data);
    };
    f.start();
  });
  unzip.register(UnzipInflate);
  try {
    forEachChunk(file, (chunk) => {
      hash?.update(chunk);
      unzip.push(chunk);
    });
    unzip.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(file, `is not a readable .npz (zip) archive: ${(e as Error).message}; it may be truncated or corrupt`, { cause: e });
  }
  for (const entry of entries.values()) entry.stream.end();
  const keys = [...entries.keys()].sort();
  const described = `keys found: ${[...keys, ...ignored.map((n) => n.replace(/\.npy$/, ''))].join(', ') || 'none'}`;
  const xKeys = keys.filter((k) => k.startsWith('x'));
  if (xKeys.length === 0) throw new DatasetError(file, `holds no samples array: expected keys x and y, or x_train, y_train, x_test, y_test (${described})`);
  if (xKeys.includes('x') && xKeys.length > 1) throw new DatasetError(file, `holds both x and ${xKeys.filter((k) => k !== 'x').join(', ')}; keep one layout (x/y, or x_train/y_train/x_test/y_test)`);
  const parts: ArrayPart[] = [];
  for (const k of keys) {
    if (!k.startsWith('y') || entries.has(`x${k.slice(1)}`)) continue;
    throw new DatasetError(file, `holds labels ${k} but no samples x${k.slice(1)} (${described})`);
  }
  for (const xKey of xKeys.sort((a, b) => (partOfKey(a) === 'train' ? -1 : 1) - (partOfKey(b) === 'train' ? -1 : 1))) {
    const yKey = `y${xKey.slice(1)}`;
    const y = entries.get(yKey);
    if (!y) throw new DatasetError(file, `holds samples ${xKey} but no labels ${yKey} (${described})`);
    parts.push({ name: partOfKey(xKey), x: entries.get(xKey)!.consumer as SamplesConsumer, y: y.consumer as LabelsConsumer });
  }
  const assembled = assembleArrays(parts, file, given);
  if (ignored.length) assembled.notes.push(`ignored entries that are not x/y arrays: ${ignored.join(', ')}`);
  return { assembled, sha256: hash?.digest('hex') ?? '' };
}

export const npzReader: DatasetReader = arraysReader('npz', read);
