/**
 * Parts read per batch (residentMaxBytes 0 forces it on small files): for
 * every format the samples at any indices (out of order, repeated, across
 * files) equal values computed from the file bytes by hand, and equal the
 * part held whole; bad data is found by the read that meets it, naming the
 * file and the sample; the data cache for compressed files (its folder, its
 * reuse, its errors); and parallel-calibration's workers opening a part from
 * its description.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import { arrayPart, clearDatasetCache, DATA_CACHE_ENV, gatherSamples, loadDataset, makeBatches, openPart, readAll, type LoadedPart } from '../../../../src-main/io/data/dataset.js';
import { encodeIdx } from '../../../../src-main/io/data/idx.js';
import { SMALL_COMPRESSED_BYTES } from '../../../../src-main/io/data/sources.js';
import { makeRawBatches } from '../../../../src-main/io/data/split.js';
import { tempDir } from '../../../helpers/temp.js';
import { close, throwsDatasetError } from './helpers.js';
import { npyFile as npyBytes } from '../../../helpers/npy.js';

const LAZY = { residentMaxBytes: 0 };
const ORDER = Int32Array.from([4, 0, 0, 7, 3, 4, 5, 6, 1, 2]);

// The data cache of this file's compressed datasets goes to a folder of its own.
const cacheDir = tempDir('studio-data-cache-');
const savedCache = process.env[DATA_CACHE_ENV];
process.env[DATA_CACHE_ENV] = cacheDir;
after(() => {
  if (savedCache === undefined) delete process.env[DATA_CACHE_ENV];
  else process.env[DATA_CACHE_ENV] = savedCache;
});

/** The samples `part` gives for `idx`, checked against the same part held whole and against `expected(i)` (raw sample i after preprocessing). */
function checkReads(lazy: LoadedPart, whole: LoadedPart, expected: (i: number) => number[], what: string): void {
  assert.equal(lazy.resident, false, `${what}: read per batch`);
  assert.equal(whole.resident, true, `${what}: held whole`);
  const idx = ORDER.filter((i) => i < lazy.count);
  const got = lazy.read(idx);
  const per = lazy.sampleSize;
  idx.forEach((i, k) => close(got.subarray(k * per, (k + 1) * per), expected(i), 1e-6, `${what} sample ${i}`));
  assert.deepEqual(got, whole.read(idx), `${what}: the same values as the part held whole`);
  assert.deepEqual(readAll(lazy), readAll(whole));
}

const pixel = (i: number, j: number) => (i * 37 + j * 11) % 256;

test('IDX, plain and gzipped: images read by offset equal the file bytes / 255', () => {
  const n = 8;
  const dims = [n, 3, 5];
  const per = 15;
  const data = Uint8Array.from({ length: n * per }, (_, k) => pixel(Math.floor(k / per), k % per));
  for (const gz of [false, true]) {
    const dir = tempDir();
    const enc = (b: Uint8Array) => (gz ? gzipSync(b) : b);
    writeFileSync(path.join(dir, `train-images-idx3-ubyte${gz ? '.gz' : ''}`), enc(encodeIdx({ dims, type: 'uint8', data })));
    writeFileSync(path.join(dir, `train-labels-idx1-ubyte${gz ? '.gz' : ''}`), enc(encodeIdx({ dims: [n], type: 'uint8', data: Uint8Array.from({ length: n }, (_, i) => i % 3) })));
    const ref = { path: dir, format: 'idx', preprocessing: {} };
    const lazy = loadDataset(ref, LAZY).parts.train;
    checkReads(lazy, loadDataset(ref).parts.train, (i) => Array.from({ length: per }, (_, j) => pixel(i, j) / 255), gz ? 'idx.gz' : 'idx');
    assert.deepEqual(Array.from(lazy.labels), [0, 1, 2, 0, 1, 2, 0, 1]);
  }
});

