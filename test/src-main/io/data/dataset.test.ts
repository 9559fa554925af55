import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { checkFitsModel, clearDatasetCache, DatasetError, describeDataset, detectFormat, loadDataset, makeBatches, readAll, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { encodeIdx, type IdxArray } from '../../../../src-main/io/data/idx.js';
import { tempDir } from '../../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
const SAMPLE = path.join(root, 'assets', 'sample', 'fashion-mnist');

before(async () => {
  await tf.setBackend('cpu');
});

function tmp(): string {
  return tempDir('dataset-test-');
}

/** Writes a pair `<part>-images-idx3-ubyte[.gz]` + labels into dir. */
function writePair(dir: string, part: string, images: IdxArray, labels: IdxArray, gz = true): { images: string; labels: string } {
  mkdirSync(dir, { recursive: true });
  const enc = (a: IdxArray) => (gz ? gzipSync(encodeIdx(a)) : encodeIdx(a));
  const suffix = gz ? '.gz' : '';
  const files = { images: path.join(dir, `${part}-images-idx3-ubyte${suffix}`), labels: path.join(dir, `${part}-labels-idx1-ubyte${suffix}`) };
  writeFileSync(files.images, enc(images));
  writeFileSync(files.labels, enc(labels));
  return files;
}

const u8images = (n: number, h = 4, w = 4): IdxArray => ({ dims: [n, h, w], type: 'uint8', data: Uint8Array.from({ length: n * h * w }, (_, i) => (i * 37) % 256) });
const u8labels = (values: number[]): IdxArray => ({ dims: [values.length], type: 'uint8', data: Uint8Array.from(values) });

function throwsDatasetError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('the bundled Fashion-MNIST sample: 2,000 + 2,000 images, 200 of each class per part', () => {
  const d = describeDataset(SAMPLE);
  assert.equal(d.format, 'idx');
  assert.equal(d.count, 4000);
  assert.deepEqual(d.inputShape, [28, 28, 1]);
  assert.equal(d.numClasses, 10);
  assert.equal(d.preprocessing.scale, 1 / 255);
  assert.equal(d.preprocessing.offset, 0);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['train', 2000], ['test', 2000]]);
  assert.match(d.sha256, /^[0-9a-f]{64}$/);
  assert.equal(describeDataset(SAMPLE).sha256, d.sha256, 'the hash is deterministic');
  const ds = loadDataset({ path: SAMPLE, format: 'idx', preprocessing: {} });
  for (const part of [ds.parts.train, ds.parts.test]) {
    const perClass = new Array(10).fill(0);
    for (const y of part.labels) perClass[y]++;
    assert.deepEqual(perClass, new Array(10).fill(200));
    const all = readAll(part);
    assert.equal(all.length, 2000 * 784);
    let lo = Infinity, hi = -Infinity;
    for (const v of all) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    assert.ok(lo >= 0 && hi <= 1 && hi > 0.9, `normalised range ${lo}..${hi}`);
  }
  assert.equal(loadDataset({ path: SAMPLE, format: 'idx', preprocessing: {} }), ds, 'cached within the process');
});

test('the sample is the first 200 of each class of the Debian files, pixels unchanged', { skip: !existsDebian() && 'Debian dataset-fashion-mnist not installed' }, () => {
  const full = loadDataset({ path: '/usr/share/datasets/fashion-mnist', format: 'idx', preprocessing: { scale: 1 } });
  const sample = loadDataset({ path: SAMPLE, format: 'idx', preprocessing: { scale: 1 } });
  const seen = new Array(10).fill(0);
  const picked: number[] = [];
  for (let i = 0; picked.length < 2000; i++) {
    const y = full.parts.test.labels[i]!;
    if (seen[y]++ < 200) picked.push(i);
  }
  for (const k of [0, 1, 999, 1999]) {
    const src = picked[k]!;
    assert.equal(sample.parts.test.labels[k], full.parts.test.labels[src]);
    assert.deepEqual(sample.parts.test.read(Int32Array.of(k)), full.parts.test.read(Int32Array.of(src)));
  }
});

function existsDebian(): boolean {
  try {
    readFileSync('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz');
    return true;
  } catch {
    return false;
  }
}

test('the hash covers content, not compression: gzipped and plain copies hash alike', () => {
  const dir = tmp();
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
    writeFileSync(path.join(dir, f), gunzipSync(readFileSync(path.join(SAMPLE, `${f}.gz`))));
  }
  assert.equal(describeDataset(dir).sha256, describeDataset(SAMPLE).sha256);
  // Changing one label changes the hash.
  const labels = path.join(dir, 't10k-labels-idx1-ubyte');
  const bytes = readFileSync(labels);
  bytes[8] = (bytes[8]! + 1) % 10;
  writeFileSync(labels, bytes);
  assert.notEqual(describeDataset(dir).sha256, describeDataset(SAMPLE).sha256);
});

