/**
 * The keras.applications layer set in the IR: each layer of a small seeded
 * tfjs-layers model becomes the expected IR op, the runtime's forward pass
 * equals tfjs's model.predict (1e-5), and layersModelFromGraph gives a model
 * predicting the same (1e-5). Activations are also checked against their
 * closed forms (Keras 3's hard_sigmoid relu6(x + 3) / 6 against Keras 2's
 * clip(0.2x + 0.5, 0, 1)); Rescaling / Normalization against Keras'
 * (x − mean) / max(√var, 1e-7).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel, layersModelFromGraph } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { deserializeGraph, serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { kerasActivationForTfjs, Normalization } from '../../../../src-main/engine/graph/tfjs-compat/index.js';
import { nodeByName, type Graph, type GraphNode } from '../../../../src-main/engine/graph/types.js';
import { readTfjsLayersModel, writeLayersModelFiles } from '../../../../src-main/io/models/tfjs-layers.js';
import { maxAbsDiff, randomInput } from './fixtures.js';
import { ACTIVATION_CASES, activation, activationModel, BLOCKS, fusedActivationModel, LAYER_CASES, leakySoftmaxModel } from './mobile-fixtures.js';
import { tempDir } from '../../../helpers/temp.js';

before(async () => {
  await tf.setBackend('cpu');
});

function inputFor(model: tf.LayersModel, seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.mul(randomInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], seed), 2 * scale), scale));
}

/** Runtime and rebuilt model against model.predict; serialization keeps the graph. */
function checkAgainstTfjs(model: tf.LayersModel, graph: Graph, scale = 1): void {
  const x = inputFor(model, 7, scale);
  const expected = model.predict(x) as tf.Tensor;
  const rt = new GraphRuntime(graph);
  const got = rt.apply(x);
  const rebuilt = layersModelFromGraph(graph);
  const again = rebuilt.predict(x) as tf.Tensor;
  try {
    assert.deepEqual(got.shape, expected.shape);
    assert.ok(maxAbsDiff(got, expected) <= 1e-5, `runtime vs predict: max abs diff ${maxAbsDiff(got, expected)}`);
    assert.ok(maxAbsDiff(again, expected) <= 1e-5, `rebuilt model vs predict: max abs diff ${maxAbsDiff(again, expected)}`);
    assert.deepEqual(deserializeGraph(serializeGraph(graph)), graph);
  } finally {
    tf.dispose([x, expected, got, again]);
    rt.dispose();
    rebuilt.dispose();
  }
}

for (const c of LAYER_CASES) {
  test(`${c.name}: the expected IR ops; runtime and rebuilt model equal model.predict`, () => {
    const model = c.build();
    const graph = graphFromLayersModel(model);
    assert.deepEqual(
      graph.nodes.map((n) => `${n.name}:${n.op}`),
      c.nodes,
    );
    checkAgainstTfjs(model, graph);
    model.dispose();
  });
}

for (const b of BLOCKS) {
  test(`${b.name}: modelled op by op (no opaque layer); runtime and rebuilt model equal model.predict`, () => {
    const model = b.build();
    const graph = graphFromLayersModel(model);
    assert.deepEqual(
      graph.nodes.filter((n) => n.op === 'layer').map((n) => n.name),
      [],
    );
    checkAgainstTfjs(model, graph, b.inputScale);
    model.dispose();
  });
}

