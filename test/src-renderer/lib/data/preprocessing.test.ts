import { test } from 'node:test';
import assert from 'node:assert/strict';
import { droppedDatasetName, EMPTY_PREPROCESSING, formatBytes, isModelFileName, parseNumberText, parsePreprocessing, pickModelFile } from '../../../../src-renderer/lib/data/preprocessing.js';

test('numbers as typed: decimals, exponents and fractions such as 1/255', () => {
  assert.equal(parseNumberText('0.5'), 0.5);
  assert.equal(parseNumberText(' -1e-3 '), -0.001);
  assert.equal(parseNumberText('1/255'), 1 / 255);
  assert.equal(parseNumberText('2 / 4'), 0.5);
  for (const bad of ['', 'abc', '1/0', '1/', '0.5.5']) assert.equal(parseNumberText(bad), null, bad);
});

test('empty fields leave the reader its defaults', () => {
  assert.deepEqual(parsePreprocessing(EMPTY_PREPROCESSING), { ok: true, value: {} });
});

test('every field maps to the reader key it names', () => {
  const r = parsePreprocessing({ scale: '1/255', mean: '0.485, 0.456, 0.406', std: '0.229 0.224 0.225', bgr: true, size: '224x160' });
  assert.deepEqual(r, { ok: true, value: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'bgr', size: [224, 160] } });
  assert.deepEqual(parsePreprocessing({ ...EMPTY_PREPROCESSING, mean: '0.5' }), { ok: true, value: { mean: [0.5] } });
});

test('text that is not a number says which field and what was typed', () => {
  const scale = parsePreprocessing({ ...EMPTY_PREPROCESSING, scale: 'half' });
  assert.deepEqual(scale, { ok: false, error: 'Scale must be a number such as 1/255 or 0.5, got "half"' });
  const std = parsePreprocessing({ ...EMPTY_PREPROCESSING, std: '0.2, x' });
  assert.equal(std.ok, false);
  assert.match((std as { error: string }).error, /^Std must be numbers .* got "0\.2, x"$/);
  for (const size of ['224', '0x10', '10x', 'axb']) {
    const r = parsePreprocessing({ ...EMPTY_PREPROCESSING, size });
    assert.equal(r.ok, false, size);
  }
});

test('dropped files: model.json wins over its shards, Keras files count as models, data does not', () => {
  const f = (name: string) => ({ name });
  assert.deepEqual(pickModelFile([f('group1-shard1of1.bin'), f('model.json')]), f('model.json'));
  assert.deepEqual(pickModelFile([f('labels.json'), f('net.keras')]), f('net.keras'));
  assert.deepEqual(pickModelFile([f('weights.H5')]), f('weights.H5'));
  assert.equal(pickModelFile([f('train-images-idx3-ubyte.gz'), f('data.npz')]), null);
  assert.equal(isModelFileName('x.hdf5'), true);
  assert.equal(isModelFileName('x.bin'), false);
});

test('byte counts for the progress line', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KB');
  assert.equal(formatBytes(1688104), '1.6 MB');
  assert.equal(formatBytes(20 * 1024 ** 3), '20 GB');
});

test('files dropped together are named for what their names share', () => {
  assert.equal(droppedDatasetName(['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']), 't10k');
  assert.equal(droppedDatasetName(['cifar.npz']), 'cifar');
  assert.equal(droppedDatasetName(['a.bin', 'b.bin', 'c.bin']), 'a and 2 more');
  assert.equal(droppedDatasetName(['data_batch_1.bin', 'data_batch_2.bin']), 'data_batch');
});
