import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describeDataset, detectFormat, loadDataset, readAll } from '../../../../src-main/io/data/dataset.js';
import { axisWeights, resizeImage } from '../../../../src-main/io/data/resize.js';
import { tempDir } from '../../../helpers/temp.js';
import { close, throwsDatasetError } from './helpers.js';

type Rgb = (y: number, x: number) => [number, number, number];

function rgba(w: number, h: number, color: Rgb): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      data.set([...color(y, x), 255], (y * w + x) * 4);
    }
  }
  return data;
}

function writePng(file: string, w: number, h: number, color: Rgb, colorType: 0 | 2 | 6 = 2): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const png = new PNG({ width: w, height: h });
  png.data = rgba(w, h, color);
  writeFileSync(file, PNG.sync.write(png, { colorType }));
}

function writeJpeg(file: string, w: number, h: number, color: Rgb): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, jpeg.encode({ width: w, height: h, data: rgba(w, h, color) }, 100).data);
}

/** A 4x4 pattern: every pixel distinct, channels distinct. */
const pattern = (k: number): Rgb => (y, x) => [10 * k + 16 * y + 4 * x, 200 - 16 * y - x, 50 + 10 * k + 3 * x];
const solid = (r: number, g: number, b: number): Rgb => () => [r, g, b];

function folder(): string {
  const dir = tempDir();
  writePng(path.join(dir, 'dog', 'b.png'), 4, 4, pattern(1));
  writePng(path.join(dir, 'dog', 'a.png'), 4, 4, pattern(0));
  writeJpeg(path.join(dir, 'cat', 'one.jpg'), 4, 4, solid(200, 100, 50));
  writeFileSync(path.join(dir, 'cat', '.DS_Store'), 'Bud1');
  writeFileSync(path.join(dir, 'README.txt'), 'images of pets');
  return dir;
}

test('an image folder: classes from sorted subfolder names, PNG and JPEG, notes for skipped files', () => {
  const dir = folder();
  assert.equal(detectFormat(dir), 'image-folder');
  const d = describeDataset(dir);
  assert.equal(d.format, 'image-folder');
  assert.equal(d.count, 3);
  assert.deepEqual(d.classNames, ['cat', 'dog']);
  assert.equal(d.numClasses, 2);
  assert.deepEqual(d.inputShape, [4, 4, 3]);
  assert.deepEqual(d.preprocessing.size, [4, 4], 'the default size (the first image) is recorded');
  assert.equal(d.preprocessing.channels, 3);
  assert.deepEqual(d.notes, [
    'skipped 1 hidden or system file (cat/.DS_Store)',
    'ignored 1 file outside the class folders (README.txt)',
    'only the train part exists; it serves as both train and test split',
  ]);
  assert.equal(describeDataset(dir).sha256, d.sha256);

  const ds = loadDataset({ path: dir, format: 'image-folder', preprocessing: { scale: 1 } });
  assert.deepEqual(Array.from(ds.parts.train.labels), [0, 1, 1], 'cat/one.jpg, then dog/a.png, dog/b.png');
  // PNG is lossless: dog/a.png (sample 1), pixel (y=2, x=3) is exactly pattern(0)(2, 3).
  const at = 48 + (2 * 4 + 3) * 3;
  assert.deepEqual(Array.from(readAll(ds.parts.train).subarray(at, at + 3)), pattern(0)(2, 3));
  assert.deepEqual(Array.from(readAll(ds.parts.train).subarray(96, 99)), pattern(1)(0, 0));
  // JPEG at quality 100 of a flat colour decodes to within a step or two of it.
  close(readAll(ds.parts.train).subarray(0, 48), Array.from({ length: 48 }, (_, i) => [200, 100, 50][i % 3]!), 3, 'flat JPEG');

  const norm = loadDataset({ path: dir, format: 'image-folder', preprocessing: { mean: [0.5, 0.5, 0.5], std: 0.25, channelOrder: 'bgr' } });
  const [r, g, b] = pattern(0)(2, 3);
  close(readAll(norm.parts.train).subarray(at, at + 3), [b, g, r].map((v) => (v / 255 - 0.5) / 0.25), 1e-5, '(v/255 − 0.5)/0.25 in BGR order');
});