test('the block graphs hold the ops keras.applications builds them from', () => {
  const ops = (build: () => tf.LayersModel) => {
    const model = build();
    const graph = graphFromLayersModel(model);
    model.dispose();
    return graph;
  };
  const v2 = ops(BLOCKS[0]!.build);
  assert.deepEqual(nodeByName(v2, 'block_1_pad'), { name: 'block_1_pad', op: 'zeroPad2d', inputs: ['block_1_expand_relu'], outputShape: [9, 9, 12], padding: [[0, 1], [0, 1]] });
  const dw = nodeByName(v2, 'block_1_depthwise');
  assert.ok(dw.op === 'depthwiseConv2d' && dw.padding === 'valid' && dw.strides[0] === 2 && dw.outputShape[0] === 4);
  assert.equal(nodeByName(v2, 'block_2_add').op, 'add');
  const v3 = ops(BLOCKS[1]!.build);
  const act = (g: Graph, name: string) => {
    const n = nodeByName(g, name);
    return n.op === 'activation' ? n.activation : n.op;
  };
  assert.equal(act(v3, 'expand_hard_swish'), 'hard_swish');
  assert.equal(act(v3, 'se_hard_sigmoid'), 'hard_sigmoid');
  assert.deepEqual(nodeByName(v3, 'se_avg_pool'), { name: 'se_avg_pool', op: 'globalAvgPool2d', inputs: ['depthwise_hard_swish'], outputShape: [1, 1, 8], keepdims: true });
  assert.deepEqual(nodeByName(v3, 'se_mul').inputs, ['depthwise_hard_swish', 'se_hard_sigmoid']);
  const eff = ops(BLOCKS[2]!.build);
  assert.deepEqual(
    eff.nodes.slice(0, 4).map((n) => n.op),
    ['input', 'affine', 'affine', 'affine'],
  );
  assert.equal(act(eff, 'stem_activation'), 'swish');
  // The squeeze-and-excite convs' own swish / sigmoid become Activation nodes after the (linear) conv.
  const reduce = nodeByName(eff, 'block1a_se_reduce');
  assert.ok(reduce.op === 'conv2d' && reduce.activation === 'linear');
  assert.equal(act(eff, 'block1a_se_reduce/swish'), 'swish');
  assert.deepEqual(nodeByName(eff, 'block1a_se_expand').inputs, ['block1a_se_reduce/swish']);
  assert.deepEqual(nodeByName(eff, 'block1a_se_excite').inputs, ['block1a_activation', 'block1a_se_expand/sigmoid']);
});

test('ZeroPadding2D, Cropping2D and UpSampling2D keep their amounts in Keras order ((top, bottom), (left, right))', () => {
  const nodes = LAYER_CASES.slice(0, 3).map((c) => {
    const model = c.build();
    const graph = graphFromLayersModel(model);
    model.dispose();
    return graph.nodes[1]!;
  });
  assert.deepEqual(nodes.map((n) => ({ ...n, name: undefined, inputs: undefined })), [
    { name: undefined, inputs: undefined, op: 'zeroPad2d', outputShape: [8, 6, 2], padding: [[1, 2], [0, 1]] },
    { name: undefined, inputs: undefined, op: 'crop2d', outputShape: [5, 4, 2], cropping: [[1, 0], [2, 1]] },
    { name: undefined, inputs: undefined, op: 'upSample2d', outputShape: [6, 12, 2], size: [2, 3] },
  ]);
});

test("Rescaling is x·scale + offset; Normalization is Keras' (x − mean) / max(√var, 1e-7), and mean + x·max(√var, 1e-7) inverted", () => {
  const rescaling = LAYER_CASES.find((c) => c.name.startsWith('Rescaling'))!.build();
  const r = nodeByName(graphFromLayersModel(rescaling), 'rescale');
  assert.ok(r.op === 'affine');
  assert.deepEqual([r.scale, r.offset, r.kerasClass], [[0.5, 2, -1], [0.1, 0, -0.3], 'Rescaling']);
  rescaling.dispose();

  const normCase = LAYER_CASES.find((c) => c.name.startsWith('Normalization (adapted'))!;
  const model = normCase.build();
  const layer = model.getLayer('norm') as Normalization;
  const [mean, variance] = layer.getWeights().map((t) => Array.from(t.dataSync()));
  const graph = graphFromLayersModel(model);
  const n = nodeByName(graph, 'norm');
  assert.ok(n.op === 'affine' && n.kerasClass === 'Normalization');
  mean!.forEach((m, c) => {
    const std = Math.max(Math.sqrt(variance![c]!), 1e-7);
    assert.ok(Math.abs(n.scale[c]! - 1 / std) <= 1e-6 * (1 / std), `scale ${c}`);
    assert.ok(Math.abs(n.offset[c]! + m / std) <= 1e-6, `offset ${c}`);
  });
  model.dispose();

  const inv = LAYER_CASES.find((c) => c.name.includes('invert'))!.build();
  const d = nodeByName(graphFromLayersModel(inv), 'denorm');
  // mean 0.5, variance 4: y = 0.5 + 2x, one value for every feature.
  assert.ok(d.op === 'affine');
  assert.deepEqual([d.scale, d.offset], [[2], [0.5]]);
  inv.dispose();
});

