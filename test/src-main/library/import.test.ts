/**
 * models.import and datasets.import through the API boundary (dispatch, with
 * outputs checked against the contract) over a real studio: SQLite file,
 * engine worker, files on disk. Copy against reference, the same content
 * twice, and bad input that must leave the store and the models folder as
 * they were.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, copyFileSync, writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { DatasetSummary, ModelDetail, ModelSummary } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';
import { SAMPLE_DATA, SAMPLE_MODEL, SAMPLE_SHARD, sha256Of, writeVariant } from './fixtures.js';

let studio: Studio;
let root: string;
let work: string;

before(async () => {
  root = tempDir();
  work = tempDir();
  studio = await openStudio({ dbPath: path.join(root, 'studio.sqlite'), host: 'cli', backend: 'cpu', defaults: false });
});

after(async () => {
  await studio.close();
});

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method, input, { validateOutputs: true });
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.output as T;
}

const modelsDir = () => path.join(root, 'models');
const copies = () => (existsSync(modelsDir()) ? readdirSync(modelsDir()).sort() : []);

test('reference: the library points at the file; sha256 is that of model.json then its shard', async () => {
  const model = await call<ModelSummary>('models.import', { path: SAMPLE_MODEL, mode: 'reference' });
  assert.equal(model.path, SAMPLE_MODEL);
  assert.equal(model.sha256, sha256Of(SAMPLE_MODEL, SAMPLE_SHARD));
  assert.equal(model.name, 'fashion_cnn');
  assert.equal(model.source, 'imported');
  assert.equal(model.format, 'tfjs-layers');
  assert.deepEqual(model.inputShape, [28, 28, 1]);
  assert.equal(model.numClasses, 10);
  assert.deepEqual(copies(), [], 'reference copies nothing');
  // The summary right away: the layers the Model view shows, adding up to the model's parameter count.
  const detail = await call<ModelDetail>('models.get', { id: model.id });
  assert.equal(detail.layers.length, model.layerCount + 1, 'the layers and the input');
  assert.equal(detail.layers[0]!.op, 'input');
  assert.equal(detail.layers.reduce((s, l) => s + l.params, 0), model.paramCount);
  assert.ok(detail.layers.some((l) => l.op === 'conv2d'));
});

test('copy: the files go to models/<sha256>/ byte for byte and the entry outlives the original', async () => {
  const file = writeVariant(path.join(work, 'copy-me'), 'copy_me');
  const sha = sha256Of(file, path.join(work, 'copy-me', 'group1-shard1of1.bin'));
  const model = await call<ModelSummary>('models.import', { path: path.dirname(file), mode: 'copy', name: 'Copied CNN' });
  assert.equal(model.name, 'Copied CNN');
  assert.equal(model.sha256, sha);
  assert.equal(model.path, path.join(root, 'models', sha, 'model.json'));
  assert.deepEqual(readdirSync(path.join(root, 'models', sha)).sort(), ['group1-shard1of1.bin', 'model.json']);
  assert.deepEqual(readFileSync(path.join(root, 'models', sha, 'group1-shard1of1.bin')), readFileSync(SAMPLE_SHARD));
  assert.equal(sha256Of(path.join(root, 'models', sha, 'model.json'), path.join(root, 'models', sha, 'group1-shard1of1.bin')), sha);
  rmSync(path.join(work, 'copy-me'), { recursive: true });
  // Importing the copy itself (by reference) is the same content again.
  const again = await call<ModelSummary>('models.import', { path: model.path!, mode: 'reference' });
  assert.equal(again.id, model.id);
});

test('the same content twice returns the entry already there, whatever the mode, name or place', async () => {
  const before = await call<ModelSummary[]>('models.list', {});
  const copiesBefore = copies();
  const elsewhere = path.join(work, 'same-bytes');
  mkdirSync(elsewhere);
  copyFileSync(SAMPLE_MODEL, path.join(elsewhere, 'model.json'));
  copyFileSync(SAMPLE_SHARD, path.join(elsewhere, 'group1-shard1of1.bin'));
  const first = before.find((m) => m.path === SAMPLE_MODEL)!;
  const dup = await call<ModelSummary>('models.import', { path: path.join(elsewhere, 'model.json'), mode: 'copy', name: 'another name' });
  assert.deepEqual(dup, first);
  assert.deepEqual(await call<ModelSummary[]>('models.list', {}), before);
  assert.deepEqual(copies(), copiesBefore, 'no copy for content already stored');
});

async function assertRefused(input: unknown, message: RegExp): Promise<void> {
  const modelsBefore = await call<ModelSummary[]>('models.list', {});
  const copiesBefore = copies();
  await assert.rejects(call('models.import', input), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'invalid_input');
    assert.match(err.message, message);
    return true;
  });
  assert.deepEqual(await call<ModelSummary[]>('models.list', {}), modelsBefore, 'nothing added to the store');
  assert.deepEqual(copies(), copiesBefore, 'no copy left behind');
  assert.deepEqual(readdirSync(root).filter((f) => f.startsWith('.partial')), []);
}

test('bad paths are refused naming the file', async () => {
  const missing = path.join(work, 'nowhere', 'model.json');
  await assertRefused({ path: missing, mode: 'copy' }, new RegExp(`^${missing.replace(/[.]/g, '\\.')}: not found$`));
  await assertRefused({ path: 'relative/model.json', mode: 'reference' }, /must be absolute, got relative\/model\.json/);
  await assertRefused({ path: work, mode: 'copy' }, /is a folder without a model\.json/);
  const r = await dispatch(studio.handlers, 'models.import', { path: SAMPLE_MODEL, mode: 'move' });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'invalid_input');
});

test('corrupt models are refused naming the file, and nothing is stored or copied', async () => {
  // A shard cut short: the weights do not fill the manifest.
  const truncated = writeVariant(path.join(work, 'cut'), 'cut', { shard: readFileSync(SAMPLE_SHARD).subarray(0, 1000) });
  await assertRefused({ path: truncated, mode: 'copy' }, /cut[/\\]group1-shard1of1\.bin: .*holds 1000 bytes but model\.json describes 1688104/);
  // The shard the manifest names is not there.
  const noShard = writeVariant(path.join(work, 'no-shard'), 'no_shard', { withShard: false });
  await assertRefused({ path: noShard, mode: 'copy' }, /no-shard[/\\]group1-shard1of1\.bin: not found/);
  // Not JSON at all.
  const garbage = path.join(work, 'garbage', 'model.json');
  mkdirSync(path.dirname(garbage));
  copyFileSync(SAMPLE_SHARD, garbage);
  await assertRefused({ path: garbage, mode: 'reference' }, /garbage[/\\]model\.json: /);
  // A format no reader claims.
  const unknown = path.join(work, 'weights.xyz');
  copyFileSync(SAMPLE_SHARD, unknown);
  await assertRefused({ path: unknown, mode: 'copy' }, /weights\.xyz: not a model format/);
});

test('an upload copied into the library is removed from imports/, and named after its file', async () => {
  const batch = path.join(root, 'imports', 'batch-1234');
  const file = writeVariant(batch, 'uploaded');
  const model = await call<ModelSummary>('models.import', { path: file, mode: 'copy' });
  assert.equal(model.name, 'uploaded model');
  assert.match(model.description, /^uploaded as model\.json$/);
  assert.equal(existsSync(batch), false, 'the upload batch is gone');
  assert.ok(existsSync(model.path!), 'the copy stays');
});

test('an upload without its weight file says what to drop, and the upload is removed', async () => {
  const batch = path.join(root, 'imports', 'batch-5678');
  const file = writeVariant(batch, 'half_dropped', { withShard: false });
  await assertRefused({ path: file, mode: 'copy' }, /^model\.json names the weight file group1-shard1of1\.bin, which was not dropped with it: drop the model file together with its weight files$/);
  assert.equal(existsSync(batch), false);
});

const KERAS = path.join(path.dirname(SAMPLE_DATA), '..', '..', 'test', 'fixtures', 'keras');

test('a Keras file is one file: its sha256 is sha256sum of it, and a copy is that file alone', async (t) => {
  const file = path.join(KERAS, 'hls4ml_mlp_streaming.keras');
  if (!existsSync(file)) return t.skip(`no Keras fixture at ${file}`);
  const model = await call<ModelSummary>('models.import', { path: file, mode: 'copy' });
  // The sha256 test/fixtures/keras/README.md lists for this file.
  assert.equal(model.sha256, 'f58642d8a5383d9ea96310fa2b6ab849e83d341e9fe13096534739e2f41cd57c');
  assert.equal(model.path, path.join(root, 'models', model.sha256, 'hls4ml_mlp_streaming.keras'));
  assert.deepEqual(readdirSync(path.join(root, 'models', model.sha256)), ['hls4ml_mlp_streaming.keras']);
  assert.deepEqual([model.name, model.inputShape, model.numClasses, model.paramCount], ['hls4ml_mlp_streaming', [8], 2, 8 * 4 + 4 + 4 * 2 + 2]);
  // A layer TensorFlow.js cannot build: the reader's error, with the file, and nothing stored.
  const gru = path.join(KERAS, 'hls4ml_hostpipe_parallel_gru.keras');
  await assertRefused({ path: gru, mode: 'copy' }, /hls4ml_hostpipe_parallel_gru\.keras: .*GRU/);
});

test('datasets: imported where they are, the same data and preprocessing twice is one entry', async () => {
  const first = await call<DatasetSummary>('datasets.import', { path: SAMPLE_DATA });
  assert.equal(first.name, 'fashion-mnist');
  assert.equal(first.format, 'idx');
  assert.equal(first.path, SAMPLE_DATA);
  assert.equal(first.source, 'imported');
  assert.deepEqual(first.inputShape, [28, 28, 1]);
  assert.equal(first.numClasses, 10);
  assert.equal(first.count, 4000, 'the bundled subset: 2,000 train + 2,000 test images');
  // Same data, the default scale spelled out: the same entry.
  const again = await call<DatasetSummary>('datasets.import', { path: SAMPLE_DATA, name: 'other', preprocessing: { scale: 1 / 255 } });
  assert.equal(again.id, first.id);
  // Other preprocessing is another dataset, and it is what runs will read.
  const normalized = await call<DatasetSummary>('datasets.import', { path: SAMPLE_DATA, name: 'fm normalized', preprocessing: { mean: [0.2860], std: [0.3530] } });
  assert.notEqual(normalized.id, first.id);
  const stored = studio.store.datasets.getStored(normalized.id)!;
  assert.deepEqual(stored.preprocessing.mean, [0.286]);
  assert.deepEqual(stored.preprocessing.std, [0.353]);
  assert.equal((await call<DatasetSummary[]>('datasets.list', {})).length, 2);
});

test('datasets: bad paths and bad preprocessing are refused naming the path, nothing stored', async () => {
  const before = await call<DatasetSummary[]>('datasets.list', {});
  const missing = path.join(work, 'no-data');
  await assert.rejects(call('datasets.import', { path: missing }), (err: Error & { code?: string }) => err.code === 'invalid_input' && err.message === `${missing}: not found`);
  await assert.rejects(call('datasets.import', { path: SAMPLE_DATA, preprocessing: { std: [0] } }), /fashion-mnist.*std/);
  await assert.rejects(call('datasets.import', { path: SAMPLE_MODEL }), /model\.json/);
  assert.deepEqual(await call<DatasetSummary[]>('datasets.list', {}), before);
});

/** A 6x4 RGB PNG of one colour, written by pngjs. */
function png(file: string, rgb: [number, number, number]): void {
  const img = new PNG({ width: 6, height: 4 });
  for (let i = 0; i < 24; i++) img.data.set([...rgb, 255], i * 4);
  writeFileSync(file, PNG.sync.write(img));
}