test('grayscale: by option (BT.601 luma), and by default for gray PNGs', () => {
  const dir = folder();
  const gray = loadDataset({ path: dir, format: 'image-folder', preprocessing: { channels: 1, scale: 1 } });
  assert.deepEqual(gray.inputShape, [4, 4, 1]);
  const [r, g, b] = pattern(1)(3, 1);
  assert.ok(Math.abs(readAll(gray.parts.train)[32 + 3 * 4 + 1]! - (0.299 * r + 0.587 * g + 0.114 * b)) < 1e-4);

  const grayDir = tempDir();
  writePng(path.join(grayDir, 'a', '1.png'), 3, 2, (y, x) => [40 * y + x, 40 * y + x, 40 * y + x], 0);
  writePng(path.join(grayDir, 'b', '1.png'), 3, 2, solid(7, 7, 7), 0);
  const d = describeDataset(grayDir);
  assert.deepEqual(d.inputShape, [2, 3, 1]);
  const ds = loadDataset({ path: grayDir, format: 'image-folder', preprocessing: { scale: 1 } });
  assert.deepEqual(Array.from(readAll(ds.parts.train).subarray(0, 6)), [0, 1, 2, 40, 41, 42]);
});

test('resize: a 2x shrink is the mean of each 2x2 block; enlarging is half-pixel bilinear', () => {
  // Closed form: a 4x4 one-channel image v(y, x) = 16y + 4x shrinks to 2x2 with v'(i, j) = mean over the block = 16(2i + 0.5) + 4(2j + 0.5).
  const src = Float32Array.from({ length: 16 }, (_, k) => 16 * Math.floor(k / 4) + 4 * (k % 4));
  assert.deepEqual(Array.from(resizeImage(src, 4, 4, 1, 2, 2)), [10, 18, 42, 50]);
  // [0, 10] to 4: positions (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped → 0, 2.5, 7.5, 10.
  assert.deepEqual(Array.from(resizeImage(Float32Array.from([0, 10]), 1, 2, 1, 1, 4)), [0, 2.5, 7.5, 10]);
  // A 3→2 shrink covers 1.5 source pixels each: [a, b, c] → [(a + b/2)/1.5, (b/2 + c)/1.5].
  close(resizeImage(Float32Array.from([3, 6, 9]), 1, 3, 1, 1, 2), [4, 8], 1e-6, '3→2 area');
  assert.deepEqual(axisWeights(5, 5).map((t) => t.map((w) => w.index)), [[0], [1], [2], [3], [4]], 'same size is the identity');

  // Through the reader: the 4x4 PNG pattern to size [2, 2] equals the block means of its channels.
  const dir = folder();
  const ds = loadDataset({ path: dir, format: 'image-folder', preprocessing: { size: [2, 2], scale: 1 } });
  assert.deepEqual(ds.inputShape, [2, 2, 3]);
  const p = pattern(0);
  const block = (i: number, j: number, c: number) => (p(2 * i, 2 * j)[c]! + p(2 * i, 2 * j + 1)[c]! + p(2 * i + 1, 2 * j)[c]! + p(2 * i + 1, 2 * j + 1)[c]!) / 4;
  const expected = [0, 1].flatMap((i) => [0, 1].flatMap((j) => [0, 1, 2].map((c) => block(i, j, c))));
  close(readAll(ds.parts.train).subarray(12, 24), expected, 1e-4, 'dog/a.png shrunk 2x');
});

