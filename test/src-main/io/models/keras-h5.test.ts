/**
 * Keras 2 HDF5 models written by Keras itself (test/fixtures/keras/README.md):
 * the MLPerf Tiny ResNet8 (.h5, Keras 2.4) and an hls4ml MLP (HDF5 named
 * .keras, Keras 2.11). References are forward passes written out below in
 * plain JavaScript from the weights read straight out of the files with h5wasm.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, GraphNode } from '../../../../src-main/engine/graph/types.js';
import { readKerasModel } from '../../../../src-main/io/models/keras/read.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { MLP_KERAS2, RESNET8_H5, readDatasets, seeded, type Array32 } from './keras-fixtures.js';

before(async () => {
  await tf.setBackend('cpu');
});

function run(graph: Graph, input: Float32Array, shape: number[], opts: { logits?: boolean } = {}): Float32Array {
  const rt = new GraphRuntime(graph, { trainable: false });
  try {
    return tf.tidy(() => rt.apply(tf.tensor(input, shape), opts).dataSync() as Float32Array).slice();
  } finally {
    rt.dispose();
  }
}

function node(graph: Graph, name: string): GraphNode {
  const n = graph.nodes.find((x) => x.name === name);
  assert.ok(n, `graph has no node ${name}`);
  return n;
}

// ---------------------------------------------------------------------------
// hls4ml MLP: 8 → Dense(4) → ReLU → Dense(2) → ReLU

const MLP_WEIGHTS = ['fc1/fc1/kernel:0', 'fc1/fc1/bias:0', 'fc2/fc2/kernel:0', 'fc2/fc2/bias:0'].map((p) => `model_weights/${p}`);

function denseRef(x: number[], kernel: Array32, bias: Array32): number[] {
  const [inputs, units] = kernel.shape as [number, number];
  return Array.from({ length: units }, (_, j) => {
    let s = bias.values[j]!;
    for (let i = 0; i < inputs; i++) s += x[i]! * kernel.values[i * units + j]!;
    return s;
  });
}
const relu = (v: number[]) => v.map((x) => Math.max(0, x));

test('a Keras 2.11 HDF5 file named .keras is read by its content: layers, shapes and weights as saved', async () => {
  const graph = await readKerasModel(MLP_KERAS2);
  assert.equal(graph.name, 'sequential_1');
  assert.deepEqual(
    graph.nodes.map((n) => [n.name, n.op, n.outputShape]),
    [
      ['fc1_input', 'input', [8]],
      ['fc1', 'dense', [4]],
      ['relu1', 'activation', [4]],
      ['fc2', 'dense', [2]],
      ['relu2', 'activation', [2]],
    ],
  );
  assert.equal(graph.output, 'relu2');
  const h5 = await readDatasets(MLP_KERAS2, MLP_WEIGHTS);
  const fc1 = node(graph, 'fc1');
  assert.ok(fc1.op === 'dense');
  assert.deepEqual(fc1.weights.kernel, h5.get(MLP_WEIGHTS[0]!));
  assert.deepEqual(fc1.weights.bias, h5.get(MLP_WEIGHTS[1]!));
});

test('the MLP computes relu(relu(x·W1 + b1)·W2 + b2) with the saved weights', async () => {
  const graph = await readKerasModel(MLP_KERAS2);
  const h5 = await readDatasets(MLP_KERAS2, MLP_WEIGHTS);
  const [k1, b1, k2, b2] = MLP_WEIGHTS.map((p) => h5.get(p)!);
  const rand = seeded(7);
  const batch = Array.from({ length: 5 }, () => Array.from({ length: 8 }, () => rand() * 3));
  const got = run(graph, Float32Array.from(batch.flat()), [5, 8]);
  const want = batch.flatMap((x) => relu(denseRef(relu(denseRef(x, k1!, b1!)), k2!, b2!)));
  assert.equal(got.length, 10);
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-5 * (1 + Math.abs(w)), `output ${i}: ${got[i]} vs ${w}`));
  // Not all zero after the last ReLU, or the check above would prove little.
  assert.ok(want.some((w) => w > 0.01), `reference outputs ${want}`);
});

test('the registry reads .keras and .h5 through the Keras reader', async () => {
  const mlp = await readModelFile(MLP_KERAS2);
  assert.equal(mlp.format, 'keras');
  assert.equal(mlp.name, 'hls4ml_mlp_streaming');
  const resnet = await readModelFile(RESNET8_H5);
  assert.equal(resnet.format, 'keras-h5');
  assert.equal(resnet.name, 'mlcommons_tiny_resnet8');
});

// ---------------------------------------------------------------------------
// MLPerf Tiny ResNet8 (functional, Keras 2.4)

const CONVS = ['conv2d', 'conv2d_1', 'conv2d_2', 'conv2d_3', 'conv2d_4', 'conv2d_5', 'conv2d_6', 'conv2d_7', 'conv2d_8'];
const BNS = ['batch_normalization', ...[1, 2, 3, 4, 5, 6].map((i) => `batch_normalization_${i}`)];
const RESNET_WEIGHTS = [
  ...CONVS.flatMap((c) => [`model_weights/${c}/${c}/kernel:0`, `model_weights/${c}/${c}/bias:0`]),
  ...BNS.flatMap((b) => ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => `model_weights/${b}/${b}/${w}:0`)),
  'model_weights/dense/dense/kernel:0',
  'model_weights/dense/dense/bias:0',
];

/** An NHWC feature map of one image. */
interface Fmap {
  h: number;
  w: number;
  c: number;
  v: Float64Array;
}