test('a single pair given by its images file serves as train and test, with a note', () => {
  const dir = tmp();
  const files = writePair(dir, 'test', u8images(6), u8labels([0, 1, 2, 0, 1, 2]), false);
  const d = describeDataset(files.images);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['test', 6]]);
  assert.equal(d.numClasses, 3);
  assert.deepEqual(d.inputShape, [4, 4, 1]);
  assert.match(d.notes[0]!, /both train and test/);
  const ds = loadDataset({ path: files.images, format: 'idx', preprocessing: {} });
  assert.equal(ds.parts.train, ds.parts.test);
});

test('also test-* part names, rank-4 images and preprocessing scale/offset', () => {
  const dir = tmp();
  const images: IdxArray = { dims: [2, 2, 2, 3], type: 'uint8', data: Uint8Array.from({ length: 24 }, (_, i) => i * 10) };
  writePair(dir, 'test', images, u8labels([1, 0]));
  writePair(dir, 'train', images, u8labels([0, 1]));
  const ds = loadDataset({ path: dir, format: 'idx', preprocessing: { scale: 0.01, offset: -1, note: 'kept' } });
  assert.deepEqual(ds.inputShape, [2, 2, 3]);
  assert.equal(ds.preprocessing['note'], 'kept');
  assert.ok(Math.abs(readAll(ds.parts.test)[5]! - (50 * 0.01 - 1)) < 1e-6);
  assert.deepEqual(Array.from(ds.parts.test.labels), [1, 0]);
});

test('errors name the file: missing files, count mismatch, labels out of range', () => {
  const missing = path.join(tmp(), 'nope');
  throwsDatasetError(() => describeDataset(missing), missing, /not found/);

  const empty = tmp();
  throwsDatasetError(() => describeDataset(empty), empty, /holds no dataset: no IDX dataset/);

  const noLabels = tmp();
  const f = writePair(noLabels, 'train', u8images(3), u8labels([0, 1, 2]));
  rmSync(f.labels);
  throwsDatasetError(() => describeDataset(noLabels), path.join(noLabels, 'train-labels-idx1-ubyte[.gz]'), /labels file missing/);
  throwsDatasetError(() => describeDataset(f.images), path.join(noLabels, 'train-labels-idx1-ubyte.gz'), /labels file missing/);

  const mismatch = tmp();
  const m = writePair(mismatch, 'train', u8images(3), u8labels([0, 1]));
  throwsDatasetError(() => describeDataset(mismatch), m.labels, /holds 2 labels but train-images-idx3-ubyte.gz holds 3 images/);

  const range = tmp();
  const r = writePair(range, 'train', u8images(3), u8labels([0, 1, 7]));
  throwsDatasetError(() => describeDataset(range, { numClasses: 5 }), r.labels, /label 2 is 7, outside the 5 classes/);
  assert.equal(describeDataset(range).numClasses, 8);

  const big = tmp();
  const b = writePair(big, 'train', u8images(2), { dims: [2], type: 'int16', data: Int16Array.from([3, 300]) });
  throwsDatasetError(() => describeDataset(big), b.labels, /label 1 is 300; class labels must be between 0 and 255/);

  const negative = tmp();
  const n = writePair(negative, 'train', u8images(2), { dims: [2], type: 'int8', data: Int8Array.from([0, -1]) });
  throwsDatasetError(() => describeDataset(negative), n.labels, /label 1 is -1/);

  throwsDatasetError(() => describeDataset(range, { scale: 'x' }), range, /preprocessing.scale must be a finite number/);
  throwsDatasetError(() => describeDataset(range, { numClasses: 1.5 }), range, /numClasses must be an integer/);
});