test('IDX float32 images: NaN is found by the batch that reads it, naming the file and the image', () => {
  const dir = tempDir();
  const data = Float32Array.from({ length: 6 * 4 }, (_, k) => k / 10);
  data[4 * 4 + 2] = NaN;
  const images = path.join(dir, 'train-images-idx3-ubyte');
  writeFileSync(images, encodeIdx({ dims: [6, 2, 2], type: 'float32', data }));
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx({ dims: [6], type: 'uint8', data: new Uint8Array(6) }));
  const part = loadDataset({ path: dir, format: 'idx', preprocessing: {} }, LAZY).parts.train;
  close(part.read(Int32Array.from([1, 3])), [0.4, 0.5, 0.6, 0.7, 1.2, 1.3, 1.4, 1.5], 1e-6, 'float images, big-endian');
  const batches = makeRawBatches(part, Int32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 2, 1]);
  batches.next();
  batches.next();
  throwsDatasetError(() => batches.next(), images, /image 4 holds NaN \(value 2 of the sample\)/);
});

test('CIFAR-10: records of several batch files, read across the file boundary, as HWC', () => {
  const dir = tempDir();
  const raw = (r: number, c: number, q: number) => (r * 31 + c * 80 + q * 7) % 256;
  const records = (count: number, first: number) => {
    const out = new Uint8Array(count * 3073);
    for (let i = 0; i < count; i++) {
      out[i * 3073] = (first + i) % 10;
      for (let c = 0; c < 3; c++) for (let q = 0; q < 1024; q++) out[i * 3073 + 1 + c * 1024 + q] = raw(first + i, c, q);
    }
    return out;
  };
  writeFileSync(path.join(dir, 'data_batch_1.bin'), records(3, 0));
  writeFileSync(path.join(dir, 'data_batch_2.bin'), records(5, 3));
  const ref = { path: dir, format: 'cifar10', preprocessing: { scale: 1 } };
  const lazy = loadDataset(ref, LAZY).parts.train;
  checkReads(lazy, loadDataset(ref).parts.train, (i) => Array.from({ length: 3072 }, (_, k) => raw(i, k % 3, Math.floor(k / 3))), 'cifar');
  // Sample 7 is the last record of data_batch_2.bin: cut it short after loading and the read that needs it says so.
  const second = path.join(dir, 'data_batch_2.bin');
  truncateSync(second, 5 * 3073 - 100);
  assert.equal(lazy.read(Int32Array.from([6, 2, 3])).length, 3 * 3072, 'records before the cut still read');
  throwsDatasetError(() => lazy.read(Int32Array.from([5, 6, 7])), second, /is truncated: image 7 \(record 4 of this file\) needs bytes 12293\.\.15365 but the data ends at byte 15265/);
});


test('NPY (uint8) and NPZ (stored and deflated members): samples read by offset', () => {
  const n = 9;
  const per = 2 * 2 * 3;
  const x = npyBytes('|u1', [n, 2, 2, 3], Uint8Array.from({ length: n * per }, (_, k) => pixel(Math.floor(k / per), k % per)));
  const y = npyBytes('<i8', [n], new Uint8Array(BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 2)).buffer));
  const expected = (i: number) => Array.from({ length: per }, (_, j) => (pixel(i, j) / 255 - 0.5) / 0.25);
  const pre = { mean: 0.5, std: 0.25 };
  const dir = tempDir();
  writeFileSync(path.join(dir, 'x.npy'), x);
  writeFileSync(path.join(dir, 'y.npy'), y);
  const npy = { path: dir, format: 'npy', preprocessing: pre };
  checkReads(loadDataset(npy, LAZY).parts.train, loadDataset(npy).parts.train, expected, 'npy');
  for (const level of [0, 6] as const) {
    const file = path.join(dir, `data-${level}.npz`);
    writeFileSync(file, zipSync({ 'extra.txt': new TextEncoder().encode('ignored'), 'x.npy': x, 'y.npy': y }, { level }));
    const npz = { path: file, format: 'npz', preprocessing: pre };
    const lazy = loadDataset(npz, LAZY);
    checkReads(lazy.parts.train, loadDataset(npz).parts.train, expected, `npz level ${level}`);
    assert.deepEqual(Array.from(lazy.parts.train.labels), [0, 1, 0, 1, 0, 1, 0, 1, 0]);
    assert.ok(lazy.notes.some((t) => /ignored entries that are not x\/y arrays: extra.txt/.test(t)), lazy.notes.join('; '));
  }
});

