/**
 * Nested models read from files: the nestings of nested-fixtures.ts written as
 * a TF.js model.json + weights (tfjs's own save), a Keras 2 .h5 and a Keras 3
 * .keras (keras-nested-fixtures.ts), read back through the studio's registry.
 * The reference is the nested tfjs model the files were written from: the same
 * layer path names, the same weights, and its predict to 1e-5. Then bad
 * nestings, refused naming the file and the layers.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { KerasModelError } from '../../../../src-main/io/models/keras/read.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { ModelReadError, writeLayersModelFiles, writeTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { tempDir } from '../../../helpers/temp.js';
import { maxAbsDiff, randomInput } from '../../engine/graph/fixtures.js';
import { assertWeightsAsModel, mismatchedNestedModel, NESTED_MODELS, sharedNestedModel, teachableMachineModel } from '../../engine/graph/nested-fixtures.js';
import { writeKeras2H5, writeKeras3 } from './keras-nested-fixtures.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('keras-nested-test-');
});

function run(graph: Graph, x: tf.Tensor): tf.Tensor {
  const rt = new GraphRuntime(graph, { trainable: false });
  try {
    return tf.tidy(() => rt.apply(x));
  } finally {
    rt.dispose();
  }
}

const slug = (what: string) => what.replace(/\W+/g, '_');

/** Each format: how it is written, and what the graph's input is called (Keras 3 gives a Sequential an InputLayer of its own). */
const FORMATS: { format: string; write: (model: tf.LayersModel, base: string, i: number) => Promise<string> }[] = [
  {
    format: 'tfjs-layers',
    write: async (model, base) => (await writeLayersModelFiles(model, base))[0]!,
  },
  {
    format: 'keras-h5',
    // Both ways Keras 2 may name a nested model's weights: "Conv1/kernel:0" and "sequential_1/model1/Conv1/kernel:0".
    write: async (model, base, i) => {
      const file = `${base}.h5`;
      await writeKeras2H5(file, model, i % 2 === 0 ? 'own' : 'path');
      return file;
    },
  },
  {
    format: 'keras',
    // With and without the layer name attribute that recent Keras 3 versions write on vars.
    write: async (model, base, i) => {
      const file = `${base}.keras`;
      await writeKeras3(file, model, i % 2 === 1);
      return file;
    },
  },
];

NESTED_MODELS.forEach(([what, build], i) => {
  for (const { format, write } of FORMATS) {
    test(`${what} as ${format}: read back with its path names, its weights and its outputs`, async () => {
      const model = build();
      const x = randomInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], 9);
      try {
        const file = await write(model, path.join(dir, `${slug(what)}-${format}`), i);
        const read = await readModelFile(file);
        assert.equal(read.format, format);
        const direct = graphFromLayersModel(model);
        const names = (g: Graph) => g.nodes.filter((n) => n.op !== 'input').map((n) => n.name);
        assert.deepEqual(names(read.graph), names(direct));
        assert.equal(read.graph.output, direct.output);
        assert.ok(assertWeightsAsModel(read.graph, model) >= 10);
        const want = model.predict(x) as tf.Tensor;
        const got = run(read.graph, x);
        assert.ok(maxAbsDiff(got, want) <= 1e-5, `differs from the nested model by ${maxAbsDiff(got, want)}`);
        tf.dispose([want, got]);
      } finally {
        tf.dispose(x);
        model.dispose();
      }
    });
  }
});

test('the TF.js export of a flattened nested model keeps the path names and loads in tf.loadLayersModel', async () => {
  const [, build] = NESTED_MODELS.find(([what]) => what === 'Teachable Machine')!;
  const model = build();
  const graph = graphFromLayersModel(model);
  const out = path.join(dir, 'exported');
  await writeTfjsLayersModel(graph, out);
  const back = await readModelFile(path.join(out, 'model.json'));
  // Path names with '/' survive tfjs-layers (it takes them in layer and weight names) and come back as the same graph.
  assert.deepEqual(back.graph, graph);
  assert.ok(graph.nodes.some((n) => n.name === 'sequential_1/model1/block_1_depthwise'));
  model.dispose();
});

/** The error a reader gives for a bad nesting, whatever the format: it names the file and the layers. */
async function refusal(file: string): Promise<string> {
  try {
    await readModelFile(file);
  } catch (e) {
    assert.ok(e instanceof ModelReadError || e instanceof KerasModelError, String(e));
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    return e.message.slice(file.length + 2);
  }
  assert.fail(`${file} was read`);
}

test('a shared nested model is refused naming it, in every format', async () => {
  const model = sharedNestedModel();
  for (const { format, write } of FORMATS) {
    const file = await write(model, path.join(dir, `shared-${format}`), 0);
    assert.equal(await refusal(file), 'layer shared_block (Model) is not supported: the nested model is called more than once (shared models are not supported)', format);
  }
  model.dispose();
});

test('a nested model called on a tensor of another shape is refused naming both layers and shapes, in every format', async () => {
  const model = mismatchedNestedModel();
  for (const { format, write } of FORMATS) {
    const file = await write(model, path.join(dir, `mismatch-${format}`), 0);
    assert.match(
      await refusal(file),
      /^layer mobilenetv2_base \((Model|Functional)\) is not supported: it expects an input of shape \[8,8,3\] \(its input layer input_1\) but is called on the output of layer image, of shape \[12,12,3\]$/,
      format,
    );
  }
  model.dispose();
});

test('a Keras 2 nested model weight that names no layer of the nested model is refused naming it', async () => {
  const model = teachableMachineModel();
  const file = path.join(dir, 'stray-weight.h5');
  await writeKeras2H5(file, model, 'own');
  model.dispose();
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'a');
  const head = f.get('model_weights/sequential_3') as InstanceType<typeof h5wasm.Group>;
  head.delete_attribute('weight_names');
  head.create_attribute('weight_names', ['dense_Dense1/kernel:0', 'dense_Dense1/bias:0', 'dense_Dense9/kernel:0']);
  f.close();
  assert.equal(await refusal(file), 'model_weights/sequential_3 holds weight dense_Dense9/kernel:0, which belongs to no layer of the nested model');
});