test('SeparableConv2D splits into a depthwise node (strides, padding, no bias, linear) and a 1×1 conv with the bias and activation', () => {
  const model = LAYER_CASES.find((c) => c.name.startsWith('SeparableConv2D'))!.build();
  const layer = model.getLayer('sep');
  const [dwKernel, pwKernel, bias] = layer.getWeights().map((t) => t.dataSync());
  const graph = graphFromLayersModel(model);
  const dw = nodeByName(graph, 'sep/depthwise');
  const pw = nodeByName(graph, 'sep');
  assert.ok(dw.op === 'depthwiseConv2d' && pw.op === 'conv2d');
  assert.deepEqual([dw.strides, dw.padding, dw.depthMultiplier, dw.activation, dw.weights.bias, dw.outputShape], [[2, 2], 'same', 2, 'linear', undefined, [4, 4, 6]]);
  assert.deepEqual([pw.kernelSize, pw.strides, pw.padding, pw.activation, pw.inputs, pw.outputShape], [[1, 1], [1, 1], 'valid', 'relu', ['sep/depthwise'], [4, 4, 5]]);
  assert.deepEqual(dw.weights.kernel.values, dwKernel);
  assert.deepEqual(pw.weights.kernel.shape, [1, 1, 6, 5]);
  assert.deepEqual(pw.weights.kernel.values, pwKernel);
  assert.deepEqual(pw.weights.bias!.values, bias);
  model.dispose();
});

test('activations: the IR name of each tfjs / Keras name, and the closed form on [-5, 5]', () => {
  const xs = Float32Array.from({ length: 8 * 5 }, (_, i) => -5 + (10 * i) / 39);
  for (const a of ACTIVATION_CASES) {
    const model = activationModel(a.tfjs);
    const graph = graphFromLayersModel(model);
    const node = nodeByName(graph, 'act');
    assert.ok(node.op === 'activation' && node.activation === a.ir, `${a.tfjs} → ${node.op === 'activation' ? node.activation : node.op}`);
    const x = tf.tensor2d(xs, [5, 8]);
    const predicted = model.predict(x) as tf.Tensor;
    const rt = new GraphRuntime(graph);
    const got = rt.apply(x);
    const y = got.dataSync();
    xs.forEach((v, i) => assert.ok(Math.abs(y[i]! - a.f(v)) <= 1e-6, `${a.tfjs}(${v}) = ${y[i]}, closed form ${a.f(v)}`));
    assert.ok(maxAbsDiff(got, predicted) <= 1e-6, `${a.tfjs}: runtime vs predict`);
    tf.dispose([x, predicted, got]);
    rt.dispose();
    model.dispose();
  }
});

test("Keras 3's hard_sigmoid and Keras 2's differ (at x = 2: 5/6 against 0.9), so the two are two IR activations", () => {
  const k3 = ACTIVATION_CASES.find((a) => a.ir === 'hard_sigmoid')!;
  const k2 = ACTIVATION_CASES.find((a) => a.ir === 'hard_sigmoid_keras2')!;
  assert.ok(Math.abs(k3.f(2) - 5 / 6) < 1e-12 && Math.abs(k2.f(2) - 0.9) < 1e-12);
  // The Keras reader maps Keras 3's name to the registered Keras 3 class; Keras 2's stays tfjs's hardSigmoid.
  assert.equal(kerasActivationForTfjs('hard_sigmoid', true), 'keras3_hard_sigmoid');
  assert.equal(kerasActivationForTfjs('hard_sigmoid', false), 'hard_sigmoid');
  assert.equal(kerasActivationForTfjs('hard_silu', true), 'hard_silu');
});