test('NPY float32: NaN is found by the read that meets it, naming the file and the sample', () => {
  const dir = tempDir();
  const values = Float32Array.from({ length: 5 * 3 }, (_, k) => k);
  values[3 * 3 + 1] = NaN;
  const file = path.join(dir, 'x.npy');
  writeFileSync(file, npyBytes('<f4', [5, 3], new Uint8Array(values.buffer)));
  writeFileSync(path.join(dir, 'y.npy'), npyBytes('<i8', [5], new Uint8Array(40)));
  const part = loadDataset({ path: dir, format: 'npy', preprocessing: {} }, LAZY).parts.train;
  assert.deepEqual(Array.from(part.read(Int32Array.from([4, 0]))), [12, 13, 14, 0, 1, 2]);
  throwsDatasetError(() => gatherSamples(part, Int32Array.from([2, 3])), file, /sample 3 holds NaN \(value 1 of the sample\)/);
});

function writePng(file: string, w: number, h: number, value: (y: number, x: number, c: number) => number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) png.data[(y * w + x) * 4 + c] = c === 3 ? 255 : value(y, x, c);
  writeFileSync(file, PNG.sync.write(png, { colorType: 2 }));
}

test('image folders: the images of a batch are decoded and resized; one that will not decode fails its batch, naming it', () => {
  const dir = tempDir();
  const files: string[] = [];
  for (let i = 0; i < 6; i++) {
    const file = path.join(dir, i % 2 ? 'dog' : 'cat', `${i}.png`);
    writePng(file, 4, 4, (y, x, c) => (i * 40 + y * 8 + x * 2 + c) % 256);
    files.push(file);
  }
  const ref = { path: dir, format: 'image-folder', preprocessing: { size: [2, 2], scale: 1 } };
  const lazy = loadDataset(ref, LAZY).parts.train;
  // Files are listed class by class (cat: 0 2 4, dog: 1 3 5); a 2x shrink is the mean of each 2x2 block.
  const order = [0, 2, 4, 1, 3, 5];
  const expected = (i: number) => {
    const k = order[i]!;
    const out: number[] = [];
    for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) for (let c = 0; c < 3; c++) out.push((k * 40 + (2 * y + 0.5) * 8 + (2 * x + 0.5) * 2 + c) % 256);
    return out;
  };
  checkReads(lazy, loadDataset(ref).parts.train, expected, 'image folder');
  writeFileSync(files[3]!, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
  assert.equal(lazy.read(Int32Array.from([0, 1, 2])).length, 3 * 12, 'batches without it still read');
  // dog/3.png is sample 4 (the second dog).
  throwsDatasetError(() => [...makeBatches(lazy, Int32Array.from([0, 1, 2, 3, 4, 5]), 2, [2, 2, 3])], files[3]!, new RegExp(`is not a valid PNG: .* \\(sample 4 of ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
});

test('the data cache: one decompressed copy per source, reused, replaced when the source changes; a bad folder is an error naming it', () => {
  const dir = tempDir();
  // A deflated member above SMALL_COMPRESSED_BYTES (smaller ones are decompressed in memory).
  const n = 1100;
  const per = 16384;
  const big = (base: number) => npyBytes('|u1', [n, per], Uint8Array.from({ length: n * per }, (_, k) => (base + Math.floor(k / per) + ((k % per) % 7)) & 255));
  assert.ok(n * per > SMALL_COMPRESSED_BYTES);
  const x = big(0);
  const y = npyBytes('<i8', [n], new Uint8Array(8 * n));
  const file = path.join(dir, 'data.npz');
  writeFileSync(file, zipSync({ 'x.npy': x, 'y.npy': y }, { level: 1 }));
  const copies = () => readdirSync(cacheDir).filter((f) => f.endsWith('.bin')).map((f) => path.join(cacheDir, f));
  const before = new Set(copies());
  const ref = { path: file, format: 'npz', preprocessing: { scale: 1 } };
  const sample = (ds: { parts: { train: LoadedPart } }, i: number) => Array.from(ds.parts.train.read(Int32Array.of(i)).subarray(0, 8));
  const first = loadDataset(ref, LAZY);
  assert.deepEqual(sample(first, 1000), [232, 233, 234, 235, 236, 237, 238, 232]);
  const made = copies().filter((f) => !before.has(f));
  assert.equal(made.length, 1, 'x.npy (deflated) was decompressed once to the cache');
  assert.equal(statSync(made[0]!).size, x.length);
  const mtime = statSync(made[0]!).mtimeMs;
  clearDatasetCache();
  assert.deepEqual(sample(loadDataset(ref, LAZY), 1000), sample(first, 1000));
  assert.equal(statSync(made[0]!).mtimeMs, mtime, 'the copy is reused, not written again');
  // A new version of the archive gets a new copy; the old one goes.
  writeFileSync(file, zipSync({ 'x.npy': big(100), 'y.npy': y }, { level: 1 }));
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  clearDatasetCache();
  assert.deepEqual(sample(loadDataset(ref, LAZY), 1), [101, 102, 103, 104, 105, 106, 107, 101]);
  assert.ok(!existsSync(made[0]!), 'the copy of the old version is removed');
  assert.equal(copies().filter((f) => !before.has(f)).length, 1);
  // A copy cut short (a full disk, say) is rebuilt.
  const current = copies().filter((f) => !before.has(f))[0]!;
  truncateSync(current, 10);
  clearDatasetCache();
  assert.deepEqual(sample(loadDataset(ref, LAZY), 2), [102, 103, 104, 105, 106, 107, 108, 102]);
  assert.equal(statSync(current).size, x.length);

  clearDatasetCache();
  const saved = process.env[DATA_CACHE_ENV];
  try {
    process.env[DATA_CACHE_ENV] = '';
    throwsDatasetError(() => loadDataset(ref, LAZY), `$${DATA_CACHE_ENV}`, /is set but empty/);
    const notAFolder = path.join(dir, 'plain-file');
    writeFileSync(notAFolder, 'x');
    const bad = path.join(notAFolder, 'cache');
    process.env[DATA_CACHE_ENV] = bad;
    throwsDatasetError(() => loadDataset(ref, LAZY), bad, /cannot be used as the dataset cache folder/);
  } finally {
    process.env[DATA_CACHE_ENV] = saved;
  }
});

test('a part opens again from its description (what calibration workers get), and arrays built by hand read like parts', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('|u1', [5, 2], Uint8Array.from({ length: 10 }, (_, k) => 20 * k)));
  writeFileSync(path.join(dir, 'y.npy'), npyBytes('<i8', [5], new Uint8Array(40)));
  const part = loadDataset({ path: dir, format: 'npy', preprocessing: { scale: 1 } }, LAZY).parts.train;
  assert.deepEqual(part.spec, { ref: { path: dir, format: 'npy', preprocessing: { scale: 1 } }, part: 'train', residentMaxBytes: 0, count: 5 });
  const cloned = structuredClone(part.spec!);
  clearDatasetCache();
  const again = openPart(cloned);
  assert.deepEqual(Array.from(again.read(Int32Array.from([4, 1]))), [160, 180, 40, 60]);
  // A part that lost samples since is refused, naming it.
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('|u1', [4, 2], new Uint8Array(8)));
  writeFileSync(path.join(dir, 'y.npy'), npyBytes('<i8', [4], new Uint8Array(32)));
  utimesSync(dir, new Date(), new Date(Date.now() + 5000));
  clearDatasetCache();
  throwsDatasetError(() => openPart(cloned), path.join(dir, 'x.npy'), /holds 4 samples now but 5 when the run started/);

  const hand = arrayPart(Float32Array.from([1, 2, 3, 4, 5, 6]), Int32Array.from([0, 1, 0]), 2, { imagesFile: 'hand' });
  assert.deepEqual(Array.from(hand.read(Int32Array.from([2, 0]))), [5, 6, 1, 2]);
  throwsDatasetError(() => hand.read(Int32Array.of(3)), 'hand', /sample index 3 is outside the 3 samples/);
});
