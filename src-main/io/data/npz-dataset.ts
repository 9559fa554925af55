/**
 * Datasets as one NumPy .npz archive (np.savez / np.savez_compressed): keys
 * x + y (one part, serving as train and test), or x_train + y_train and
 * x_test + y_test (the layout of Keras's mnist.npz). Other keys are ignored
 * with a note. Describing streams the archive through fflate's Unzip in 4 MiB
 * chunks (stored and deflated entries, ZIP64 as numpy writes it), so a file of
 * several GB is never held whole, and keeps only the labels. Loading reads the
 * central directory (zip-index.ts) and keeps the labels; samples are read by
 * offset per batch: a stored member (np.savez) in place, a deflated one
 * (np.savez_compressed) from its copy decompressed once to the data cache
 * (data-cache.ts), or, when small, decompressed in memory. The hash covers the archive's bytes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { arraysReader, assembleArrays, LabelsConsumer, partOfKey, readNpyHeaderAt, SamplesConsumer, type ArrayPart, type Mode } from './arrays.js';
import { cachedCopy } from './data-cache.js';
import { DatasetError } from './errors.js';
import { fileSize, forEachChunk, readRange } from './file-chunks.js';
import { NpyStream } from './npy.js';
import { SMALL_COMPRESSED_BYTES } from './sources.js';
import { forEachMemberChunk, zipMembers } from './zip-index.js';
import type { DatasetReader } from './types.js';

const ARRAY_KEY = /^([xy])(_(train|test))?$/;

interface Entry {
  key: string;
  consumer: SamplesConsumer | LabelsConsumer;
  values?: { bytes: string | Uint8Array; offset: number };
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

/** The x/y key of a member (x, y_train …), or null for members that are not such arrays. */
function arrayKey(name: string): { key: string; role: 'x' | 'y' } | null {
  const key = path.posix.basename(name).replace(/\.npy$/, '');
  const m = ARRAY_KEY.exec(key);
  if (!m || !name.endsWith('.npy')) return null;
  return { key, role: m[1] as 'x' | 'y' };
}

/** Describing: streams the whole archive through fflate's Unzip, hashing it and checking every value. */
function streamArchive(file: string, hash: ReturnType<typeof createHash>): { entries: Map<string, Entry>; ignored: string[] } {
  const entries = new Map<string, Entry>();
  const streams: NpyStream[] = [];
  const ignored: string[] = [];
  const unzip = new Unzip((f: UnzipFile) => {
    const k = arrayKey(f.name);
    if (!k) {
      ignored.push(f.name);
      return;
    }
    const where = `${file}:${f.name}`;
    const consumer = k.role === 'x' ? new SamplesConsumer(where) : new LabelsConsumer(where);
    const stream = new NpyStream(where, consumer);
    streams.push(stream);
    entries.set(k.key, { key: k.key, consumer });
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
      hash.update(chunk);
      unzip.push(chunk);
    });
    unzip.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(file, `is not a readable .npz (zip) archive: ${(e as Error).message}; it may be truncated or corrupt`, { cause: e });
  }
  for (const stream of streams) stream.end();
  return { entries, ignored };
}

/**
 * Loading: from the central directory. Labels are decompressed and kept; of a
 * samples array only the header is read: a stored member's values are read in
 * place, a deflated member is decompressed once to the data cache (data-cache.ts)
 * and read from there (in memory when small, SMALL_COMPRESSED_BYTES).
 */
function indexArchive(file: string): { entries: Map<string, Entry>; ignored: string[] } {
  const entries = new Map<string, Entry>();
  const ignored: string[] = [];
  for (const m of zipMembers(file)) {
    const k = arrayKey(m.name);
    if (!k) {
      if (!m.name.endsWith('/')) ignored.push(m.name);
      continue;
    }
    const where = `${file}:${m.name}`;
    if (k.role === 'y') {
      const consumer = new LabelsConsumer(where);
      const stream = new NpyStream(where, consumer);
      forEachMemberChunk(file, m, (chunk) => stream.push(chunk));
      stream.end();
      entries.set(k.key, { key: k.key, consumer });
      continue;
    }
    const consumer = new SamplesConsumer(where);
    let values: { bytes: string | Uint8Array; offset: number };
    if (m.method === 0) {
      values = { bytes: file, offset: m.dataOffset };
    } else if (m.size <= SMALL_COMPRESSED_BYTES) {
      const bytes = new Uint8Array(m.size);
      let at = 0;
      forEachMemberChunk(file, m, (chunk) => {
        bytes.set(chunk.subarray(0, Math.max(0, m.size - at)), at);
        at += chunk.length;
      });
      values = { bytes, offset: 0 };
    } else {
      const copy = cachedCopy(file, m.name, (n) => n === m.size, (write) => forEachMemberChunk(file, m, write));
      values = { bytes: copy, offset: 0 };
    }
    consumer.header(readNpyHeaderAt(values.bytes, values.offset, m.size, where));
    entries.set(k.key, { key: k.key, consumer, values });
  }
  return { entries, ignored };
}

function read(file: string, given: Record<string, unknown> | undefined, mode: Mode) {
  const size = fileSize(file);
  const magic = readRange(file, 0, 4);
  if (size < 22 || magic[0] !== 0x50 || magic[1] !== 0x4b || magic[2] !== 0x03 || magic[3] !== 0x04) {
    throw new DatasetError(file, `is not an .npz archive: a zip file starts with 50 4b 03 04, this one with ${Array.from(magic, (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'}`);
  }
  checkEnd(file, size);
  const hash = mode === 'describe' ? createHash('sha256') : null;
  const { entries, ignored } = hash ? streamArchive(file, hash) : indexArchive(file);
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
    const x = entries.get(xKey)!;
    parts.push({ name: partOfKey(xKey), x: x.consumer as SamplesConsumer, y: y.consumer as LabelsConsumer, ...(x.values ? { values: x.values } : {}) });
  }
  const assembled = assembleArrays(parts, file, given);
  if (ignored.length) assembled.notes.push(`ignored entries that are not x/y arrays: ${ignored.join(', ')}`);
  return { assembled, sha256: hash?.digest('hex') ?? '' };
}

export const npzReader: DatasetReader = arraysReader('npz', read);