for (const a of ACTIVATION_CASES) {
  test(`Conv2D and Dense with activation '${a.tfjs}' become the layer (linear) and a '${a.ir}' Activation node; runtime and rebuilt model equal model.predict`, () => {
    const model = fusedActivationModel(a.tfjs);
    const graph = graphFromLayersModel(model);
    for (const name of ['conv', 'dense']) {
      const n = nodeByName(graph, name);
      assert.ok((n.op === 'conv2d' || n.op === 'dense') && n.activation === 'linear', `${name}: ${JSON.stringify(n.op)}`);
      const split = nodeByName(graph, `${name}/${a.ir}`);
      assert.ok(split.op === 'activation' && split.activation === a.ir && split.inputs[0] === name);
    }
    assert.deepEqual(nodeByName(graph, 'flat').inputs, [`conv/${a.ir}`]);
    assert.equal(graph.output, `dense/${a.ir}`);
    checkAgainstTfjs(model, graph, 3);
    model.dispose();
  });
}

test('LeakyReLU is a leaky_relu activation with its alpha; the Softmax layer over the last axis is softmax', () => {
  const model = leakySoftmaxModel();
  const graph = graphFromLayersModel(model);
  assert.deepEqual(nodeByName(graph, 'leaky'), { name: 'leaky', op: 'activation', inputs: ['conv'], outputShape: [2, 2, 4], activation: 'leaky_relu', alpha: 0.15 });
  const softmax = nodeByName(graph, 'softmax');
  assert.ok(softmax.op === 'activation' && softmax.activation === 'softmax');
  checkAgainstTfjs(model, graph, 3);
  model.dispose();
});

test('options the IR does not model stay opaque layers with the reason: bilinear UpSampling2D, a Softmax over another axis', () => {
  const input = tf.input({ shape: [3, 3, 2], name: 'input' });
  const up = tf.layers.upSampling2d({ name: 'up', size: [2, 2], interpolation: 'bilinear' }).apply(input) as tf.SymbolicTensor;
  const soft = tf.layers.softmax({ name: 'soft', axis: 1 }).apply(up) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: soft });
  const graph = graphFromLayersModel(model);
  const opaque = graph.nodes.filter((n): n is Extract<GraphNode, { op: 'layer' }> => n.op === 'layer');
  assert.deepEqual(
    opaque.map((n) => [n.name, n.className]),
    [
      ['up', 'UpSampling2D'],
      ['soft', 'Softmax'],
    ],
  );
  assert.match(opaque[0]!.reason ?? '', /interpolation "bilinear"/);
  assert.match(opaque[1]!.reason ?? '', /axis 1/);
  // (tfjs cannot run a softmax over a non-last axis: no forward check here.)
  model.dispose();
});

test("Keras' names load: a model.json with hard_swish, hard_silu, silu, Keras 3's hard_sigmoid, Normalization and keepdims pooling reads back to the same graph", async () => {
  const model = BLOCKS[1]!.build();
  const input = tf.input({ shape: [4], name: 'x' });
  let y = activation('a_silu', 'silu').apply(input) as tf.SymbolicTensor;
  y = activation('a_hard_silu', 'hardSilu').apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ name: 'd', units: 2, activation: 'keras3HardSigmoid' as never }).apply(y) as tf.SymbolicTensor;
  const small = tf.model({ inputs: input, outputs: y });
  // tfjs writes snake_case Keras names: the JSON says what a Keras 3 file says.
  const json = JSON.stringify(small.toJSON(null, false));
  for (const name of ['"silu"', '"hard_silu"', '"keras3_hard_sigmoid"']) assert.ok(json.includes(name), `${name} in ${json}`);
  const dir = tempDir('mobile-ops-');
  for (const [m, sub] of [
    [model, 'v3'],
    [small, 'acts'],
  ] as const) {
    const [file] = await writeLayersModelFiles(m, path.join(dir, sub));
    const read = await readTfjsLayersModel(file!);
    assert.deepEqual(read, graphFromLayersModel(m));
  }
  model.dispose();
  small.dispose();
});
