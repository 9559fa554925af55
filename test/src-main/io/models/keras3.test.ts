/**
 * Keras 3 archives (.keras: config.json + metadata.json + model.weights.h5 in
 * a zip). No public one under a known license was found, so these are written
 * here in the layout Keras 3's saving_lib writes (see keras-fixtures.ts and
 * test/fixtures/keras/README.md): once with the real MLP weights of the
 * hls4ml fixture, to match the Keras 2 import of the same model, and once as
 * a functional model checked against a forward pass written out by hand.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { readKerasModel } from '../../../../src-main/io/models/keras/read.js';
import { snakeCase } from '../../../../src-main/io/models/keras/weights.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { tempDir } from '../../../helpers/temp.js';
import {
  keras3Dense,
  keras3Initializer,
  keras3Layer,
  keras3MlpConfig,
  kerasTensor,
  MLP_KERAS2,
  mlpVarsGroups,
  mlpWeights,
  randomArray,
  seeded,
  writeKeras3Archive,
  type Array32,
} from './keras-fixtures.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = tempDir('keras3-test-');
});

function run(graph: Graph, input: Float32Array, shape: number[]): Float32Array {
  const rt = new GraphRuntime(graph, { trainable: false });
  try {
    return tf.tidy(() => rt.apply(tf.tensor(input, shape)).dataSync() as Float32Array).slice();
  } finally {
    rt.dispose();
  }
}

const dense = keras3Dense;

test('snake_case keys follow Keras naming.to_snake_case', () => {
  assert.equal(snakeCase('Dense'), 'dense');
  assert.equal(snakeCase('Conv2D'), 'conv2d');
  assert.equal(snakeCase('BatchNormalization'), 'batch_normalization');
  assert.equal(snakeCase('DepthwiseConv2D'), 'depthwise_conv2d');
  assert.equal(snakeCase('GlobalAveragePooling2D'), 'global_average_pooling2d');
  assert.equal(snakeCase('ReLU'), 're_lu');
  assert.equal(snakeCase('QDense'), 'q_dense');
});

test('a Keras 3 Sequential archive with the real MLP weights reads as the Keras 2 file does', async () => {
  const file = path.join(dir, 'mlp.keras');
  await writeKeras3Archive(file, keras3MlpConfig(), mlpVarsGroups(await mlpWeights()));
  const fromKeras3 = await readKerasModel(file);
  const fromKeras2 = await readKerasModel(MLP_KERAS2);
  assert.deepEqual(fromKeras3, fromKeras2);
  const rand = seeded(3);
  const x = Float32Array.from({ length: 4 * 8 }, () => rand() * 2);
  assert.deepEqual(run(fromKeras3, x, [4, 8]), run(fromKeras2, x, [4, 8]));
  const viaRegistry = await readModelFile(file);
  assert.equal(viaRegistry.format, 'keras');
  assert.equal(viaRegistry.name, 'mlp');
});

/**
 * inp(6) → branch_a = Dense(4, relu), branch_b = Dense(4) → Add → BatchNormalization → head = Dense(3, softmax).
 * Layer names differ from the weight keys (dense, dense_1, batch_normalization, dense_2) and the vars
 * groups carry no name attribute (as in Keras 3 before it wrote one), so the class-count keys are used.
 */
function functionalConfig(): unknown {
  const calls = (...tensors: [string, number][]) => [{ args: tensors.length === 1 ? [kerasTensor(tensors[0]![0], [null, tensors[0]![1]])] : [tensors.map(([l, n]) => kerasTensor(l, [null, n]))], kwargs: {} }];
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {
      name: 'two_branch',
      trainable: true,
      layers: [
        { ...keras3Layer('InputLayer', { batch_shape: [null, 6], dtype: 'float32', sparse: false, name: 'inp' }), name: 'inp', inbound_nodes: [] },
        { ...dense('branch_a', 4, 'relu', { build_config: { input_shape: [null, 6] } }), name: 'branch_a', inbound_nodes: calls(['inp', 6]) },
        { ...dense('branch_b', 4, 'linear'), name: 'branch_b', inbound_nodes: calls(['inp', 6]) },
        { ...keras3Layer('Add', { name: 'sum' }), name: 'sum', inbound_nodes: calls(['branch_a', 4], ['branch_b', 4]) },
        {
          ...keras3Layer('BatchNormalization', {
            name: 'norm',
            axis: -1,
            momentum: 0.99,
            epsilon: 0.001,
            center: true,
            scale: true,
            beta_initializer: keras3Initializer('Zeros'),
            gamma_initializer: keras3Initializer('Ones'),
            moving_mean_initializer: keras3Initializer('Zeros'),
            moving_variance_initializer: keras3Initializer('Ones'),
            beta_regularizer: null,
            gamma_regularizer: null,
            beta_constraint: null,
            gamma_constraint: null,
            synchronized: false,
          }),
          name: 'norm',
          inbound_nodes: calls(['sum', 4]),
        },
        { ...dense('head', 3, 'softmax', {}), name: 'head', inbound_nodes: calls(['norm', 4]) },
      ],
      // Keras 3 writes a single input or output unnested.
      input_layers: ['inp', 0, 0],
      output_layers: ['head', 0, 0],
    },
    registered_name: 'Functional',
    build_config: { input_shape: null },
    compile_config: null,
  };
}