/** TensorFlow 'same' padding: out = ceil(in / stride), the odd pad pixel at the bottom/right. */
function conv2dSame(x: Fmap, kernel: Array32, bias: Array32, stride: number): Fmap {
  const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
  const h = Math.ceil(x.h / stride);
  const w = Math.ceil(x.w / stride);
  const padTop = Math.floor(Math.max((h - 1) * stride + kh - x.h, 0) / 2);
  const padLeft = Math.floor(Math.max((w - 1) * stride + kw - x.w, 0) / 2);
  const v = new Float64Array(h * w * cout);
  for (let oy = 0; oy < h; oy++)
    for (let ox = 0; ox < w; ox++)
      for (let o = 0; o < cout; o++) {
        let s = bias.values[o]!;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * stride + ky - padTop;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ix = ox * stride + kx - padLeft;
            if (ix < 0 || ix >= x.w) continue;
            for (let i = 0; i < cin; i++) s += x.v[(iy * x.w + ix) * cin + i]! * kernel.values[((ky * kw + kx) * cin + i) * cout + o]!;
          }
        }
        v[(oy * w + ox) * cout + o] = s;
      }
  return { h, w, c: cout, v };
}

function batchNorm(x: Fmap, g: Array32, b: Array32, mean: Array32, variance: Array32, eps = 1e-3): Fmap {
  const v = x.v.map((val, i) => {
    const c = i % x.c;
    return ((val - mean.values[c]!) / Math.sqrt(variance.values[c]! + eps)) * g.values[c]! + b.values[c]!;
  });
  return { ...x, v };
}
const reluMap = (x: Fmap): Fmap => ({ ...x, v: x.v.map((a) => Math.max(0, a)) });
const addMap = (a: Fmap, b: Fmap): Fmap => ({ ...a, v: a.v.map((x, i) => x + b.v[i]!) });

/** The ResNet8 logits (before the softmax), written out from the model's layer list. */
function resnet8Logits(image: Float32Array, wt: Map<string, Array32>): number[] {
  const k = (l: string) => wt.get(`model_weights/${l}/${l}/kernel:0`)!;
  const b = (l: string) => wt.get(`model_weights/${l}/${l}/bias:0`)!;
  const conv = (x: Fmap, l: string, stride = 1) => conv2dSame(x, k(l), b(l), stride);
  const bn = (x: Fmap, l: string) => {
    const w = (n: string) => wt.get(`model_weights/${l}/${l}/${n}:0`)!;
    return batchNorm(x, w('gamma'), w('beta'), w('moving_mean'), w('moving_variance'));
  };
  const x0: Fmap = { h: 32, w: 32, c: 3, v: Float64Array.from(image) };
  const a = reluMap(bn(conv(x0, 'conv2d'), 'batch_normalization'));
  // Stack 1: identity shortcut.
  let y = reluMap(bn(conv(a, 'conv2d_1'), 'batch_normalization_1'));
  y = bn(conv(y, 'conv2d_2'), 'batch_normalization_2');
  const a2 = reluMap(addMap(a, y));
  // Stack 2: strided, 1x1 conv shortcut.
  y = reluMap(bn(conv(a2, 'conv2d_3', 2), 'batch_normalization_3'));
  y = bn(conv(y, 'conv2d_4'), 'batch_normalization_4');
  const a4 = reluMap(addMap(conv(a2, 'conv2d_5', 2), y));
  // Stack 3.
  y = reluMap(bn(conv(a4, 'conv2d_6', 2), 'batch_normalization_5'));
  y = bn(conv(y, 'conv2d_7'), 'batch_normalization_6');
  const a6 = reluMap(addMap(conv(a4, 'conv2d_8', 2), y));
  // AveragePooling2D(8) over the 8x8 map, Flatten, Dense(10).
  const pooled = Array.from({ length: a6.c }, (_, c) => {
    let s = 0;
    for (let i = 0; i < a6.h * a6.w; i++) s += a6.v[i * a6.c + c]!;
    return s / (a6.h * a6.w);
  });
  return denseRef(pooled, k('dense'), b('dense'));
}

