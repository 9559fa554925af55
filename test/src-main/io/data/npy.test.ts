import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { clearDatasetCache, describeDataset, detectFormat, loadDataset, readAll } from '../../../../src-main/io/data/dataset.js';
import { NpyStream, parseNpyHeader, type NpyHeader } from '../../../../src-main/io/data/npy.js';
import { tempDir } from '../../../helpers/temp.js';
import { close, hasNumpy, numpy, throwsDatasetError } from './helpers.js';

/**
 * An .npy file written by hand from the format description (numpy.lib.format,
 * version 1.0): magic, version, uint16 LE header length, dict padded with
 * spaces and a newline so the values start at a multiple of 64.
 */
function npyBytes(descr: string, shape: number[], values: Uint8Array, fortran = false): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + values.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), 10);
  out.set(values, total);
  return out;
}
const u1 = (shape: number[], values: number[]) => npyBytes('|u1', shape, Uint8Array.from(values));
const i8 = (values: number[]) => npyBytes('<i8', [values.length], new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer));

test('the hand-written .npy matches what numpy writes, byte for byte', { skip: !hasNumpy && 'numpy not installed' }, () => {
  const dir = tempDir();
  numpy(dir, `np.save(out + '/a.npy', np.arange(12, dtype=np.uint8).reshape(3, 4))\nnp.save(out + '/b.npy', np.array([3, 1, 4], dtype=np.int64))`);
  assert.deepEqual(readFileSync(path.join(dir, 'a.npy')), Buffer.from(u1([3, 4], Array.from({ length: 12 }, (_, i) => i))));
  assert.deepEqual(readFileSync(path.join(dir, 'b.npy')), Buffer.from(i8([3, 1, 4])));
});

test('NpyStream: the header and values come out the same whatever the chunk sizes', () => {
  const values = Float32Array.from({ length: 30 }, (_, i) => i * 0.5 - 3);
  const bytes = npyBytes('<f4', [5, 6], new Uint8Array(values.buffer));
  for (const step of [1, 3, 7, 64, 1000]) {
    const got = new Float32Array(30);
    let header: NpyHeader | null = null;
    const s = new NpyStream('a.npy', {
      header: (h) => (header = h),
      values: (b, at) => got.set(new Float32Array(b.slice().buffer), at),
    });
    for (let i = 0; i < bytes.length; i += step) s.push(bytes.subarray(i, i + step));
    s.end();
    assert.deepEqual(header!.shape, [5, 6]);
    assert.equal(header!.dataOffset, 128, 'the 59-character dict needs the second 64-byte block');
    assert.deepEqual(got, values, `chunks of ${step}`);
  }
  assert.equal(parseNpyHeader(bytes.subarray(0, 40), 'a.npy'), null, 'a partial header asks for more bytes');
});

test('x.npy + y.npy written by numpy: description, and values after scale, mean and std against numpy', { skip: !hasNumpy && 'numpy not installed' }, () => {
  const dir = tempDir();
  const ref = numpy(dir, `
rng = np.random.default_rng(3)
x = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
y = np.array([0, 2, 1, 2, 0], dtype=np.int64)
np.save(out + '/x.npy', x); np.save(out + '/y.npy', y)
import os; os.mkdir(out + '/fortran')
np.save(out + '/fortran/x.npy', np.asfortranarray(x)); np.save(out + '/fortran/y.npy', y)
mean = np.array([0.5, 0.4, 0.3]); std = np.array([0.2, 0.25, 0.5])
print(json.dumps({'plain': (x / 255.0).astype(np.float32).ravel().tolist(),
                  'norm': ((x / 255.0 - mean) / std).astype(np.float32).ravel().tolist(),
                  'bgr': ((x[..., ::-1] / 255.0 - mean) / std).astype(np.float32).ravel().tolist()}))`) as Record<string, number[]>;
  const d = describeDataset(dir);
  assert.equal(d.format, 'npy');
  assert.equal(d.count, 5);
  assert.deepEqual(d.inputShape, [4, 4, 3]);
  assert.equal(d.numClasses, 3);
  assert.equal(d.preprocessing.scale, 1 / 255, 'uint8 samples are scaled to 0..1 by default');
  assert.deepEqual(d.parts, [{ name: 'train', count: 5, images: path.join(dir, 'x.npy'), labels: path.join(dir, 'y.npy') }]);
  assert.match(d.notes[0]!, /serves as both train and test/);
  assert.match(d.sha256, /^[0-9a-f]{64}$/);
  assert.equal(describeDataset(path.join(dir, 'x.npy')).sha256, d.sha256, 'the x file names the same dataset as its folder');

  const plain = loadDataset({ path: dir, format: 'npy', preprocessing: {} });
  close(readAll(plain.parts.train), ref['plain']!, 1e-7, 'x/255');
  assert.deepEqual(Array.from(plain.parts.test.labels), [0, 2, 1, 2, 0]);
  const norm = loadDataset({ path: dir, format: 'npy', preprocessing: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5] } });
  close(readAll(norm.parts.train), ref['norm']!, 1e-6, '(x/255 - mean)/std');
  const bgr = loadDataset({ path: dir, format: 'npy', preprocessing: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5], channelOrder: 'bgr' } });
  close(readAll(bgr.parts.train), ref['bgr']!, 1e-6, 'BGR then (x/255 - mean)/std');
  throwsDatasetError(() => describeDataset(dir, { mean: [0.5, 0.5] }), dir, /preprocessing.mean has 2 values but the samples have 3 channels/);
  throwsDatasetError(() => describeDataset(dir, { std: [1, 0, 1] }), dir, /preprocessing.std values must be above 0/);
  throwsDatasetError(() => describeDataset(path.join(dir, 'fortran')), path.join(dir, 'fortran', 'x.npy'), /is stored in Fortran \(column-major\) order; save it in C order/);
  throwsDatasetError(() => describeDataset(dir, { channelOrder: 'hsv' }), dir, /channelOrder must be "rgb" or "bgr"/);
});

