import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime, logitsOf } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, GraphNode } from '../../../../src-main/engine/graph/types.js';
import { builtinModels } from '../../../../src-main/io/models/builtins.js';
import { addConcatModel, maxAbsDiff, perturbWeights, randomInput } from './fixtures.js';

before(async () => {
  await tf.setBackend('cpu');
});

const models: [string, () => tf.LayersModel][] = [
  ...builtinModels.map((m) => [m.name, m.buildLayersModel] as [string, () => tf.LayersModel]),
  ['add_concat (functional, Add + Concatenate)', addConcatModel],
];

for (const [name, build] of models) {
  test(`${name}: runtime output equals model.predict`, () => {
    const model = build();
    perturbWeights(model, 11);
    const rt = new GraphRuntime(graphFromLayersModel(model));
    const x = randomInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], 5);
    const expected = model.predict(x) as tf.Tensor;
    const got = rt.apply(x);
    assert.deepEqual(got.shape, expected.shape);
    assert.ok(maxAbsDiff(got, expected) <= 1e-5, `max abs diff ${maxAbsDiff(got, expected)}`);
    tf.dispose([x, expected, got]);
    rt.dispose();
    model.dispose();
  });
}

test('hooks see each weight and each node output exactly once, in order', () => {
  const model = addConcatModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const rt = new GraphRuntime(graph);
  const weights: string[] = [];
  const outputs: string[] = [];
  const x = randomInput([1, 8, 8, 3], 1);
  const y = rt.apply(x, {
    hooks: {
      weight: (node, w, t) => (weights.push(`${node.name}/${w}`), t),
      output: (node, t) => (outputs.push(node.name), t),
    },
  });
  assert.deepEqual(weights, ['conv2d/kernel', 'conv2d/bias', 'conv2d_1/kernel', 'conv2d_1/bias', 'depthwise_conv2d/kernel', 'depthwise_conv2d/bias', 'dense/kernel', 'dense/bias']);
  assert.deepEqual(outputs, graph.nodes.map((n) => n.name));
  tf.dispose([x, y]);
  rt.dispose();
});

/** One Dense layer y = relu(x·W + b) with W = [[1, -1], [2, 0.5]], b = [0.5, -3]. */
function tinyDense(activation: 'relu' | 'softmax'): Graph {
  return {
    name: 'tiny',
    output: 'dense',
    nodes: [
      { name: 'in', op: 'input', inputs: [], outputShape: [2] },
      {
        name: 'dense',
        op: 'dense',
        inputs: ['in'],
        outputShape: [2],
        units: 2,
        activation,
        weights: { kernel: { shape: [2, 2], values: Float32Array.from([1, -1, 2, 0.5]) }, bias: { shape: [2], values: Float32Array.from([0.5, -3]) } },
      },
    ],
  };
}

test('hooks replace the weight before use and the output after the activation', () => {
  const rt = new GraphRuntime(tinyDense('relu'));
  const x = tf.tensor2d([[1, 1]]);
  // x·W + b = [3.5, -3.5] → relu → [3.5, 0].
  const plain = rt.apply(x);
  assert.deepEqual(Array.from(plain.dataSync()), [3.5, 0]);
  // Doubling the kernel: W = [[2, -2], [4, 1]], x·W + b = [6.5, -4] → relu → [6.5, 0];
  // adding 10 to the output after the relu gives [16.5, 10].
  const hooked = rt.apply(x, {
    hooks: {
      weight: (_n, name, w) => (name === 'kernel' ? tf.mul(w, 2) : w),
      output: (node, y) => (node.op === 'dense' ? tf.add(y, 10) : y),
    },
  });
  assert.deepEqual(Array.from(hooked.dataSync()), [16.5, 10]);
  tf.dispose([x, plain, hooked]);
  rt.dispose();
});

