import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel, layersModelFromGraph, UnsupportedLayerError, UnsupportedModelError } from '../../../../src-main/engine/graph/from-layers.js';
import { totalParameterCount, nodeByName } from '../../../../src-main/engine/graph/types.js';
import { builtinModels } from '../../../../src-main/io/models/builtins.js';
import { addConcatModel, perturbWeights, randomInput } from './fixtures.js';

before(async () => {
  await tf.setBackend('cpu');
});

const models: [string, () => tf.LayersModel][] = [
  ...builtinModels.map((m) => [m.name, m.buildLayersModel] as [string, () => tf.LayersModel]),
  ['add_concat', addConcatModel],
];

for (const [name, build] of models) {
  test(`${name}: model → graph → model keeps weights and outputs exactly`, () => {
    const model = build();
    perturbWeights(model, 7);
    const graph = graphFromLayersModel(model);
    const rebuilt = layersModelFromGraph(graph);
    try {
      assert.equal(totalParameterCount(graph), model.countParams());
      // Same weights, bit for bit, layer by layer.
      for (const layer of model.layers) {
        const twin = rebuilt.getLayer(layer.name);
        const a = layer.getWeights();
        const b = twin.getWeights();
        assert.equal(a.length, b.length, layer.name);
        a.forEach((t, i) => assert.deepEqual(b[i]!.dataSync(), t.dataSync(), `${layer.name} weight ${i}`));
      }
      // Same outputs, bit for bit: the rebuilt layers run the same kernels.
      const x = randomInput([2, ...(model.inputs[0]!.shape.slice(1) as number[])], 3);
      const y1 = model.predict(x) as tf.Tensor;
      const y2 = rebuilt.predict(x) as tf.Tensor;
      assert.deepEqual(y2.dataSync(), y1.dataSync());
      tf.dispose([x, y1, y2]);
      // And the graph of the rebuilt model is the same graph.
      assert.deepEqual(graphFromLayersModel(rebuilt), graph);
    } finally {
      model.dispose();
      rebuilt.dispose();
    }
  });
}

test('conversion reads each layer kind with Keras layouts and names', () => {
  const model = addConcatModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(
    graph.nodes.map((n) => `${n.name}:${n.op}`).sort(),
    [
      'input:input',
      'conv2d:conv2d',
      'batch_normalization:batchNorm',
      'conv2d_1:conv2d',
      'add:add',
      'depthwise_conv2d:depthwiseConv2d',
      'max_pooling2d:maxPool2d',
      'average_pooling2d:avgPool2d',
      'concatenate:concat',
      'reshape:reshape',
      'flatten:flatten',
      'dropout:dropout',
      'dense:dense',
      'activation:activation',
    ].sort(),
  );
  assert.equal(graph.nodes[0]!.name, 'input');
  // Topological: every node comes after the nodes it reads.
  graph.nodes.forEach((n, i) => n.inputs.forEach((src) => assert.ok(graph.nodes.findIndex((m) => m.name === src) < i, `${src} before ${n.name}`)));
  const dw = nodeByName(graph, 'depthwise_conv2d');
  assert.equal(dw.op, 'depthwiseConv2d');
  if (dw.op !== 'depthwiseConv2d') return;
  // [kh, kw, in, multiplier]
  assert.deepEqual(dw.weights.kernel.shape, [3, 3, 8, 2]);
  assert.equal(dw.activation, 'relu6');
  assert.deepEqual(dw.outputShape, [8, 8, 16]);
  assert.deepEqual(nodeByName(graph, 'add').inputs, ['batch_normalization', 'conv2d_1']);
  assert.deepEqual(nodeByName(graph, 'concatenate').inputs, ['average_pooling2d', 'max_pooling2d']);
  const reshape = nodeByName(graph, 'reshape');
  assert.ok(reshape.op === 'reshape');
  // tfjs cannot infer the -1 symbolically, so the converter resolves it.
  assert.deepEqual(reshape.targetShape, [16, 24]);
  assert.deepEqual(reshape.outputShape, [16, 24]);
  assert.equal(graph.output, 'activation');
});

test('a Sequential model gets its implicit input layer first, named like Keras', () => {
  const graph = builtinModels[0]!.build();
  assert.deepEqual(
    graph.nodes.map((n) => n.name),
    ['dense_input', 'dense', 'dense_1', 'dense_2'],
  );
  assert.deepEqual(graph.nodes[0]!.outputShape, [784]);
});