test('errors name the file: NaN / Inf in float images, corrupt gzip, bad IDX header, label shapes', () => {
  const nan = tmp();
  const data = new Float32Array(3 * 16).fill(0.5);
  data[16 + 5] = NaN;
  const f = writePair(nan, 'train', { dims: [3, 4, 4], type: 'float32', data }, u8labels([0, 1, 0]));
  throwsDatasetError(() => describeDataset(nan), f.images, /image 1 holds NaN \(value 5 of the sample\)/);
  data[16 + 5] = Infinity;
  writePair(nan, 'train', { dims: [3, 4, 4], type: 'float32', data }, u8labels([0, 1, 0]));
  throwsDatasetError(() => describeDataset(nan), f.images, /image 1 holds Infinity/);
  data[16 + 5] = 0.25;
  writePair(nan, 'train', { dims: [3, 4, 4], type: 'float32', data }, u8labels([0, 1, 0]));
  assert.equal(describeDataset(nan).preprocessing.scale, 1, 'float data is not rescaled by default');

  const corrupt = tmp();
  const c = writePair(corrupt, 'train', u8images(3), u8labels([0, 1, 2]));
  const gz = readFileSync(c.images);
  writeFileSync(c.images, gz.subarray(0, gz.length - 20));
  throwsDatasetError(() => describeDataset(corrupt), c.images, /gzip-compressed but does not decompress/);

  const header = tmp();
  const h = writePair(header, 'train', u8images(3), u8labels([0, 1, 2]), false);
  writeFileSync(h.images, Buffer.from('PK\x03\x04 this is a zip'));
  throwsDatasetError(() => describeDataset(header), h.images, /not an IDX file: magic bytes are 50 4b 03 04/);
  writeFileSync(h.images, encodeIdx(u8images(3)).subarray(0, 40));
  throwsDatasetError(() => describeDataset(header), h.images, /is truncated/);

  const labels2d = tmp();
  const l = writePair(labels2d, 'train', u8images(2), { dims: [2, 1], type: 'uint8', data: Uint8Array.from([0, 1]) });
  throwsDatasetError(() => describeDataset(labels2d), l.labels, /labels must be one-dimensional/);

  const shapes = tmp();
  writePair(shapes, 'train', u8images(2, 4, 4), u8labels([0, 1]));
  const s = writePair(shapes, 't10k', u8images(2, 5, 5), u8labels([0, 1]));
  throwsDatasetError(() => describeDataset(shapes), s.images, /images are 5x5x1 but train-images-idx3-ubyte.gz has 4x4x1/);

  throwsDatasetError(() => loadDataset({ path: shapes, format: 'csv', preprocessing: {} }), shapes, /format csv is not supported \(supported: idx, cifar10, image-folder, npy, npz\)/);
});

test('checkFitsModel: same shape, flattened [784], unit axes, and mismatches with both shapes', () => {
  const ds = { path: '/data/fm', inputShape: [28, 28, 1], numClasses: 10 };
  assert.equal(checkFitsModel(ds, [28, 28, 1], 10).reshape, false);
  assert.deepEqual(checkFitsModel(ds, [784], 10), { reshape: true, from: [28, 28, 1], to: [784] });
  assert.equal(checkFitsModel(ds, [1, 28, 28], 10).reshape, true);
  assert.equal(checkFitsModel(ds, [28, 28, 1], 12).reshape, false, 'a model with more outputs than classes is fine');
  throwsDatasetError(() => checkFitsModel(ds, [32, 32, 3], 10), '/data/fm', /images are \[28,28,1\] \(784 values\) but the model expects inputs of shape \[32,32,3\] \(3072 values\)/);
  throwsDatasetError(() => checkFitsModel(ds, [28, 28, 1], 5), '/data/fm', /10 classes but the model outputs 5 scores/);
  const rgb = { path: '/data/rgb', inputShape: [8, 8, 3], numClasses: 10 };
  throwsDatasetError(() => checkFitsModel(rgb, [3, 8, 8], 10), '/data/rgb', /sizes match but reshaping would scramble the layout/);
  assert.equal(checkFitsModel(rgb, [192], 10).reshape, true);
});

