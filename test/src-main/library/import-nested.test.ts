/**
 * Nested models through models.import over a real studio (SQLite file, engine
 * worker, files on disk): a Teachable-Machine-shaped model lands in the store
 * with its layers' path names; bad nestings are refused naming the file and
 * the layers, leaving the store and the models folder as they were.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { ModelDetail, ModelSummary } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { tempDir } from '../../helpers/temp.js';
import { mismatchedNestedModel, sharedNestedModel, teachableMachineModel } from '../engine/graph/nested-fixtures.js';
import { writeKeras2H5, writeKeras3 } from '../io/models/keras-nested-fixtures.js';

let studio: Studio;
let root: string;
let work: string;

before(async () => {
  await tf.setBackend('cpu');
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

const copies = () => (existsSync(path.join(root, 'models')) ? readdirSync(path.join(root, 'models')).sort() : []);

test('a Teachable-Machine-shaped .keras imports with its layers under their path names', async () => {
  const model = teachableMachineModel();
  const file = path.join(work, 'tm.keras');
  await writeKeras3(file, model, true);
  const params = model.countParams();
  model.dispose();
  const summary = await call<ModelSummary>('models.import', { path: file, mode: 'copy' });
  assert.deepEqual([summary.inputShape, summary.numClasses, summary.paramCount], [[8, 8, 3], 3, params]);
  const detail = await call<ModelDetail>('models.get', { id: summary.id });
  const names = detail.layers.map((l) => l.name);
  assert.ok(names.includes('sequential_1/model1/block_1_depthwise'), names.join(', '));
  assert.deepEqual(detail.layers.at(-1)!.inputs, ['sequential_3/dense_Dense1']);
});

test('a shared nested model and a shape mismatch are refused naming the layers; nothing is stored or copied', async () => {
  const cases: [tf.LayersModel, string, RegExp][] = [
    [sharedNestedModel(), 'shared.h5', /shared\.h5: layer shared_block \(Model\) is not supported: the nested model is called more than once/],
    [mismatchedNestedModel(), 'mismatch.keras', /mismatch\.keras: layer mobilenetv2_base \(Model\) is not supported: it expects an input of shape \[8,8,3\] .* layer image, of shape \[12,12,3\]/],
  ];
  for (const [model, name, message] of cases) {
    const file = path.join(work, name);
    if (name.endsWith('.h5')) await writeKeras2H5(file, model, 'own');
    else await writeKeras3(file, model, false);
    model.dispose();
    const modelsBefore = await call<ModelSummary[]>('models.list', {});
    const copiesBefore = copies();
    await assert.rejects(call('models.import', { path: file, mode: 'copy' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'invalid_input');
      assert.match(err.message, message);
      return true;
    });
    assert.deepEqual(await call<ModelSummary[]>('models.list', {}), modelsBefore, 'nothing added to the store');
    assert.deepEqual(copies(), copiesBefore, 'no copy left behind');
  }
});