test('ReLU layers become relu / relu6 activations; other max values stay opaque layers with the reason', () => {
  const make = (maxValue?: number) =>
    tf.sequential({ layers: [tf.layers.reLU({ name: 'r', inputShape: [3], ...(maxValue === undefined ? {} : { maxValue }) })] });
  for (const [maxValue, expected] of [
    [undefined, 'relu'],
    [6, 'relu6'],
  ] as const) {
    const m = make(maxValue);
    const node = graphFromLayersModel(m).nodes[1]!;
    m.dispose();
    assert.ok(node.op === 'activation');
    assert.equal(node.activation, expected);
  }
  const m = make(3);
  const r = graphFromLayersModel(m).nodes[1]!;
  assert.ok(r.op === 'layer' && r.className === 'ReLU' && r.config['maxValue'] === 3);
  assert.match(r.reason ?? '', /max_value 3/);
  m.dispose();
});

test('a layer class the IR does not model becomes an opaque node named with its class', () => {
  const model = tf.sequential({
    layers: [tf.layers.dense({ name: 'dense', units: 4, inputShape: [3] }), tf.layers.prelu({ name: 'prelu' })],
  });
  const node = graphFromLayersModel(model).nodes[2]!;
  assert.ok(node.op === 'layer');
  assert.equal(node.name, 'prelu');
  assert.equal(node.className, 'PReLU');
  assert.deepEqual(node.inputs, ['dense']);
  assert.equal(node.reason, undefined);
  model.dispose();
});

test('unsupported options become opaque nodes with the reason; unsupported structures are refused', () => {
  const bnAxis1 = tf.sequential({ layers: [tf.layers.batchNormalization({ name: 'bn', axis: 1, inputShape: [4, 4, 2] })] });
  const bn = graphFromLayersModel(bnAxis1).nodes[1]!;
  assert.ok(bn.op === 'layer' && bn.className === 'BatchNormalization');
  assert.match(bn.reason ?? '', /normalises axis 1/);
  assert.deepEqual(Object.keys(bn.weights), ['gamma', 'beta', 'moving_mean', 'moving_variance']);
  bnAxis1.dispose();

  const elu = tf.sequential({ layers: [tf.layers.dense({ name: 'd', units: 2, inputShape: [3], activation: 'elu' })] });
  const d = graphFromLayersModel(elu).nodes[1]!;
  assert.ok(d.op === 'layer' && d.className === 'Dense');
  assert.match(d.reason ?? '', /activation "elu"/);
  elu.dispose();

  const shared = tf.layers.dense({ name: 'shared', units: 3 });
  const inp = tf.input({ shape: [3], name: 'in' });
  const twice = shared.apply(shared.apply(inp)) as tf.SymbolicTensor;
  const sharedModel = tf.model({ inputs: inp, outputs: twice });
  assert.throws(() => graphFromLayersModel(sharedModel), /called more than once/);
  sharedModel.dispose();

  const a = tf.input({ shape: [2], name: 'a' });
  const b = tf.input({ shape: [2], name: 'b' });
  const two = tf.model({ inputs: [a, b], outputs: tf.layers.add({}).apply([a, b]) as tf.SymbolicTensor, name: 'two_inputs' });
  assert.throws(() => graphFromLayersModel(two), (e: unknown) => e instanceof UnsupportedModelError && /2 inputs/.test(e.message));
  two.dispose();
});

test('layers off the path to the output are left out', () => {
  const inp = tf.input({ shape: [3], name: 'in' });
  const used = tf.layers.dense({ name: 'used', units: 2 }).apply(inp) as tf.SymbolicTensor;
  tf.layers.dense({ name: 'unused', units: 2 }).apply(inp); // a branch no output depends on
  const model = tf.model({ inputs: inp, outputs: used });
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(
    graph.nodes.map((n) => n.name),
    ['in', 'used'],
  );
});

test('layersModelFromGraph refuses a graph whose shapes do not add up', () => {
  const graph = builtinModels[0]!.build();
  const dense = graph.nodes[1]!;
  dense.outputShape = [255];
  assert.throws(() => layersModelFromGraph(graph), /layer dense gives shape \[256\] but the graph says \[255\]/);
});