test('npz in the Keras mnist.npz layout, compressed and stored, float and int samples', { skip: !hasNumpy && 'numpy not installed' }, () => {
  const dir = tempDir();
  const ref = numpy(dir, `
rng = np.random.default_rng(5)
xtr = rng.normal(size=(6, 3, 3)).astype(np.float32); ytr = np.array([0, 1, 2, 3, 0, 1], dtype=np.uint8)
xte = rng.normal(size=(4, 3, 3)).astype(np.float32); yte = np.array([3, 2, 1, 0], dtype=np.uint8)
np.savez_compressed(out + '/mnist.npz', x_train=xtr, y_train=ytr, x_test=xte, y_test=yte, extra=np.zeros(2))
np.savez(out + '/stored.npz', x_test=xte, y_test=yte, x_train=xtr, y_train=ytr)
np.savez(out + '/flat.npz', x=(np.arange(20) - 7).reshape(5, 4).astype(np.int16), y=np.array([[1], [0], [1], [1], [0]], dtype=np.int32))
np.savez_compressed(out + '/float-labels.npz', x=xtr, y=ytr.astype(np.float64))
print(json.dumps({'train': ((xtr * 2.0 + 1.0)).astype(np.float32).ravel().tolist(), 'test': xte.ravel().tolist()}))`) as Record<string, number[]>;
  const file = path.join(dir, 'mnist.npz');
  assert.equal(detectFormat(file), 'npz');
  const d = describeDataset(file);
  assert.equal(d.format, 'npz');
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['train', 6], ['test', 4]]);
  assert.deepEqual(d.inputShape, [3, 3, 1]);
  assert.equal(d.numClasses, 4);
  assert.equal(d.preprocessing.scale, 1, 'float samples are not rescaled by default');
  assert.ok(d.notes.some((n) => /ignored entries that are not x\/y arrays: extra.npy/.test(n)), d.notes.join('; '));
  const ds = loadDataset({ path: file, format: 'npz', preprocessing: { scale: 2, offset: 1 } });
  close(readAll(ds.parts.train), ref['train']!, 1e-6, 'x_train·2 + 1');
  close(readAll(ds.parts.test).map((v) => (v - 1) / 2), ref['test']!, 1e-6, 'x_test');
  assert.deepEqual(Array.from(ds.parts.test.labels), [3, 2, 1, 0]);
  clearDatasetCache();
  const stored = loadDataset({ path: path.join(dir, 'stored.npz'), format: 'npz', preprocessing: { scale: 2, offset: 1 } });
  assert.deepEqual(readAll(stored.parts.train), readAll(ds.parts.train), 'np.savez (stored) reads like np.savez_compressed');

  const floatLabels = path.join(dir, 'float-labels.npz');
  throwsDatasetError(() => describeDataset(floatLabels), `${floatLabels}:y.npy`, /^[^(]*: labels must be integers; this array holds float64/);

  const flat = loadDataset({ path: path.join(dir, 'flat.npz'), format: 'npz', preprocessing: {} });
  assert.deepEqual(flat.inputShape, [4]);
  assert.deepEqual(Array.from(flat.parts.train.labels), [1, 0, 1, 1, 0], 'labels of shape (N, 1) are taken as (N,)');
  assert.ok(Math.abs(readAll(flat.parts.train)[0]! - -7 / 255) < 1e-7, 'int16 samples count as integer data (scale 1/255)');
});

