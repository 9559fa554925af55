/**
 * What keras.applications models write that the Keras readers must take, each
 * in a Keras 2 .h5 and a Keras 3 .keras written in Keras's layouts
 * (keras-nested-fixtures.ts): Keras 3's activation names (its hard_sigmoid is
 * not Keras 2's, and a Keras 3 .h5 says so by its keras_version), ReLU's
 * negative_slope / threshold at their defaults (other values refused),
 * Normalization's int64 count, Dropout with a noise shape (EfficientNet's
 * drop-connect: the identity at inference, kept for training), and the
 * arithmetic with constants of MobileNetV3's hard sigmoid as Keras 3
 * operations and Keras 2 TFOpLambda layers. Then a TF.js model.json whose
 * inbound node names a call that does not exist: refused, where tfjs would
 * wait forever.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { Normalization } from '../../../../src-main/engine/graph/tfjs-compat/index.js';
import type { Graph, GraphNode } from '../../../../src-main/engine/graph/types.js';
import { KerasModelError } from '../../../../src-main/io/models/keras/read.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { ModelReadError, writeLayersModelFiles } from '../../../../src-main/io/models/tfjs-layers.js';
import { tempDir } from '../../../helpers/temp.js';
import { maxAbsDiff, perturbWeights, randomInput } from '../../engine/graph/fixtures.js';
import { writeKeras2H5, writeKeras3, type WriteOptions } from './keras-nested-fixtures.js';
import { keras2HardSigmoidOps, keras3HardSigmoidOps } from './keras-ops-fixtures.js';

type T = tf.SymbolicTensor;
type Json = Record<string, unknown>;

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('keras-applications-test-');
});

const init = (seed: number) => tf.initializers.glorotUniform({ seed });

function run(graph: Graph, x: tf.Tensor, training = false): tf.Tensor {
  const rt = new GraphRuntime(graph, { trainable: training });
  try {
    return tf.tidy(() => rt.apply(x, training ? { training: true } : undefined));
  } finally {
    rt.dispose();
  }
}

const node = (graph: Graph, name: string): GraphNode => {
  const n = graph.nodes.find((g) => g.name === name);
  assert.ok(n, `graph has no node ${name}: ${graph.nodes.map((g) => g.name).join(', ')}`);
  return n;
};

type Format = 'h5' | 'keras';
let written = 0;
async function write(model: tf.LayersModel, format: Format, options: WriteOptions = {}): Promise<string> {
  const file = path.join(dir, `m${written++}.${format}`);
  if (format === 'h5') await writeKeras2H5(file, model, 'own', options);
  else await writeKeras3(file, model, written % 2 === 0, options);
  return file;
}

/** Every layer config of a Keras config (nested ones too) named `name`, changed by `edit`. */
function editLayer(name: string, edit: (config: Json) => void): (config: Json) => Json {
  return (config) => {
    const walk = (model: Json) => {
      for (const l of (model['config'] as Json)['layers'] as Json[]) {
        if ((l['config'] as Json)['name'] === name) edit(l['config'] as Json);
        if (Array.isArray((l['config'] as Json)['layers'])) walk(l);
      }
    };
    walk(config);
    return config;
  };
}

/** input [4,4,3] → conv → gate (an Activation of `activation`) → conv · gate → conv_1. */
function gateModel(activation: string): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 3], name: 'input_layer' });
  const conv = tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 1, kernelInitializer: init(1) }).apply(input) as T;
  const gate = tf.layers.activation({ name: 'gate', activation: activation as 'relu' }).apply(conv) as T;
  const mul = tf.layers.multiply({ name: 'mul' }).apply([conv, gate]) as T;
  const out = tf.layers.conv2d({ name: 'conv_1', filters: 2, kernelSize: 1, kernelInitializer: init(2) }).apply(mul) as T;
  const model = tf.model({ inputs: input, outputs: out, name: 'gated' });
  perturbWeights(model, 3);
  return model;
}