test('train/ and test/ subfolders make two parts with one class list', () => {
  const dir = tempDir();
  writePng(path.join(dir, 'train', 'zebra', '1.png'), 2, 2, solid(1, 2, 3));
  writePng(path.join(dir, 'train', 'ant', '1.png'), 2, 2, solid(4, 5, 6));
  writePng(path.join(dir, 'test', 'zebra', '1.png'), 2, 2, solid(7, 8, 9));
  writePng(path.join(dir, 'test', 'mole', '1.png'), 2, 2, solid(7, 8, 9));
  const d = describeDataset(dir);
  assert.deepEqual(d.classNames, ['ant', 'mole', 'zebra']);
  assert.deepEqual(d.parts.map((p) => [p.name, p.count]), [['test', 2], ['train', 2]]);
  assert.ok(d.notes.includes('the train part has no folder for class mole'), d.notes.join('; '));
  const ds = loadDataset({ path: dir, format: 'image-folder', preprocessing: {} });
  assert.deepEqual(Array.from(ds.parts.train.labels), [0, 2]);
  assert.deepEqual(Array.from(ds.parts.test.labels), [1, 2]);
});

test('bad image folders: mixed sizes, a corrupt PNG, a non-image, one class, an empty class, options', () => {
  const dir = folder();
  const odd = path.join(dir, 'dog', 'c.png');
  writePng(odd, 6, 5, pattern(2));
  throwsDatasetError(() => describeDataset(dir), odd, /is 5x6 \(height x width\) but cat\/one.jpg is 4x4; images of mixed sizes need a target size: set preprocessing.size/);
  assert.deepEqual(describeDataset(dir, { size: [4, 4] }).inputShape, [4, 4, 3], 'with a target size, mixed sizes are resized');

  const bytes = readFileSync(odd);
  writeFileSync(odd, bytes.subarray(0, bytes.length - 30));
  throwsDatasetError(() => describeDataset(dir, { size: [4, 4] }), odd, /is not a valid PNG: /);
  bytes[40] ^= 0xff;
  writeFileSync(odd, bytes);
  throwsDatasetError(() => describeDataset(dir, { size: [4, 4] }), odd, /is not a valid PNG: /);
  writeFileSync(odd, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 1, 2, 3]));
  throwsDatasetError(() => describeDataset(dir, { size: [4, 4] }), odd, /is not a valid JPEG/);
  writeFileSync(odd, 'GIF89a...');
  throwsDatasetError(() => describeDataset(dir, { size: [4, 4] }), odd, /is not a PNG or JPEG image \(it starts with 47 49 46 38\)/);

  writeFileSync(odd, 'labels: dog');
  const notes = path.join(dir, 'dog', 'notes.txt');
  writeFileSync(notes, 'dogs');
  writePng(odd, 4, 4, pattern(2));
  throwsDatasetError(() => describeDataset(dir), notes, /is not a PNG or JPEG image \(it starts with 64 6f 67 73\); an image-folder dataset holds only PNG and JPEG files/);

  const one = tempDir();
  writePng(path.join(one, 'only', 'a.png'), 2, 2, solid(0, 0, 0));
  throwsDatasetError(() => describeDataset(one), one, /holds only one class folder \(only\)/);
  mkdirSync(path.join(one, 'empty'));
  throwsDatasetError(() => describeDataset(one), path.join(one, 'empty'), /is an empty class folder/);

  const fine = folder();
  assert.equal(describeDataset(fine, { numClasses: 2 }).numClasses, 2);
  writePng(path.join(fine, 'emu', 'a.png'), 4, 4, pattern(3));
  throwsDatasetError(() => describeDataset(fine, { numClasses: 2 }), fine, /holds 3 class folders, more than the 2 classes set in preprocessing.numClasses/);
  throwsDatasetError(() => describeDataset(fine, { size: [0, 4] }), fine, /preprocessing.size must be \[height, width\]/);
  throwsDatasetError(() => describeDataset(fine, { channels: 4 }), fine, /preprocessing.channels must be 1 \(grayscale\) or 3 \(RGB\)/);
  throwsDatasetError(() => describeDataset(fine, { channels: 1, channelOrder: 'bgr' }), fine, /channelOrder "bgr" needs 3-channel samples/);
});
