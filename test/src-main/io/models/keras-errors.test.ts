/**
 * Bad Keras files: each gets a KerasModelError naming the file and what is
 * wrong. The broken files are made from the real fixtures (truncated, bytes
 * overwritten) or written as Keras would write them, with one thing wrong.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { zipSync } from 'fflate';
import { KerasModelError, readKerasModel } from '../../../../src-main/io/models/keras/read.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { tempDir } from '../../../helpers/temp.js';
import { GRU_KERAS2, keras3Layer, keras3MlpConfig, mlpVarsGroups, mlpWeights, RESNET8_H5, writeKeras3Archive, type Array32 } from './keras-fixtures.js';

let dir: string;
let weights: Array32[];
before(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('keras-errors-test-');
  weights = await mlpWeights();
});

function kerasError(file: string, problem: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof KerasModelError, `expected a KerasModelError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.problem, problem);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    return true;
  };
}

test('a missing file', async () => {
  const file = path.join(dir, 'nowhere.h5');
  await assert.rejects(readKerasModel(file), kerasError(file, /^file not found$/));
});

test('a file that is neither HDF5 nor zip', async () => {
  const file = path.join(dir, 'notes.h5');
  await writeFile(file, 'these are not weights\n');
  await assert.rejects(readKerasModel(file), kerasError(file, /neither an HDF5 file .* nor a zip archive/));
});

test('a truncated .h5 says how much is missing', async () => {
  const file = path.join(dir, 'truncated.h5');
  await copyFile(RESNET8_H5, file);
  const size = (await readFile(RESNET8_H5)).byteLength;
  await truncate(file, 400_000);
  await assert.rejects(readKerasModel(file), kerasError(file, new RegExp(`truncated \\(400000 bytes on disk, ${size} expected\\)`)));
});

test('an .h5 with overwritten metadata is reported, not crashed on', async () => {
  const data = await readFile(RESNET8_H5);
  // Offsets into the HDF5 superblock / object headers (found by trying): each breaks a different layer of the file.
  for (const offset of [800, 3000, 60_000]) {
    const file = path.join(dir, `corrupt-${offset}.h5`);
    const bad = Buffer.from(data);
    bad.fill(0xff, offset, offset + 2048);
    await writeFile(file, bad);
    await assert.rejects(readKerasModel(file), kerasError(file, /HDF5|not valid JSON/));
  }
});

test('an HDF5 file of weights only (save_weights) is told apart from a model', async () => {
  await h5wasm.ready;
  const file = path.join(dir, 'weights-only.h5');
  const f = new h5wasm.File(file, 'w');
  f.create_attribute('layer_names', ['fc1']);
  f.create_group('fc1');
  f.close();
  await assert.rejects(readKerasModel(file), kerasError(file, /holds only weights .*save the whole model with model.save\(\)/));
});

test('a Keras 2 .h5 whose model_weights lack a listed layer', async () => {
  await h5wasm.ready;
  const file = path.join(dir, 'no-layer-group.h5');
  const f = new h5wasm.File(file, 'w');
  const config = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'fc1', units: 4, batch_input_shape: [null, 8] } }] } };
  f.create_attribute('model_config', JSON.stringify(config));
  const mw = f.create_group('model_weights');
  mw.create_attribute('layer_names', ['fc1']);
  f.close();
  await assert.rejects(readKerasModel(file), kerasError(file, /model_weights lists layer fc1 but holds no group for it/));
});

test('a subclassed model cannot be rebuilt and says why', async () => {
  const file = path.join(dir, 'subclassed.keras');
  await writeKeras3Archive(file, { module: 'my_project', class_name: 'MyModel', config: { layers: [] }, registered_name: 'Custom>MyModel' }, []);
  await assert.rejects(readKerasModel(file), kerasError(file, /is a MyModel \(Custom>MyModel\), not a Sequential or functional model/));
});

test('a truncated .keras archive', async () => {
  const file = path.join(dir, 'truncated.keras');
  await writeKeras3Archive(file, keras3MlpConfig(), mlpVarsGroups(weights));
  const size = (await readFile(file)).byteLength;
  await truncate(file, Math.floor(size / 2));
  await assert.rejects(readKerasModel(file), kerasError(file, /not a readable zip archive/));
});

test('a .keras archive without config.json, or without weights', async () => {
  const noConfig = path.join(dir, 'no-config.keras');
  await writeKeras3Archive(noConfig, keras3MlpConfig(), mlpVarsGroups(weights), { 'config.json': null });
  await assert.rejects(readKerasModel(noConfig), kerasError(noConfig, /has no config.json; it is not a Keras 3 model \(entries: metadata.json, model.weights.h5\)/));

  const noWeights = path.join(dir, 'no-weights.keras');
  await writeKeras3Archive(noWeights, keras3MlpConfig(), [], { 'model.weights.h5': null });
  await assert.rejects(readKerasModel(noWeights), kerasError(noWeights, /has no model.weights.h5; the weights are missing/));

  const otherZip = path.join(dir, 'photos.keras');
  await writeFile(otherZip, zipSync({ 'a.txt': new TextEncoder().encode('hello') }));
  await assert.rejects(readKerasModel(otherZip), kerasError(otherZip, /has no config.json/));
});

test('a layer whose weights are missing from model.weights.h5 is named with where they were looked for', async () => {
  const file = path.join(dir, 'missing-layer-weights.keras');
  const groups = mlpVarsGroups(weights).filter((g) => g.key !== 'layers/dense_1');
  await writeKeras3Archive(file, keras3MlpConfig(), groups);
  await assert.rejects(
    readKerasModel(file),
    kerasError(file, /layer fc2 \(Dense\) needs 2 weights \(kernel \[4,2\], bias \[2\]\) but layers\/dense_1\/vars holds 0/),
  );
});

test('a weight whose shape does not match the topology', async () => {
  const file = path.join(dir, 'wrong-shape.keras');
  const [, b1, k2, b2] = weights;
  const wide = { shape: [8, 5], values: new Float32Array(40) };
  await writeKeras3Archive(file, keras3MlpConfig(), mlpVarsGroups([wide, b1!, k2!, b2!]));
  await assert.rejects(readKerasModel(file), kerasError(file, /layer fc1 \(Dense\): weight kernel should have shape \[8,4\] but layers\/dense\/vars holds \[8,5\]/));
});

test('layer classes TensorFlow.js cannot build are all named, with their module', async () => {
  const file = path.join(dir, 'qkeras.keras');
  const config = keras3MlpConfig();
  const layers = config.config.layers;
  layers[1] = { ...layers[1], module: 'qkeras.qlayers', class_name: 'QDense', registered_name: 'qkeras>QDense' };
  layers[2] = keras3Layer('QActivation', { name: 'relu1', activation: 'quantized_relu(6)' }, { module: 'qkeras.qlayers', registered_name: 'qkeras>QActivation' });
  await writeKeras3Archive(file, config, mlpVarsGroups(weights));
  await assert.rejects(
    readKerasModel(file),
    kerasError(file, /TensorFlow.js cannot build layers fc1 \(QDense from qkeras.qlayers\), relu1 \(QActivation from qkeras.qlayers\): unknown layer classes\. Replace them with standard Keras layers/),
  );
});

test('a real Keras file with a layer tfjs cannot build names that layer', async () => {
  await assert.rejects(readKerasModel(GRU_KERAS2), kerasError(GRU_KERAS2, /TensorFlow.js cannot build layer gru \(GRU\): .*reset_after/));
});

test('a layer class tfjs knows with an option it cannot build is reported with the model file', async () => {
  // Keras 2's GRU(reset_after=True) (its default since TF 2) exists in tfjs but without reset_after.
  const file = path.join(dir, 'gru.keras');
  const config = keras3MlpConfig();
  config.config.layers = [
    keras3Layer('InputLayer', { batch_shape: [null, 5, 3], dtype: 'float32', sparse: false, name: 'seq' }),
    keras3Layer('GRU', { name: 'gru', units: 2, activation: 'tanh', recurrent_activation: 'sigmoid', use_bias: true, reset_after: true, return_sequences: false }),
  ];
  await writeKeras3Archive(file, config, []);
  await assert.rejects(readKerasModel(file), kerasError(file, /TensorFlow.js cannot build layer gru \(GRU\): .*reset_after/));
});

test('an option tfjs would silently ignore but that changes the result is refused: Conv2D groups=2', async () => {
  const file = path.join(dir, 'grouped.keras');
  const config = keras3MlpConfig();
  config.config.layers = [
    keras3Layer('InputLayer', { batch_shape: [null, 8, 8, 4], dtype: 'float32', sparse: false, name: 'img' }),
    keras3Layer('Conv2D', { name: 'grouped', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 2, activation: 'linear', use_bias: false }),
  ];
  await writeKeras3Archive(file, config, [{ key: 'layers/conv2d', layerName: 'grouped', vars: [{ shape: [3, 3, 2, 4], values: new Float32Array(72) }] }]);
  await assert.rejects(readKerasModel(file), kerasError(file, /layer grouped \(Conv2D\) sets groups=2, which TensorFlow.js does not support/));
});

test('a layer Keras itself quantized (int8 dtype policy) is refused with the reason', async () => {
  const file = path.join(dir, 'int8.keras');
  const config = keras3MlpConfig();
  const fc1 = config.config.layers[1] as { config: Record<string, unknown> };
  fc1.config['dtype'] = { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32', source_name: 'float32' }, registered_name: null };
  await writeKeras3Archive(file, config, mlpVarsGroups(weights));
  await assert.rejects(readKerasModel(file), kerasError(file, /layer fc1 \(Dense\) was quantized by Keras \(QuantizedDTypePolicy\)/));
});

test('the registry leaves files of other extensions to other readers', async () => {
  const file = path.join(dir, 'model.pb');
  await writeFile(file, 'x');
  await assert.rejects(readModelFile(file), /not a model format the studio reads \(supported: .*keras-h5, keras\)/);
});