/** The model's predict and the graph read back agree; returns the graph. */
async function readsAs(file: string, model: tf.LayersModel, x: tf.Tensor, tolerance = 1e-5): Promise<Graph> {
  const { graph } = await readModelFile(file);
  const want = model.predict(x) as tf.Tensor;
  const got = run(graph, x);
  try {
    assert.ok(maxAbsDiff(got, want) <= tolerance, `${path.basename(file)} differs from the model by ${maxAbsDiff(got, want)}`);
  } finally {
    tf.dispose([want, got]);
  }
  return graph;
}

// Inputs in [-6, 6]: both hard sigmoids saturate on each side, and they differ in between.
const wide = () => tf.tidy(() => tf.mul(randomInput([2, 4, 4, 3], 5), 6));

test("Keras 3's hard_sigmoid is relu6(x + 3) / 6, Keras 2's clip(0.2x + 0.5): by the file's Keras, .h5 files of Keras 3 included", async () => {
  const keras3 = gateModel('keras3HardSigmoid');
  const keras2 = gateModel('hardSigmoid');
  const x = wide();
  try {
    // Keras 3's archive writes 'hard_sigmoid' for its own function.
    const g3 = await readsAs(await write(keras3, 'keras'), keras3, x);
    assert.equal((node(g3, 'gate') as { activation: string }).activation, 'hard_sigmoid');
    // A Keras 2 .h5 with 'hard_sigmoid' means Keras 2's.
    const g2 = await readsAs(await write(keras2, 'h5'), keras2, x);
    assert.equal((node(g2, 'gate') as { activation: string }).activation, 'hard_sigmoid_keras2');
    // Keras 3 saving a .h5 (keras_version 3.x): 'hard_sigmoid' is Keras 3's again.
    const toKeras3Name = editLayer('gate', (c) => (c['activation'] = 'hard_sigmoid'));
    const g3h5 = await readsAs(await write(keras3, 'h5', { transform: toKeras3Name, kerasVersion: '3.6.0' }), keras3, x);
    assert.equal((node(g3h5, 'gate') as { activation: string }).activation, 'hard_sigmoid');
    // The same config said by Keras 2.15 is Keras 2's function, whatever the model was.
    const g2h5 = await readsAs(await write(keras2, 'h5', { transform: toKeras3Name, kerasVersion: '2.15.0' }), keras2, x);
    assert.equal((node(g2h5, 'gate') as { activation: string }).activation, 'hard_sigmoid_keras2');
  } finally {
    tf.dispose(x);
    keras3.dispose();
    keras2.dispose();
  }
});