test('bad arrays: Fortran order, missing y, labels out of range, float labels, truncated, big-endian, not a zip', () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'x.npy'), u1([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'y.npy'), /labels file missing \(expected next to x.npy\)/);
  writeFileSync(path.join(dir, 'y.npy'), i8([0, 7]));
  throwsDatasetError(() => describeDataset(dir, { numClasses: 3 }), path.join(dir, 'y.npy'), /label 1 is 7, outside the 3 classes set in preprocessing.numClasses \(0..2\)/);
  writeFileSync(path.join(dir, 'y.npy'), i8([0, 300]));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'y.npy'), /label 1 is 300; class labels must be between 0 and 255/);
  writeFileSync(path.join(dir, 'y.npy'), i8([0, 1, 1]));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'y.npy'), /holds 3 labels but .*x.npy holds 2 samples/);
  writeFileSync(path.join(dir, 'y.npy'), npyBytes('<f4', [2], new Uint8Array(Float32Array.from([0, 1]).buffer)));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'y.npy'), /labels must be integers; this array holds float32/);
  writeFileSync(path.join(dir, 'y.npy'), i8([0, 1]));
  assert.equal(describeDataset(dir).count, 2);

  writeFileSync(path.join(dir, 'x.npy'), npyBytes('|u1', [2, 2, 2], Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), true));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /Fortran \(column-major\) order/);
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('>f4', [2, 2], new Uint8Array(16)));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /big-endian values \(dtype >f4\)/);
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('<c8', [2, 2], new Uint8Array(32)));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /has dtype <c8; supported dtypes are/);
  writeFileSync(path.join(dir, 'x.npy'), u1([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]).subarray(0, 134));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /is truncated: shape \(2, 2, 2\) of u1 needs 136 bytes \(header included\) but there are 134/);
  writeFileSync(path.join(dir, 'x.npy'), u1([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]).subarray(0, 70));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /is truncated: 70 bytes, too short for a complete .npy header/);
  writeFileSync(path.join(dir, 'x.npy'), Buffer.from('x,y\n1,2\n'));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /is not a NumPy .npy array: it starts with 78 2c 79 0a 31 2c/);
  const nan = new Float32Array(8).fill(0.5);
  nan[6] = NaN;
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('<f4', [2, 4], new Uint8Array(nan.buffer)));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /sample 1 holds NaN \(value 2 of the sample\)/);

  const npz = path.join(dir, 'data.npz');
  writeFileSync(npz, zipSync({ 'x_train.npy': u1([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), 'x_test.npy': u1([1, 2, 2], [1, 2, 3, 4]), 'y_test.npy': i8([0]) }));
  throwsDatasetError(() => describeDataset(npz), npz, /holds samples x_train but no labels y_train \(keys found: x_test, x_train, y_test\)/);
  writeFileSync(npz, zipSync({ 'y.npy': i8([0, 1]) }));
  throwsDatasetError(() => describeDataset(npz), npz, /holds no samples array: expected keys x and y/);
  const good = zipSync({ 'x.npy': u1([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), 'y.npy': i8([0, 1]) }, { level: 6 });
  writeFileSync(npz, good);
  assert.equal(describeDataset(npz).count, 2, 'an archive written by fflate itself reads');
  writeFileSync(npz, good.subarray(0, good.length - 10));
  throwsDatasetError(() => describeDataset(npz), npz, /is truncated: the zip end-of-central-directory record is missing/);
  writeFileSync(npz, Buffer.from('not a zip at all, just text'));
  throwsDatasetError(() => describeDataset(npz), npz, /is not an .npz archive: a zip file starts with 50 4b 03 04, this one with 6e 6f 74 20/);
});

test('a huge declared array: describing streams (and finds it truncated); loading finds it truncated before reading any sample', () => {
  const dir = tempDir();
  // Declares 3·10^9 samples of 4 bytes (12 GB) but holds 8 bytes: nothing is allocated for the declaration.
  writeFileSync(path.join(dir, 'x.npy'), npyBytes('|u1', [3_000_000_000, 4], Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])));
  writeFileSync(path.join(dir, 'y.npy'), i8([0, 1]));
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'x.npy'), /is truncated: shape \(3000000000, 4\) of u1 needs 12000000128 bytes \(header included\) but there are 136/);
  // Loading reads the header and checks the declared size against the file's before anything else (samples are read per batch, never all at once).
  throwsDatasetError(() => loadDataset({ path: dir, format: 'npy', preprocessing: {} }), path.join(dir, 'x.npy'), /is truncated: shape \(3000000000, 4\) of u1 needs 12000000128 bytes \(header included\) but there are 136/);
});

test('x_train/x_test .npy files in a folder make two parts; a y file alone is refused', () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'x_train.npy'), u1([3, 2], [0, 51, 102, 153, 204, 255]));
  writeFileSync(path.join(dir, 'y_train.npy'), i8([0, 1, 0]));
  writeFileSync(path.join(dir, 'x_test.npy'), u1([1, 2], [255, 0]));
  writeFileSync(path.join(dir, 'y_test.npy'), i8([1]));
  const d = describeDataset(dir);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['train', 3], ['test', 1]]);
  assert.deepEqual(d.inputShape, [2]);
  const ds = loadDataset({ path: dir, format: 'npy', preprocessing: {} });
  close(readAll(ds.parts.train), [0, 0.2, 0.4, 0.6, 0.8, 1], 1e-7, 'x_train/255');
  close(readAll(ds.parts.test), [1, 0], 0, 'x_test/255');
  throwsDatasetError(() => describeDataset(path.join(dir, 'y_test.npy')), path.join(dir, 'y_test.npy'), /is a labels array/);
});