test('a Keras 3 functional archive (keras tensors, Add, BatchNormalization, L2 regularizer; deflated, streamed zip) computes what its weights say', async () => {
  const rand = seeded(21);
  const w = {
    ka: randomArray([6, 4], rand),
    ba: randomArray([4], rand, 0.1),
    kb: randomArray([6, 4], rand),
    bb: randomArray([4], rand, 0.1),
    gamma: randomArray([4], rand),
    beta: randomArray([4], rand, 0.5),
    mean: randomArray([4], rand, 0.3),
    variance: { shape: [4], values: Float32Array.from([0.5, 1.5, 2, 0.25]) },
    kh: randomArray([4, 3], rand),
    bh: randomArray([3], rand, 0.1),
  };
  const config = functionalConfig() as { config: { layers: { config: Record<string, unknown> }[] } };
  // Keras 3 (and Keras ≥ 2.4) name it L2; tfjs knows only L1L2.
  config.config.layers[1]!.config['kernel_regularizer'] = { module: 'keras.regularizers', class_name: 'L2', config: { l2: 1e-4 }, registered_name: null };
  const file = path.join(dir, 'two_branch.keras');
  await writeKeras3Archive(file, config, [
    { key: 'layers/input_layer', vars: [] },
    { key: 'layers/dense', vars: [w.ka, w.ba] },
    { key: 'layers/dense_1', vars: [w.kb, w.bb] },
    { key: 'layers/add', vars: [] },
    { key: 'layers/batch_normalization', vars: [w.gamma, w.beta, w.mean, w.variance] },
    { key: 'layers/dense_2', vars: [w.kh, w.bh] },
  ], {}, 'streamed');
  const graph = await readKerasModel(file);
  assert.equal(graph.name, 'two_branch');
  assert.deepEqual(
    graph.nodes.map((n) => [n.name, n.op, n.inputs]),
    [
      ['inp', 'input', []],
      ['branch_a', 'dense', ['inp']],
      ['branch_b', 'dense', ['inp']],
      ['sum', 'add', ['branch_a', 'branch_b']],
      ['norm', 'batchNorm', ['sum']],
      ['head', 'dense', ['norm']],
    ],
  );
  const norm = graph.nodes.find((n) => n.name === 'norm');
  assert.ok(norm?.op === 'batchNorm');
  assert.deepEqual(norm.weights.movingVariance, w.variance);

  const dot = (x: number[], k: Array32, b: Array32) =>
    Array.from({ length: k.shape[1]! }, (_, j) => x.reduce((s, xi, i) => s + xi * k.values[i * k.shape[1]! + j]!, b.values[j]!));
  const reference = (x: number[]) => {
    const a = dot(x, w.ka, w.ba).map((v) => Math.max(0, v));
    const b = dot(x, w.kb, w.bb);
    const n = a.map((v, i) => ((v + b[i]! - w.mean.values[i]!) / Math.sqrt(w.variance.values[i]! + 1e-3)) * w.gamma.values[i]! + w.beta.values[i]!);
    const z = dot(n, w.kh, w.bh);
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((s, v) => s + v, 0);
    return e.map((v) => v / sum);
  };
  const xs = Array.from({ length: 4 }, () => Array.from({ length: 6 }, () => rand() * 2));
  const got = run(graph, Float32Array.from(xs.flat()), [4, 6]);
  xs.forEach((x, n) => reference(x).forEach((want, i) => assert.ok(Math.abs(got[n * 3 + i]! - want) <= 1e-5, `sample ${n} class ${i}: ${got[n * 3 + i]} vs ${want}`)));
});

test('a Keras 3 argument renamed since Keras 2 still reaches tfjs: LeakyReLU(negative_slope=0.1)', async () => {
  const rand = seeded(5);
  const kernel = randomArray([3, 4], rand);
  const bias = randomArray([4], rand, 0.1);
  const config = keras3MlpConfig();
  config.config.layers = [
    keras3Layer('InputLayer', { batch_shape: [null, 3], dtype: 'float32', sparse: false, name: 'x' }),
    keras3Dense('fc', 4, 'linear'),
    keras3Layer('LeakyReLU', { name: 'leaky', negative_slope: 0.1 }),
  ];
  const file = path.join(dir, 'leaky.keras');
  await writeKeras3Archive(file, config, [{ key: 'layers/dense', layerName: 'fc', vars: [kernel, bias] }]);
  const graph = await readKerasModel(file);
  const leaky = graph.nodes.find((n) => n.name === 'leaky');
  // LeakyReLU is an IR activation carrying the slope.
  assert.ok(leaky?.op === 'activation' && leaky.activation === 'leaky_relu' && leaky.alpha === 0.1, JSON.stringify(leaky && { op: leaky.op }));
  const xs = Array.from({ length: 6 }, () => Array.from({ length: 3 }, () => rand() * 3));
  const got = run(graph, Float32Array.from(xs.flat()), [6, 3]);
  let negatives = 0;
  xs.forEach((x, n) => {
    for (let j = 0; j < 4; j++) {
      const z = x.reduce((s, xi, i) => s + xi * kernel.values[i * 4 + j]!, bias.values[j]!);
      if (z < 0) negatives++;
      const want = z < 0 ? 0.1 * z : z;
      assert.ok(Math.abs(got[n * 4 + j]! - want) <= 1e-5 * (1 + Math.abs(want)), `sample ${n} unit ${j}: ${got[n * 4 + j]} vs ${want}`);
    }
  });
  assert.ok(negatives > 0, 'no negative pre-activation: the slope was not tested');
});