test("Keras 3's silu and hard_silu (hard_swish) load as the IR's swish and hard_swish, in layers and in Activation layers", async () => {
  const input = tf.input({ shape: [4, 4, 3], name: 'input_layer' });
  let y = tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 1, activation: 'swish', kernelInitializer: init(1) }).apply(input) as T;
  y = tf.layers.activation({ name: 'hs', activation: 'hardSwish' as 'relu' }).apply(y) as T;
  y = tf.layers.dense({ name: 'dense', units: 3, activation: 'hardSwish' as 'relu', kernelInitializer: init(2) }).apply(y) as T;
  const model = tf.model({ inputs: input, outputs: y });
  const x = wide();
  try {
    const g = await readsAs(await write(model, 'keras'), model, x);
    // A Dense / Conv2D may carry it or hand it to an Activation node of its own (`<name>/<activation>`).
    const activationOf = (name: string) => {
      const own = (node(g, name) as { activation: string }).activation;
      const split = g.nodes.find((n) => n.name.startsWith(`${name}/`) && n.inputs[0] === name) as { activation?: string } | undefined;
      return own === 'linear' && split ? split.activation : own;
    };
    assert.deepEqual(['conv', 'hs', 'dense'].map(activationOf), ['swish', 'hard_swish', 'hard_swish']);
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

test('SeparableConv2D, DepthwiseConv2D, ZeroPadding2D and GlobalAveragePooling2D(keepdims) as Keras writes them load, computing what tfjs does', async () => {
  const input = tf.input({ shape: [6, 6, 3], name: 'input_layer' });
  let y = tf.layers.zeroPadding2d({ name: 'pad', padding: [[0, 1], [0, 1]] }).apply(input) as T;
  y = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, padding: 'valid', depthMultiplier: 2, useBias: false, depthwiseInitializer: init(1) }).apply(y) as T;
  y = tf.layers.separableConv2d({ name: 'sep', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: init(2), pointwiseInitializer: init(3) }).apply(y) as T;
  const pooled = (new (tf.serialization.SerializationMap.getMap().classNameMap['GlobalAveragePooling2D']![0] as never as new (a: object) => tf.layers.Layer)({ name: 'gap', keepdims: true })).apply(y) as T;
  const out = tf.layers.multiply({ name: 'scale' }).apply([y, pooled]) as T;
  const model = tf.model({ inputs: input, outputs: out });
  perturbWeights(model, 4);
  const x = tf.tidy(() => tf.mul(randomInput([2, 6, 6, 3], 5), 6));
  try {
    for (const format of ['h5', 'keras'] as const) {
      const g = await readsAs(await write(model, format), model, x);
      assert.deepEqual(
        g.nodes.map((n) => n.op),
        ['input', 'zeroPad2d', 'depthwiseConv2d', 'depthwiseConv2d', 'conv2d', 'globalAvgPool2d', 'multiply'],
      );
    }
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

test('ReLU as Keras writes it (negative_slope 0.0, threshold 0.0, max_value 6.0 or None) loads; any other slope or threshold is refused naming the layer', async () => {
  const input = tf.input({ shape: [4, 4, 3], name: 'input_layer' });
  let y = tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 1, kernelInitializer: init(1) }).apply(input) as T;
  y = tf.layers.reLU({ name: 'relu6', maxValue: 6 }).apply(y) as T;
  y = tf.layers.reLU({ name: 'relu' }).apply(y) as T;
  const model = tf.model({ inputs: input, outputs: y });
  const x = wide();
  try {
    for (const format of ['h5', 'keras'] as const) {
      const g = await readsAs(await write(model, format), model, x);
      assert.deepEqual([node(g, 'relu6'), node(g, 'relu')].map((n) => (n as { activation: string }).activation), ['relu6', 'relu']);
      for (const [key, value] of [
        ['negative_slope', 0.1],
        ['threshold', 0.5],
      ] as const) {
        const file = await write(model, format, { transform: editLayer('relu', (c) => (c[key] = value)) });
        await assert.rejects(readModelFile(file), (e: Error) => {
          assert.ok(e instanceof KerasModelError, String(e));
          assert.match(e.message, new RegExp(`layer relu \\(ReLU\\) sets ${key}=${value}, which TensorFlow.js does not support`));
          return true;
        });
      }
    }
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

/** Normalization with adapted statistics (mean 1, -2, 3; variance 4, 9, 0.25; count 7), as EfficientNet's stem carries one. */
function normalizationModel(invert: boolean): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 3], name: 'input_layer' });
  const norm = new Normalization({ name: 'normalization', axis: -1, invert });
  const y = norm.apply(input) as T;
  const out = tf.layers.conv2d({ name: 'conv', filters: 2, kernelSize: 1, kernelInitializer: init(4) }).apply(y) as T;
  const model = tf.model({ inputs: input, outputs: out });
  const stats = [tf.tensor1d([1, -2, 3]), tf.tensor1d([4, 9, 0.25]), tf.scalar(7)];
  norm.setWeights(stats);
  tf.dispose(stats);
  return model;
}

test("Normalization's count is int64 in Keras files and float32 in tfjs: read as a number; the layer computes (x − mean)/√var, or its inverse", async () => {
  const x = wide();
  try {
    for (const invert of [false, true]) {
      const model = normalizationModel(invert);
      try {
        for (const format of ['h5', 'keras'] as const) {
          const file = await write(model, format);
          assert.equal(await countDtype(file), '<q', `${format}: the writer stores count as int64, as Keras does`);
          const g = await readsAs(file, model, x);
          const n = node(g, 'normalization');
          assert.equal(n.op, 'affine');
          const std = [2, 3, 0.5];
          const mean = [1, -2, 3];
          const want = invert ? { scale: std, offset: mean } : { scale: std.map((s) => 1 / s), offset: mean.map((m, i) => -m / std[i]!) };
          assert.deepEqual({ scale: (n as { scale: number[] }).scale.map((v) => +v.toFixed(6)), offset: (n as { offset: number[] }).offset.map((v) => +v.toFixed(6)) }, { scale: want.scale.map((v) => +v.toFixed(6)), offset: want.offset.map((v) => +v.toFixed(6)) });
        }
      } finally {
        model.dispose();
      }
    }
  } finally {
    tf.dispose(x);
  }
});

