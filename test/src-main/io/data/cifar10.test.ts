import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeDataset, detectFormat, loadDataset, readAll } from '../../../../src-main/io/data/dataset.js';
import { tempDir } from '../../../helpers/temp.js';
import { throwsDatasetError } from './helpers.js';

/** Raw value of record r, channel c (0 R, 1 G, 2 B), pixel q (row-major in 32x32): a pattern that differs per record, channel and pixel. */
const raw = (r: number, c: number, q: number) => (r * 31 + c * 80 + q * 7) % 256;

/** CIFAR-10 records as the dataset's README lays them out: label byte, 1024 R, 1024 G, 1024 B. */
function records(labels: number[], first = 0): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((label, i) => {
    const at = i * 3073;
    out[at] = label;
    for (let c = 0; c < 3; c++) for (let q = 0; q < 1024; q++) out[at + 1 + c * 1024 + q] = raw(first + i, c, q);
  });
  return out;
}

const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

function cifarFolder(): string {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'data_batch_1.bin'), records([3, 9], 0));
  writeFileSync(path.join(dir, 'data_batch_2.bin'), records([0], 2));
  writeFileSync(path.join(dir, 'test_batch.bin'), records([5, 1], 10));
  writeFileSync(path.join(dir, 'batches.meta.txt'), NAMES.join('\n') + '\n\n');
  return dir;
}

test('a CIFAR-10 folder: parts from the batch names, class names from batches.meta.txt, a content hash', () => {
  const dir = cifarFolder();
  assert.equal(detectFormat(dir), 'cifar10');
  const d = describeDataset(dir);
  assert.equal(d.format, 'cifar10');
  assert.equal(d.count, 5);
  assert.deepEqual(d.inputShape, [32, 32, 3]);
  assert.equal(d.numClasses, 10);
  assert.deepEqual(d.classNames, NAMES);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count, p.images]), [
    ['train', 3, path.join(dir, 'data_batch_{1,2}.bin')],
    ['test', 2, path.join(dir, 'test_batch.bin')],
  ]);
  assert.deepEqual(d.notes, ['train part without data_batch_3.bin, data_batch_4.bin, data_batch_5.bin']);
  assert.equal(d.preprocessing.scale, 1 / 255);
  assert.equal(describeDataset(dir).sha256, d.sha256);
  const test1 = path.join(dir, 'test_batch.bin');
  const bytes = readFileSync(test1);
  bytes[5000] ^= 1;
  writeFileSync(test1, bytes);
  assert.notEqual(describeDataset(dir).sha256, d.sha256, 'one pixel changes the hash');

  // The folder above cifar-10-batches-bin (as the tarball unpacks) is found too.
  const parent = tempDir();
  mkdirSync(path.join(parent, 'cifar-10-batches-bin'));
  writeFileSync(path.join(parent, 'cifar-10-batches-bin', 'test_batch.bin'), records([2]));
  const p = describeDataset(parent);
  assert.deepEqual(p.parts.map((q) => [q.name, q.count]), [['test', 1]]);
  assert.match(p.notes[0]!, /serves as both train and test/);
});

test('CIFAR pixels become channels last (HWC), then scale, BGR order, mean and std, checked by hand', () => {
  const dir = cifarFolder();
  const plain = loadDataset({ path: dir, format: 'cifar10', preprocessing: { scale: 1 } });
  const train = plain.parts.train;
  assert.deepEqual(Array.from(train.labels), [3, 9, 0]);
  assert.deepEqual(Array.from(plain.parts.test.labels), [5, 1]);
  assert.equal(readAll(train).length, 3 * 3072);
  // Record 2 (the first of data_batch_2), row 5, column 7, green: HWC index ((5·32 + 7)·3 + 1).
  const q = 5 * 32 + 7;
  assert.equal(readAll(train)[2 * 3072 + q * 3 + 1], raw(2, 1, q));
  for (const r of [0, 1, 2]) for (const c of [0, 1, 2]) for (const px of [0, 31, 1023]) assert.equal(readAll(train)[r * 3072 + px * 3 + c], raw(r, c, px));

  const mean = [0.4914, 0.4822, 0.4465];
  const std = [0.247, 0.2435, 0.2616];
  const norm = loadDataset({ path: dir, format: 'cifar10', preprocessing: { channelOrder: 'bgr', mean, std } });
  for (const c of [0, 1, 2]) {
    // Output channel c holds source channel 2 − c; mean/std are indexed by the output channel.
    const expected = (raw(10, 2 - c, q) / 255 - mean[c]!) / std[c]!;
    assert.ok(Math.abs(readAll(norm.parts.test)[q * 3 + c]! - expected) < 1e-5, `channel ${c}: ${readAll(norm.parts.test)[q * 3 + c]} vs ${expected}`);
  }
  throwsDatasetError(() => loadDataset({ path: dir, format: 'cifar10', preprocessing: { mean: [1, 2] } }), dir, /preprocessing.mean has 2 values but the samples have 3 channels/);
});

test('one CIFAR batch file serves as train and test', () => {
  const dir = cifarFolder();
  const file = path.join(dir, 'data_batch_2.bin');
  assert.equal(detectFormat(file), 'cifar10');
  const d = describeDataset(file);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count, p.images]), [['train', 1, file]]);
  const ds = loadDataset({ path: file, format: 'cifar10', preprocessing: {} });
  assert.equal(ds.parts.train, ds.parts.test);
});

test('bad CIFAR input: a truncated record, CIFAR-100 records, labels out of range, a bad meta file, an empty file', () => {
  const dir = cifarFolder();
  const train = path.join(dir, 'data_batch_1.bin');
  writeFileSync(train, records([3, 9]).subarray(0, 3073 + 100));
  throwsDatasetError(() => describeDataset(dir), train, /is 3173 bytes, not a whole number of 3073-byte records \(1 records and 100 bytes left over\); the file is truncated/);
  writeFileSync(train, new Uint8Array(3074 * 2));
  throwsDatasetError(() => describeDataset(dir), train, /fits 3074-byte records, as in CIFAR-100/);
  writeFileSync(train, new Uint8Array(0));
  throwsDatasetError(() => describeDataset(dir), train, /is empty/);
  writeFileSync(train, records([3, 12]));
  throwsDatasetError(() => describeDataset(dir), train, new RegExp(`label 1 is 12, outside the 10 classes set in ${path.join(dir, 'batches.meta.txt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  writeFileSync(train, records([3, 9]));
  throwsDatasetError(() => describeDataset(dir, { numClasses: 5 }), train, /label 1 is 9, outside the 5 classes set in preprocessing.numClasses/);
  writeFileSync(path.join(dir, 'batches.meta.txt'), 'only-one\n');
  throwsDatasetError(() => describeDataset(dir), path.join(dir, 'batches.meta.txt'), /names 1 classes; expected one class name per line/);
});
