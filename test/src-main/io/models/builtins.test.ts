import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { builtinModel, builtinModels } from '../../../../src-main/io/models/builtins.js';
import { inputNode, nodeByName, parameterCount, totalParameterCount } from '../../../../src-main/engine/graph/types.js';

before(async () => {
  await tf.setBackend('cpu');
});

test('dense_784_256_128_10 has exactly 235,146 parameters', () => {
  const graph = builtinModel('dense_784_256_128_10').build();
  // (784·256 + 256) + (256·128 + 128) + (128·10 + 10)
  assert.equal(784 * 256 + 256 + (256 * 128 + 128) + (128 * 10 + 10), 235_146);
  assert.equal(totalParameterCount(graph), 235_146);
  assert.deepEqual(
    graph.nodes.map((n) => (n.op === 'dense' ? `${n.units}:${n.activation}` : n.op)),
    ['input', '256:relu', '128:relu', '10:softmax'],
  );
});

test('parameter counts match Keras model.summary() arithmetic', () => {
  const expected: Record<string, number> = {
    // conv 3·3·3·32 + 32, BN 4·32, dense 32·32·32·10 + 10
    conv_bn_relu_dense: 896 + 128 + 327_690,
    // conv 9·32 + 32, BN 128, conv 9·32·64 + 64, BN 256, dense 7·7·64·128 + 128, dense 128·10 + 10
    fashion_cnn: 320 + 128 + 18_496 + 256 + 401_536 + 1_290,
    // stem 9·16 (no bias) + BN 64; blocks dw 9·c + BN 4c, pw c·f + BN 4f; dense 64·10 + 10
    fashion_dwsep: 144 + 64 + (144 + 64 + 512 + 128) + (288 + 128 + 2048 + 256) + (576 + 256 + 4096 + 256) + 650,
  };
  for (const [name, count] of Object.entries(expected)) {
    const entry = builtinModel(name);
    const model = entry.buildLayersModel();
    assert.equal(model.countParams(), count, `${name} (tfjs-layers)`);
    model.dispose();
    assert.equal(totalParameterCount(entry.build()), count, `${name} (graph)`);
  }
});

test('layer names and structure follow Keras', () => {
  const cbrd = builtinModel('conv_bn_relu_dense').build();
  assert.deepEqual(
    cbrd.nodes.map((n) => `${n.name}:${n.op}`),
    ['conv2d_input:input', 'conv2d:conv2d', 'batch_normalization:batchNorm', 'activation:activation', 'flatten:flatten', 'dense:dense'],
  );
  const cnn = builtinModel('fashion_cnn').build();
  assert.deepEqual(nodeByName(cnn, 'max_pooling2d_1').outputShape, [7, 7, 64]);
  assert.deepEqual(nodeByName(cnn, 'flatten').outputShape, [3136]);
  const dw = builtinModel('fashion_dwsep').build();
  const ops = dw.nodes.map((n) => n.op);
  assert.equal(ops.filter((o) => o === 'depthwiseConv2d').length, 3);
  assert.ok(dw.nodes.filter((n) => n.op === 'activation').every((n) => n.op === 'activation' && n.activation === 'relu6'));
  assert.deepEqual(nodeByName(dw, 'global_average_pooling2d').outputShape, [64]);
  // Convolutions feeding BN carry no bias, as in Keras's MobileNet.
  for (const n of dw.nodes) if (n.op === 'conv2d' || n.op === 'depthwiseConv2d') assert.equal(n.weights.bias, undefined, n.name);
  assert.equal(parameterCount(nodeByName(dw, 'depthwise_conv2d')), 9 * 16);
});

test('catalog entries agree with their graphs', () => {
  for (const entry of builtinModels) {
    const graph = entry.build();
    assert.equal(graph.name, entry.name);
    assert.deepEqual(inputNode(graph).outputShape, entry.inputShape, entry.name);
    assert.deepEqual(nodeByName(graph, graph.output).outputShape, [entry.numClasses], entry.name);
    assert.ok(entry.purpose.length > 0);
  }
  assert.throws(() => builtinModel('nope'), /no built-in model named nope; available: dense_784_256_128_10/);
});

test('builds are deterministic: same seeds, same weights', () => {
  for (const entry of builtinModels) assert.deepEqual(entry.build(), entry.build(), entry.name);
  // And the kernels are not all the same value (the seeds are used, per layer).
  const g = builtinModel('dense_784_256_128_10').build();
  const [a, b] = [nodeByName(g, 'dense'), nodeByName(g, 'dense_1')];
  assert.ok(a.op === 'dense' && b.op === 'dense');
  const limit = Math.sqrt(6 / (784 + 256)); // glorot uniform bound
  assert.ok(a.weights.kernel.values.every((v) => Math.abs(v) <= limit));
  assert.ok(new Set(a.weights.kernel.values.slice(0, 100)).size > 90);
  assert.notEqual(a.weights.kernel.values[0], b.weights.kernel.values[0]);
});
