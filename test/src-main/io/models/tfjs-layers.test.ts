import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, truncate, unlink, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { builtinModels } from '../../../../src-main/io/models/builtins.js';
import { ModelReadError, readTfjsLayersModel, writeLayersModelFiles, writeTfjsLayersModel, WEIGHTS_FILE } from '../../../../src-main/io/models/tfjs-layers.js';
import { addConcatModel, perturbWeights } from '../../engine/graph/fixtures.js';

let tmp: string;
let good: string; // a written model every error case copies and corrupts

before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'tfjs-layers-test-'));
  good = path.join(tmp, 'good');
  await writeTfjsLayersModel(builtinModels[2]!.build(), good);
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function copyOfGood(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(good, dir, { recursive: true });
  return dir;
}

function readError(file: string, problem: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof ModelReadError, String(e));
    assert.equal(e.file, file);
    assert.match(e.problem, problem);
    assert.ok(e.message.startsWith(file));
    return true;
  };
}

test('write then read gives back the same graph, exactly', async () => {
  const model = addConcatModel();
  perturbWeights(model, 3);
  const graph = graphFromLayersModel(model);
  model.dispose();
  const dir = path.join(tmp, 'roundtrip');
  const files = await writeTfjsLayersModel(graph, dir);
  assert.deepEqual(files, [path.join(dir, 'model.json'), path.join(dir, WEIGHTS_FILE)]);
  // One float32 per parameter in the weights file.
  const params = graph.nodes.reduce((s, n) => s + ('weights' in n ? Object.values(n.weights).reduce((a, w) => a + (w?.values.length ?? 0), 0) : 0), 0);
  assert.equal((await stat(files[1]!)).size, params * 4);
  assert.deepEqual(await readTfjsLayersModel(files[0]!), graph);
  // A folder holding model.json works too.
  assert.deepEqual(await readTfjsLayersModel(dir), graph);
});

test('every built-in model survives a write/read round trip', async () => {
  for (const entry of builtinModels) {
    const graph = entry.build();
    const [json] = await writeTfjsLayersModel(graph, path.join(tmp, entry.name));
    assert.deepEqual(await readTfjsLayersModel(json!), graph, entry.name);
  }
});

test('missing model.json', async () => {
  const missing = path.join(tmp, 'nowhere', 'model.json');
  await assert.rejects(readTfjsLayersModel(missing), readError(missing, /model.json not found/));
  const emptyDir = path.join(tmp, 'good-but-empty');
  await cp(good, emptyDir, { recursive: true });
  await unlink(path.join(emptyDir, 'model.json'));
  await assert.rejects(readTfjsLayersModel(emptyDir), readError(path.join(emptyDir, 'model.json'), /not found in this folder/));
});

test('invalid JSON', async () => {
  const dir = await copyOfGood('bad-json');
  const json = path.join(dir, 'model.json');
  await writeFile(json, '{"modelTopology": {');
  await assert.rejects(readTfjsLayersModel(json), readError(json, /is not valid JSON/));
  await writeFile(json, '{"weightsManifest": []}');
  await assert.rejects(readTfjsLayersModel(json), readError(json, /has no modelTopology/));
});

test('a graph model is told apart from a layers model', async () => {
  const dir = await copyOfGood('graph-model');
  const json = path.join(dir, 'model.json');
  await writeFile(json, JSON.stringify({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }));
  await assert.rejects(readTfjsLayersModel(json), readError(json, /graph model/));
});

test('missing weight shard is named', async () => {
  const dir = await copyOfGood('no-shard');
  const shard = path.join(dir, WEIGHTS_FILE);
  await unlink(shard);
  await assert.rejects(readTfjsLayersModel(path.join(dir, 'model.json')), readError(shard, new RegExp(`weight shard ${WEIGHTS_FILE} listed in model.json is missing`)));
});

test('shard size mismatch gives both byte counts', async () => {
  const dir = await copyOfGood('short-shard');
  const shard = path.join(dir, WEIGHTS_FILE);
  const size = (await stat(shard)).size;
  await truncate(shard, size - 8);
  await assert.rejects(
    readTfjsLayersModel(path.join(dir, 'model.json')),
    readError(shard, new RegExp(`holds ${size - 8} bytes but model.json describes ${size} bytes`)),
  );
});

test('a layer tfjs knows but the IR does not model is read as an opaque float layer with its class', async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ name: 'dense', units: 4, inputShape: [3] }), tf.layers.prelu({ name: 'prelu' })] });
  const dir = path.join(tmp, 'prelu');
  const [json] = await writeLayersModelFiles(model, dir);
  model.dispose();
  const graph = await readTfjsLayersModel(json!);
  const prelu = graph.nodes.find((n) => n.name === 'prelu');
  assert.ok(prelu && prelu.op === 'layer' && prelu.className === 'PReLU', `prelu read as ${JSON.stringify(prelu && { op: prelu.op })}`);
});

test('a layer class tfjs does not know is named', async () => {
  const dir = await copyOfGood('unknown-class');
  const json = path.join(dir, 'model.json');
  const text = await readFile(json, 'utf8');
  await writeFile(json, text.replace('"class_name":"Flatten"', '"class_name":"FancyFlatten"'));
  await assert.rejects(readTfjsLayersModel(json), readError(json, /unsupported layer class FancyFlatten \(TensorFlow\.js cannot build it\): layer flatten\. Replace it with standard Keras layers/));
});