test('datasets: an image folder takes the size and channel order given at import', async (t) => {
  const dir = path.join(work, 'pets');
  for (const [cls, rgb] of [['cat', [200, 10, 10]], ['dog', [10, 10, 200]]] as const) {
    mkdirSync(path.join(dir, cls), { recursive: true });
    png(path.join(dir, cls, 'a.png'), [...rgb]);
    png(path.join(dir, cls, 'b.png'), [...rgb]);
  }
  let d: DatasetSummary;
  try {
    d = await call<DatasetSummary>('datasets.import', { path: dir, preprocessing: { size: [8, 8], channelOrder: 'bgr' } });
  } catch (err) {
    if (/not a dataset format|no reader/i.test((err as Error).message)) return t.skip(`image folders not read yet: ${(err as Error).message}`);
    throw err;
  }
  assert.deepEqual([d.name, d.format, d.count, d.inputShape, d.numClasses], ['pets', 'image-folder', 4, [8, 8, 3], 2]);
  assert.deepEqual(studio.store.datasets.getStored(d.id)!.preprocessing.size, [8, 8]);
  assert.equal(studio.store.datasets.getStored(d.id)!.preprocessing.channelOrder, 'bgr');
  // A file that is not an image: refused naming it, nothing stored.
  const before = await call<DatasetSummary[]>('datasets.list', {});
  writeFileSync(path.join(dir, 'dog', 'notes.txt'), 'not an image');
  await assert.rejects(call('datasets.import', { path: dir, name: 'pets again', preprocessing: { size: [8, 8] } }), /dog[/\\]notes\.txt/);
  assert.deepEqual(await call<DatasetSummary[]>('datasets.list', {}), before);
});

test('app.pickPath outside Electron says there is no dialog', async () => {
  assert.deepEqual(await call('app.pickPath', { mode: 'open-file', title: 'Model file', filters: [{ name: 'Models', extensions: ['json', 'h5', 'keras'] }] }), { supported: false, path: null });
});