/** The dtype of the count dataset Keras 2 (model_weights/normalization/normalization/count:0) or Keras 3 (layers/normalization/vars/2) stores. */
async function countDtype(file: string): Promise<string> {
  await h5wasm.ready;
  let h5Path = file;
  if (file.endsWith('.keras')) {
    const { unzipSync } = await import('fflate');
    h5Path = `${file}.weights.h5`;
    writeFileSync(h5Path, unzipSync(readFileSync(file))['model.weights.h5']!);
  }
  const f = new h5wasm.File(h5Path, 'r');
  try {
    const ds = f.get(file.endsWith('.keras') ? 'layers/normalization/vars/2' : 'model_weights/normalization/normalization/count:0') as { dtype: string } | null;
    return String(ds?.dtype);
  } finally {
    f.close();
  }
}

test('Dropout with a noise shape (drop-connect) is a dropout node: the identity at inference, one keep/drop per sample in training', async () => {
  const input = tf.input({ shape: [4, 4, 3], name: 'input_layer' });
  const conv = tf.layers.conv2d({ name: 'conv', filters: 4, kernelSize: 1, kernelInitializer: init(1) }).apply(input) as T;
  const drop = tf.layers.dropout({ name: 'drop', rate: 0.5, noiseShape: [null, 1, 1, 1] as unknown as number[] }).apply(conv) as T;
  const out = tf.layers.add({ name: 'add' }).apply([drop, conv]) as T;
  const model = tf.model({ inputs: input, outputs: out });
  const x = tf.tidy(() => tf.add(tf.abs(randomInput([16, 4, 4, 3], 2)), 0.1));
  try {
    for (const format of ['json', 'h5', 'keras'] as const) {
      const file = format === 'json' ? (await writeLayersModelFiles(model, path.join(dir, `drop${written++}`)))[0]! : await write(model, format);
      const g = await readsAs(file, model, x);
      assert.deepEqual(node(g, 'drop'), { name: 'drop', inputs: ['conv'], outputShape: [4, 4, 4], op: 'dropout', rate: 0.5, noiseShape: [null, 1, 1, 1] });
      // Training: each sample's dropped branch is all zeros or all conv / keep.
      const rt = new GraphRuntime({ ...g, output: 'drop' }, { trainable: true });
      try {
        const [y, c] = tf.tidy(() => [rt.apply(x, { training: true }), (tf.model({ inputs: model.inputs, outputs: conv }).predict(x) as tf.Tensor).mul(2)]);
        const ratios = tf.tidy(() => tf.div(y!, c!).reshape([16, -1]));
        const rows = (await ratios.array()) as number[][];
        for (const row of rows) assert.ok(row.every((v) => Math.abs(v) < 1e-6) || row.every((v) => Math.abs(v - 1) < 1e-5), `a sample is dropped whole or kept whole: ${row.slice(0, 6)}`);
        tf.dispose([y!, c!, ratios]);
      } finally {
        rt.dispose();
      }
    }
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

test("MobileNetV3's hard sigmoid as Keras writes it (Keras 3 operations, Keras 2 TFOpLambda layers: x + 3.0, ReLU(6.0), · 1/6) reads as Rescaling → ReLU6 → Rescaling", async () => {
  const model = gateModel('keras3HardSigmoid');
  const x = wide();
  try {
    // Keras 3: ops Add / Multiply of keras.src.ops.numpy, called on a tensor and a constant; with and without the vars name attribute.
    for (let i = 0; i < 2; i++) {
      const file = await write(model, 'keras', { transform: keras3HardSigmoidOps });
      const config = JSON.parse(Buffer.from((await import('fflate')).unzipSync(readFileSync(file))['config.json']!).toString('utf8')) as { config: { layers: Json[] } };
      assert.ok(config.config.layers.some((l) => l['module'] === 'keras.src.ops.numpy' && l['class_name'] === 'Add'), 'the file holds the operations');
      const g = await readsAs(file, model, x);
      assert.deepEqual(
        ['add', 're_lu_hs', 'multiply_hs'].map((n) => {
          const v = node(g, n) as { op: string; scale?: number[]; offset?: number[]; activation?: string };
          return v.op === 'affine' ? `affine ${v.scale} ${v.offset}` : `${v.op} ${v.activation}`;
        }),
        ['affine 1 3', 'activation relu6', `affine ${1 / 6} 0`],
      );
      assert.deepEqual(node(g, 'mul').inputs, ['conv', 'multiply_hs']);
    }
    // Keras 2: TFOpLambda layers named tf.__operators__.add and tf.math.multiply, the constant in the call's kwargs.
    const g2 = await readsAs(await write(model, 'h5', { transform: (c) => keras2HardSigmoidOps(c) }), model, x);
    assert.deepEqual(node(g2, 'tf.math.multiply').inputs, ['re_lu_hs']);
    assert.equal((node(g2, 'tf.__operators__.add') as { offset: number[] }).offset[0], 3);
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

test('a Keras 3 operation other than arithmetic with a constant is refused naming the layer', async () => {
  const model = gateModel('keras3HardSigmoid');
  try {
    const tensorTimesTensor = (config: Json) => {
      const c = keras3HardSigmoidOps(config);
      const mul = ((c['config'] as Json)['layers'] as Json[]).find((l) => l['name'] === 'multiply_hs')!;
      const args = ((mul['inbound_nodes'] as Json[])[0]!['args'] as unknown[]);
      args[1] = args[0];
      return c;
    };
    const mean = (config: Json) => {
      const c = keras3HardSigmoidOps(config);
      ((c['config'] as Json)['layers'] as Json[]).find((l) => l['name'] === 'multiply_hs')!['class_name'] = 'Mean';
      return c;
    };
    await assert.rejects(readModelFile(await write(model, 'keras', { transform: tensorTimesTensor })), /layer multiply_hs \(keras\.src\.ops\.numpy Multiply\) is not a tensor and a constant number/);
    await assert.rejects(readModelFile(await write(model, 'keras', { transform: mean })), /layer multiply_hs is the Keras operation keras\.src\.ops\.numpy Mean, which the studio cannot read/);
  } finally {
    model.dispose();
  }
});

/**
 * The model.json tensorflowjs's converter writes for a tf.keras 2 model (keras_h5_conversion: the
 * model's to_json() under model_config, class Functional): its TFOpLambda layers as they are.
 */
async function tensorflowjsModelJson(model: tf.LayersModel, name: string, edit: (config: Json) => Json): Promise<string> {
  const [jsonPath] = await writeLayersModelFiles(model, path.join(dir, name));
  const json = JSON.parse(readFileSync(jsonPath!, 'utf8')) as Json;
  const topology = json['modelTopology'] as Json;
  json['modelTopology'] = { keras_version: '2.15.0', backend: 'tensorflow', model_config: edit({ ...topology, class_name: 'Functional' }) };
  json['generatedBy'] = 'keras v2.15.0';
  json['convertedBy'] = 'TensorFlow.js Converter v4.22.0';
  writeFileSync(jsonPath!, JSON.stringify(json));
  return jsonPath!;
}

test("a TF.js model.json of a tf.keras MobileNetV3 (tensorflowjs's converter keeps its TFOpLambda layers x + 3.0, · 1/6) reads them as Rescaling, as the Keras readers do", async () => {
  const model = gateModel('keras3HardSigmoid');
  const x = wide();
  try {
    const jsonPath = await tensorflowjsModelJson(model, 'tfoplambda', (c) => keras2HardSigmoidOps(c));
    const written = readFileSync(jsonPath, 'utf8');
    assert.match(written, /"class_name":"TFOpLambda".*"function":"__operators__\.add"/, 'the file holds the TFOpLambda layers');
    assert.match(written, /"model_config":\{"class_name":"Functional"/);
    const g = await readsAs(jsonPath, model, x);
    assert.equal((await readModelFile(jsonPath)).format, 'tfjs-layers');
    assert.deepEqual(
      ['tf.__operators__.add', 're_lu_hs', 'tf.math.multiply'].map((n) => {
        const v = node(g, n) as { op: string; scale?: number[]; offset?: number[]; activation?: string; kerasClass?: string };
        return v.op === 'affine' ? `affine ${v.kerasClass} ${v.scale} ${v.offset}` : `${v.op} ${v.activation}`;
      }),
      ['affine Rescaling 1 3', 'activation relu6', `affine Rescaling ${1 / 6} 0`],
    );
    assert.deepEqual(node(g, 'tf.__operators__.add').inputs, ['conv']);
    assert.deepEqual(node(g, 'mul').inputs, ['conv', 'tf.math.multiply']);
    // x − c, c − x and x / c as Keras 2 writes them (tf.math.subtract with y; tf.math.truediv).
    const arithmetic = await tensorflowjsModelJson(model, 'tfoplambda-arith', (c) => {
      const out = keras2HardSigmoidOps(c) as Json;
      const layers = (out['config'] as Json)['layers'] as Json[];
      const mul = layers.find((l) => l['name'] === 'tf.math.multiply')!;
      (mul['config'] as Json)['function'] = 'math.truediv';
      ((mul['inbound_nodes'] as unknown[][][])[0]![0]![3] as Json)['y'] = 6;
      const add = layers.find((l) => l['name'] === 'tf.__operators__.add')!;
      (add['config'] as Json)['function'] = 'math.subtract';
      ((add['inbound_nodes'] as unknown[][][])[0]![0]![3] as Json)['y'] = -3;
      return out;
    });
    const ga = await readsAs(arithmetic, model, x);
    assert.deepEqual((node(ga, 'tf.__operators__.add') as { offset: number[] }).offset, [3]);
    assert.ok(Math.abs((node(ga, 'tf.math.multiply') as { scale: number[] }).scale[0]! - 1 / 6) < 1e-15);
  } finally {
    tf.dispose(x);
    model.dispose();
  }
});

test('a TFOpLambda function other than arithmetic with a constant is refused naming the layer and the function, in model.json and .h5 alike', async () => {
  const model = gateModel('keras3HardSigmoid');
  try {
    const reduceMean = (c: Json) => {
      const out = keras2HardSigmoidOps(c) as Json;
      const mul = ((out['config'] as Json)['layers'] as Json[]).find((l) => l['name'] === 'tf.math.multiply')!;
      (mul['config'] as Json)['function'] = 'math.reduce_mean';
      return out;
    };
    const message = /layer tf\.math\.multiply is a TFOpLambda calling tf\.math\.reduce_mean, which the studio cannot read: it reads TFOpLambda layers that add, subtract, multiply or divide by a constant \(.*tf\.math\.multiply.*\)\. Replace the operation with a Keras layer/;
    const jsonPath = await tensorflowjsModelJson(model, 'tfoplambda-mean', reduceMean);
    await assert.rejects(readModelFile(jsonPath), (e: Error) => {
      assert.ok(e instanceof ModelReadError, String(e));
      assert.equal(e.file, jsonPath);
      assert.match(e.message, message);
      return true;
    });
    await assert.rejects(readModelFile(await write(model, 'h5', { transform: reduceMean })), (e: Error) => {
      assert.ok(e instanceof KerasModelError, String(e));
      assert.match(e.message, message);
      return true;
    });
  } finally {
    model.dispose();
  }
});

test("a TF.js model.json whose inbound node reads a call the layer does not have is refused (tfjs's loadLayersModel would never return)", { timeout: 20_000 }, async () => {
  const model = gateModel('relu');
  try {
    const [jsonPath] = await writeLayersModelFiles(model, path.join(dir, 'bad-call'));
    const json = JSON.parse(readFileSync(jsonPath!, 'utf8')) as { modelTopology: { config: { layers: { name: string; inbound_nodes: unknown[][][] }[] } } };
    json.modelTopology.config.layers.find((l) => l.name === 'mul')!.inbound_nodes[0]![1]![1] = 1; // gate's call 1
    writeFileSync(jsonPath!, JSON.stringify(json));
    await assert.rejects(readModelFile(jsonPath!), (e: Error) => {
      assert.ok(e instanceof ModelReadError, String(e));
      assert.match(e.message, /layer mul reads call 1 of layer gate, which is called 1 time/);
      return true;
    });
  } finally {
    model.dispose();
  }
});