test('logitsOf says where the softmax is, and logits mode skips it and its output hook', () => {
  for (const m of builtinModels) assert.deepEqual(logitsOf(m.build()), { appliesSoftmax: true, where: 'fused' });
  assert.deepEqual(logitsOf(tinyDense('relu')), { appliesSoftmax: false, where: null });

  const model = addConcatModel();
  perturbWeights(model, 2);
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(logitsOf(graph), { appliesSoftmax: true, where: 'layer' });
  const rt = new GraphRuntime(graph);
  const x = randomInput([2, 8, 8, 3], 9);
  const hooked: string[] = [];
  const logits = rt.apply(x, { logits: true, hooks: { output: (n, y) => (hooked.push(n.name), y) } });
  const probs = rt.apply(x);
  assert.ok(!hooked.includes('activation'));
  const softmaxed = tf.softmax(logits);
  assert.ok(maxAbsDiff(softmaxed, probs) <= 1e-6);
  tf.dispose([x, logits, probs, softmaxed]);
  rt.dispose();

  const fused = new GraphRuntime(tinyDense('softmax'));
  const x2 = tf.tensor2d([[1, 1]]);
  assert.deepEqual(Array.from(fused.apply(x2, { logits: true }).dataSync()), [3.5, -3.5]);
  fused.dispose();
  x2.dispose();
});

/** in → BatchNormalization over 2 features, momentum 0.9. */
function tinyBn(): Graph {
  const node: GraphNode = {
    name: 'bn',
    op: 'batchNorm',
    inputs: ['in'],
    outputShape: [2],
    epsilon: 1e-3,
    momentum: 0.9,
    weights: {
      gamma: { shape: [2], values: Float32Array.from([2, 1]) },
      beta: { shape: [2], values: Float32Array.from([0.5, 0]) },
      movingMean: { shape: [2], values: Float32Array.from([0, 1]) },
      movingVariance: { shape: [2], values: Float32Array.from([1, 2]) },
    },
  };
  return { name: 'bn', output: 'bn', nodes: [{ name: 'in', op: 'input', inputs: [], outputShape: [2] }, node] };
}

test('BatchNormalization in training mode uses batch statistics and updates the moving ones like Keras', () => {
  const rt = new GraphRuntime(tinyBn());
  // Batch [[1, 2], [3, 6]]: mean [2, 4], biased variance [1, 4].
  const x = tf.tensor2d([
    [1, 2],
    [3, 6],
  ]);
  const y = rt.apply(x, { training: true });
  // Normalised with the batch statistics: (1 - 2) / sqrt(1.001) · 2 + 0.5, (2 - 4) / sqrt(4.001) · 1 + 0 …
  const s0 = Math.sqrt(1 + 1e-3);
  const s1 = Math.sqrt(4 + 1e-3);
  const expectedY = [(-1 / s0) * 2 + 0.5, -2 / s1, (1 / s0) * 2 + 0.5, 2 / s1];
  Array.from(y.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - expectedY[i]!) < 1e-5, `y[${i}] = ${v}, expected ${expectedY[i]}`));
  // moving = moving·0.9 + batch·0.1: mean [0·0.9 + 2·0.1, 1·0.9 + 4·0.1] = [0.2, 1.3],
  // variance [1·0.9 + 1·0.1, 2·0.9 + 4·0.1] = [1.0, 2.2].
  const moving = () => {
    const bn = rt.toGraph().nodes[1]!;
    assert.ok(bn.op === 'batchNorm');
    return { mean: Array.from(bn.weights.movingMean.values), variance: Array.from(bn.weights.movingVariance.values) };
  };
  const close = (a: number[], b: number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-6, `${v} vs ${b[i]}`));
  close(moving().mean, [0.2, 1.3]);
  close(moving().variance, [1.0, 2.2]);
  // Inference mode uses the moving statistics and leaves them alone:
  // (1 - 0.2) / sqrt(1.001) · 2 + 0.5 for the first element.
  const inferred = rt.apply(x);
  assert.ok(Math.abs(inferred.dataSync()[0]! - ((0.8 / Math.sqrt(1.001)) * 2 + 0.5)) < 1e-5);
  inferred.dispose();
  close(moving().mean, [0.2, 1.3]);
  tf.dispose([x, y]);
  rt.dispose();
});

test('BatchNormalization training update agrees with tfjs-layers', () => {
  const model = tf.sequential({ layers: [tf.layers.batchNormalization({ name: 'bn', inputShape: [4, 4, 3], momentum: 0.8 })] });
  perturbWeights(model, 4);
  const rt = new GraphRuntime(graphFromLayersModel(model));
  const x = randomInput([5, 4, 4, 3], 8);
  const expected = model.apply(x, { training: true }) as tf.Tensor;
  const got = rt.apply(x, { training: true });
  assert.ok(maxAbsDiff(got, expected) <= 1e-5);
  const after = graphFromLayersModel(model).nodes[1]!;
  const mine = rt.toGraph().nodes[1]!;
  assert.ok(after.op === 'batchNorm' && mine.op === 'batchNorm');
  for (const key of ['movingMean', 'movingVariance'] as const) {
    after.weights[key].values.forEach((v, i) => assert.ok(Math.abs(v - mine.weights[key].values[i]!) < 1e-6, key));
  }
  tf.dispose([x, expected, got]);
  rt.dispose();
  model.dispose();
});