test('sampleSplit: seeded, distinct, clipped to what is there (and says so)', () => {
  const a = sampleSplit(100, 1000, 7);
  const b = sampleSplit(100, 1000, 7);
  assert.deepEqual(a, b);
  assert.equal(new Set(a).size, 100);
  assert.ok(Array.from(a).every((i) => i >= 0 && i < 1000));
  assert.equal(a.clipped, false);
  assert.notDeepEqual(Array.from(sampleSplit(100, 1000, 8)), Array.from(a));
  // A longer split with the same seed starts with the same samples.
  assert.deepEqual(Array.from(sampleSplit(150, 1000, 7).subarray(0, 100)), Array.from(a));
  const all = sampleSplit(50, 20, 1);
  assert.equal(all.length, 20);
  assert.equal(all.clipped, true);
  assert.equal(all.requested, 50);
  assert.deepEqual([...all].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  throwsDatasetError(() => sampleSplit(10, 0, 1, 'train.gz'), 'train.gz', /part is empty/);
  assert.throws(() => sampleSplit(0, 10, 1), DatasetError);
});

test('makeBatches: shapes, labels, a short last batch, reshaping for flat models', () => {
  clearDatasetCache();
  const ds = loadDataset({ path: SAMPLE, format: 'idx', preprocessing: {} });
  const idx = Int32Array.from([5, 17, 3, 1999, 0]);
  const batches = [...makeBatches(ds.parts.test, idx, 2, [28, 28, 1])];
  assert.deepEqual(batches.map((b) => b.size), [2, 2, 1]);
  assert.deepEqual(batches[0]!.x.shape, [2, 28, 28, 1]);
  assert.equal(batches[0]!.y.dtype, 'int32');
  assert.deepEqual(Array.from(batches[1]!.y.dataSync()), [ds.parts.test.labels[3], ds.parts.test.labels[1999]]);
  assert.deepEqual(Array.from(batches[0]!.x.dataSync().subarray(784, 1568)), Array.from(readAll(ds.parts.test).subarray(17 * 784, 18 * 784)));
  for (const b of batches) tf.dispose([b.x, b.y]);
  const flat = makeBatches(ds.parts.test, idx, 8, [784]).next().value!;
  assert.deepEqual(flat.x.shape, [5, 784]);
  tf.dispose([flat.x, flat.y]);
  assert.throws(() => makeBatches(ds.parts.test, new Int32Array(0), 8, [784]).next(), (e: unknown) => e instanceof DatasetError && /split is empty/.test(e.message) && e.file === ds.parts.test.imagesFile);
  assert.throws(() => makeBatches(ds.parts.test, idx, 8, [32, 32, 3]).next(), /samples hold 784 values but the model input \[32,32,3\] needs 3072/);
  assert.throws(() => makeBatches(ds.parts.test, Int32Array.from([2000]), 8, [784]).next(), /sample index 2000 is outside the 2000 samples/);
});

test('copies of the sample under another name load the same data', () => {
  const dir = tmp();
  for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) copyFileSync(path.join(SAMPLE, f), path.join(dir, f));
  const d = describeDataset(dir);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['test', 2000]]);
});

test('detectFormat: by file name for files, by entries for folders; what cannot be told apart is an error', () => {
  assert.equal(detectFormat(SAMPLE), 'idx');
  assert.equal(detectFormat(path.join(SAMPLE, 't10k-images-idx3-ubyte.gz')), 'idx');
  const dir = tmp();
  const file = (name: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, '');
    return p;
  };
  assert.equal(detectFormat(file('data.npz')), 'npz');
  assert.equal(detectFormat(file('x_train.npy')), 'npy');
  assert.equal(detectFormat(file('test_batch.bin')), 'cifar10');
  const csv = file('data.csv');
  throwsDatasetError(() => detectFormat(csv), csv, /is not a dataset file the studio can tell apart by its name/);
  assert.equal(detectFormat(dir), 'cifar10', 'a folder with test_batch.bin');
  const npz = tmp();
  writeFileSync(path.join(npz, 'mnist.npz'), '');
  throwsDatasetError(() => detectFormat(npz), npz, new RegExp(`holds no dataset: .*for an .npz archive give the file itself, e.g. ${path.join(npz, 'mnist.npz').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const images = tmp();
  mkdirSync(path.join(images, 'cats'));
  mkdirSync(path.join(images, '.git'));
  assert.equal(detectFormat(images), 'image-folder');
  const hidden = tmp();
  mkdirSync(path.join(hidden, '.cache'));
  throwsDatasetError(() => detectFormat(hidden), hidden, /holds no dataset/);
});

test('IDX takes mean/std and channel order too (on top of scale/offset)', () => {
  const dir = tmp();
  const images: IdxArray = { dims: [1, 1, 2, 3], type: 'uint8', data: Uint8Array.from([0, 51, 102, 153, 204, 255]) };
  writePair(dir, 'train', images, u8labels([1]));
  const ds = loadDataset({ path: dir, format: 'idx', preprocessing: { mean: [0.1, 0.2, 0.3], std: [0.5, 0.5, 2], channelOrder: 'bgr', numClasses: 2 } });
  // Pixel 0 is (0, 51, 102) → BGR (102, 51, 0)/255 = (0.4, 0.2, 0) → ((0.4−0.1)/0.5, (0.2−0.2)/0.5, (0−0.3)/2).
  const expected = [0.6, 0, -0.15, (1 - 0.1) / 0.5, (0.8 - 0.2) / 0.5, (0.6 - 0.3) / 2];
  Array.from(readAll(ds.parts.train)).forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `value ${i}: ${v} vs ${expected[i]}`));
  throwsDatasetError(() => describeDataset(SAMPLE, { channelOrder: 'bgr' }), SAMPLE, /channelOrder "bgr" needs 3-channel samples; these have 1 channel/);
});