test('ResNet8 imports with every layer modelled and every weight exactly as in the file', async () => {
  const graph = await readKerasModel(RESNET8_H5);
  const ops = graph.nodes.map((n) => n.op);
  assert.equal(ops.filter((o) => o === 'conv2d').length, 9);
  assert.equal(ops.filter((o) => o === 'batchNorm').length, 7);
  assert.equal(ops.filter((o) => o === 'add').length, 3);
  assert.ok(!ops.includes('layer'), `opaque layers: ${graph.nodes.filter((n) => n.op === 'layer').map((n) => n.name)}`);
  assert.deepEqual(node(graph, 'input_1').outputShape, [32, 32, 3]);
  assert.deepEqual(node(graph, 'add_1').inputs, ['conv2d_5', 'batch_normalization_4']);
  assert.deepEqual(node(graph, 'average_pooling2d').outputShape, [1, 1, 64]);
  const out = node(graph, 'dense');
  assert.ok(out.op === 'dense' && out.activation === 'softmax' && graph.output === 'dense');

  const h5 = await readDatasets(RESNET8_H5, RESNET_WEIGHTS);
  for (const c of CONVS) {
    const n = node(graph, c);
    assert.ok(n.op === 'conv2d');
    assert.deepEqual(n.weights.kernel, h5.get(`model_weights/${c}/${c}/kernel:0`), c);
    assert.deepEqual(n.weights.bias, h5.get(`model_weights/${c}/${c}/bias:0`), c);
  }
  for (const b of BNS) {
    const n = node(graph, b);
    assert.ok(n.op === 'batchNorm' && n.epsilon === 1e-3);
    assert.deepEqual(n.weights.gamma, h5.get(`model_weights/${b}/${b}/gamma:0`), b);
    assert.deepEqual(n.weights.movingVariance, h5.get(`model_weights/${b}/${b}/moving_variance:0`), b);
  }
});

test('ResNet8 logits and probabilities match a plain-JavaScript forward pass of the saved weights', async () => {
  const graph = await readKerasModel(RESNET8_H5);
  const h5 = await readDatasets(RESNET8_H5, RESNET_WEIGHTS);
  const rand = seeded(11);
  // Two images with values in [0, 1), as the model was trained on.
  const images = [0, 1].map(() => Float32Array.from({ length: 32 * 32 * 3 }, () => (rand() + 1) / 2));
  const batch = Float32Array.from([...images[0]!, ...images[1]!]);
  const logits = run(graph, batch, [2, 32, 32, 3], { logits: true });
  const probs = run(graph, batch, [2, 32, 32, 3]);
  images.forEach((image, n) => {
    const want = resnet8Logits(image, h5);
    const got = Array.from(logits.subarray(n * 10, n * 10 + 10));
    const spread = Math.max(...want) - Math.min(...want);
    assert.ok(spread > 0.5, `reference logits too flat to test with: ${want}`);
    want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-4 * (1 + Math.abs(w)), `image ${n} logit ${i}: ${got[i]} vs ${w}`));
    const z = Math.max(...want);
    const e = want.map((w) => Math.exp(w - z));
    const sum = e.reduce((s, x) => s + x, 0);
    e.forEach((x, i) => assert.ok(Math.abs(probs[n * 10 + i]! - x / sum) <= 1e-5, `image ${n} probability ${i}`));
  });
});