test('dropout acts only in training mode, scaling kept units by 1/(1 - rate)', () => {
  const graph: Graph = {
    name: 'drop',
    output: 'dropout',
    nodes: [
      { name: 'in', op: 'input', inputs: [], outputShape: [1000] },
      { name: 'dropout', op: 'dropout', inputs: ['in'], outputShape: [1000], rate: 0.5 },
    ],
  };
  const rt = new GraphRuntime(graph);
  const x = tf.ones([1, 1000]);
  assert.deepEqual(Array.from(rt.apply(x).dataSync()), new Array(1000).fill(1));
  const kept = Array.from(rt.apply(x, { training: true }).dataSync());
  assert.ok(kept.every((v) => v === 0 || v === 2));
  const zeros = kept.filter((v) => v === 0).length;
  assert.ok(zeros > 400 && zeros < 600, `${zeros} of 1000 dropped at rate 0.5`);
  rt.dispose();
  x.dispose();
});

test('applyAll returns every node output; disposing them all leaves the input alive and no tensors behind', () => {
  const model = builtinModels[3]!.buildLayersModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const rt = new GraphRuntime(graph);
  const x = randomInput([2, 28, 28, 1], 3);
  const before = tf.memory().numTensors;
  const all = rt.applyAll(x);
  assert.deepEqual([...all.keys()], graph.nodes.map((n) => n.name));
  for (const node of graph.nodes) assert.deepEqual(all.get(node.name)!.shape, [2, ...node.outputShape], node.name);
  const single = rt.apply(x);
  assert.ok(maxAbsDiff(single, all.get(graph.output)!) === 0);
  tf.dispose([...all.values(), single]);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(x.isDisposed, false);
  x.dispose();
  rt.dispose();
});

test('trainable variables train, toGraph reads them back, moving stats are not trainable', () => {
  // conv_bn_relu_dense in miniature (the full one takes seconds to train on the cpu backend).
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: 'conv2d', inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization({ name: 'batch_normalization' }),
      tf.layers.activation({ name: 'activation', activation: 'relu' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dense({ name: 'dense', units: 4, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  const graph = graphFromLayersModel(model);
  model.dispose();
  const rt = new GraphRuntime(graph);
  // conv kernel+bias, BN gamma+beta, dense kernel+bias.
  assert.equal(rt.trainableVariables().length, 6);
  assert.equal(rt.weightVariables().length, 8);
  const frozen = new GraphRuntime(graph, { trainable: false });
  assert.equal(frozen.trainableVariables().length, 0);
  frozen.dispose();

  const x = randomInput([4, 6, 6, 2], 6);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4);
  const opt = tf.train.sgd(0.1);
  const loss = () => tf.losses.softmaxCrossEntropy(labels, rt.apply(x, { training: true, logits: true })) as tf.Scalar;
  const lossValue = () => tf.tidy(() => loss().arraySync() as number);
  const l0 = lossValue();
  for (let i = 0; i < 3; i++) opt.minimize(loss, false, rt.trainableVariables());
  const l1 = lossValue();
  assert.ok(l1 < l0, `loss went from ${l0} to ${l1}`);

  const trained = rt.toGraph();
  const dense0 = graph.nodes.find((n) => n.name === 'dense')!;
  const dense1 = trained.nodes.find((n) => n.name === 'dense')!;
  assert.ok(dense0.op === 'dense' && dense1.op === 'dense');
  assert.notDeepEqual(dense1.weights.kernel.values, dense0.weights.kernel.values);
  // A runtime built from the read-back graph computes the same function.
  const again = new GraphRuntime(trained);
  tf.tidy(() => assert.equal(maxAbsDiff(again.apply(x), rt.apply(x)), 0));
  tf.dispose([x, labels]);
  opt.dispose();
  again.dispose();
  rt.dispose();
});

test('a wrongly shaped input is refused with both shapes', () => {
  const rt = new GraphRuntime(builtinModels[0]!.build());
  const x = tf.zeros([1, 28, 28, 1]);
  assert.throws(() => rt.apply(x), /expects inputs of shape \[batch,784\] but got \[1,28,28,1\]/);
  x.dispose();
  rt.dispose();
});
