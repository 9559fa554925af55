/**
 * Opaque 'layer' nodes: layers tfjs-layers builds but the IR does not model
 * (Conv2DTranspose, ELU, LayerNormalization, Maximum, a Dense with an ELU
 * activation) are imported as they are, run by the runtime through tfjs's own
 * layer (outputs equal model.predict to 1e-5), train (gradients reach their
 * variables), serialize and write back to a tfjs model.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel, layersModelFromGraph, UnsupportedLayerError } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { deserializeGraph, serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { summarizeGraph } from '../../../../src-main/engine/graph/summary.js';
import type { Graph, OpaqueLayerNode } from '../../../../src-main/engine/graph/types.js';
import { maxAbsDiff, perturbWeights, randomInput } from './fixtures.js';
import { OPAQUE_LAYERS, opaqueModel } from './opaque-fixtures.js';

before(async () => {
  await tf.setBackend('cpu');
});

function imported(): { model: tf.LayersModel; graph: Graph } {
  const model = opaqueModel();
  perturbWeights(model, 3);
  return { model, graph: graphFromLayersModel(model) };
}

function opaque(graph: Graph, name: string): OpaqueLayerNode {
  const node = graph.nodes.find((n) => n.name === name);
  assert.ok(node && node.op === 'layer', `${name} is an opaque node`);
  return node;
}

test('layers the IR does not model import as opaque nodes with class, config and weights', () => {
  const { model, graph } = imported();
  assert.deepEqual(
    graph.nodes.filter((n) => n.op === 'layer').map((n) => ({ name: n.name, className: (n as OpaqueLayerNode).className })),
    OPAQUE_LAYERS,
  );
  const ln = opaque(graph, 'layer_norm');
  assert.deepEqual(Object.keys(ln.weights), ['gamma', 'beta']);
  assert.deepEqual(ln.weights['gamma']!.shape, [6]);
  assert.deepEqual(ln.outputShape, [7, 7, 6]);
  assert.equal(ln.config['epsilon'], 1e-3);
  assert.equal(ln.reason, undefined);
  const elu = opaque(graph, 'elu');
  assert.equal(elu.config['alpha'], 1);
  assert.deepEqual(elu.weights, {});
  assert.deepEqual(Object.keys(opaque(graph, 'deconv').weights), ['kernel', 'bias']);
  const denseElu = opaque(graph, 'dense_elu');
  assert.match(denseElu.reason ?? '', /activation "elu"/);
  assert.deepEqual(Object.keys(denseElu.weights), ['kernel', 'bias']);
  // dense_gate's own sigmoid is split off at import into dense_gate/sigmoid.
  assert.deepEqual(opaque(graph, 'maximum').inputs, ['dense_elu', 'dense_gate/sigmoid']);
  // The modelled layers around them are still IR ops.
  assert.equal(graph.nodes.find((n) => n.name === 'conv2d_1')!.op, 'conv2d');
  const summary = summarizeGraph(graph);
  assert.equal(summary.layers.find((l) => l.name === 'layer_norm')!.op, 'LayerNormalization');
  assert.equal(summary.layers.find((l) => l.name === 'layer_norm')!.params, 12);
  assert.equal(summary.paramCount, model.countParams());
  model.dispose();
});

test('the runtime runs opaque layers through tfjs: output equals model.predict to 1e-5', () => {
  const { model, graph } = imported();
  const rt = new GraphRuntime(graph);
  const x = randomInput([4, 28, 28, 1], 9);
  const expected = model.predict(x) as tf.Tensor;
  const got = rt.apply(x);
  assert.deepEqual(got.shape, [4, 10]);
  assert.ok(maxAbsDiff(got, expected) <= 1e-5, `max abs diff ${maxAbsDiff(got, expected)}`);
  // applyAll and the output hook see the opaque nodes too.
  const seen: string[] = [];
  const all = rt.applyAll(x, { hooks: { output: (node, y) => (seen.push(node.name), y) } });
  for (const { name } of OPAQUE_LAYERS) assert.ok(seen.includes(name), `output hook called on ${name}`);
  assert.deepEqual(all.get('deconv')!.shape, [4, 15, 15, 4]);
  tf.dispose([x, expected, got, ...all.values()]);
  rt.dispose();
  model.dispose();
});

test('serialization round trip keeps opaque nodes; the rebuilt runtime and tfjs model give the same output', () => {
  const { model, graph } = imported();
  const back = deserializeGraph(serializeGraph(graph));
  assert.deepEqual(back, graph);
  const x = randomInput([3, 28, 28, 1], 4);
  const expected = model.predict(x) as tf.Tensor;
  const rt = new GraphRuntime(back);
  const got = rt.apply(x);
  assert.ok(maxAbsDiff(got, expected) <= 1e-5);
  // Writer: the functional model rebuilt from the graph, read back again.
  const rebuilt = layersModelFromGraph(back);
  const fromRebuilt = rebuilt.predict(x) as tf.Tensor;
  assert.ok(maxAbsDiff(fromRebuilt, expected) <= 1e-5);
  assert.deepEqual(graphFromLayersModel(rebuilt), graph);
  tf.dispose([x, expected, got, fromRebuilt]);
  rt.dispose();
  rebuilt.dispose();
  model.dispose();
});

test('gradients reach the variables of opaque layers and an optimizer step updates what the layer uses', () => {
  const { model, graph } = imported();
  model.dispose();
  const rt = new GraphRuntime(graph, { trainable: true });
  const vars = rt.weightVariables();
  const gamma = vars.find((w) => w.node === 'layer_norm' && w.weight === 'gamma')!;
  const eluKernel = vars.find((w) => w.node === 'dense_elu' && w.weight === 'kernel')!;
  assert.ok(gamma.variable.trainable && eluKernel.variable.trainable);
  const trainable = rt.trainableVariables();
  assert.ok(trainable.includes(gamma.variable) && trainable.includes(eluKernel.variable));
  const x = randomInput([8, 28, 28, 1], 1);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
  const loss = () => tf.losses.softmaxCrossEntropy(labels, rt.apply(x, { training: true, logits: true })) as tf.Scalar;
  const { value, grads } = tf.variableGrads(loss, trainable);
  for (const v of [gamma.variable, eluKernel.variable]) {
    const g = grads[v.name]!;
    assert.ok(g, `gradient for ${v.name}`);
    assert.ok(tf.max(tf.abs(g)).dataSync()[0]! > 0, `non-zero gradient for ${v.name}`);
  }
  const before = value.dataSync()[0]!;
  // A small step: the kernels come from unseeded initialisers, and a large one can overshoot on some of them.
  const opt = tf.train.sgd(0.01);
  opt.applyGradients(grads);
  tf.dispose([value, ...Object.values(grads)]);
  const after = tf.tidy(() => loss().dataSync()[0]!);
  assert.ok(after < before, `loss ${before} → ${after}`);
  // toGraph holds the trained values of the opaque layer.
  const trained = opaque(rt.toGraph(), 'layer_norm');
  assert.deepEqual([...trained.weights['gamma']!.values], [...gamma.variable.dataSync()]);
  assert.notDeepEqual([...trained.weights['gamma']!.values], [...opaque(graph, 'layer_norm').weights['gamma']!.values]);
  tf.dispose([x, labels]);
  opt.dispose();
  rt.dispose();
  assert.ok(gamma.variable.isDisposed);
});

test('a runtime built with trainable: false has no trainable opaque variables', () => {
  const { model, graph } = imported();
  model.dispose();
  const rt = new GraphRuntime(graph, { trainable: false });
  assert.deepEqual(rt.trainableVariables(), []);
  assert.ok(rt.weightVariables().some((w) => w.node === 'layer_norm'));
  rt.dispose();
});

test('two runtimes of one graph hold separate variables for an opaque layer', () => {
  const { model, graph } = imported();
  model.dispose();
  const a = new GraphRuntime(graph);
  const b = new GraphRuntime(graph);
  const ga = a.weightVariables().find((w) => w.node === 'layer_norm')!.variable;
  const gb = b.weightVariables().find((w) => w.node === 'layer_norm')!.variable;
  assert.notEqual(ga, gb);
  ga.assign(tf.zerosLike(ga));
  assert.notDeepEqual([...gb.dataSync()], [...ga.dataSync()]);
  a.dispose();
  assert.ok(!gb.isDisposed);
  b.dispose();
});

test('a layer tfjs cannot rebuild from its config is refused with a clear UnsupportedLayerError', () => {
  class Unregistered extends tf.layers.Layer {
    static className = 'UnregisteredThing';
    override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
      return Array.isArray(inputs) ? inputs[0]! : inputs;
    }
  }
  const input = tf.input({ shape: [3], name: 'in' });
  const y = new Unregistered({ name: 'odd' }).apply(tf.layers.dense({ name: 'dense', units: 2 }).apply(input)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y });
  assert.throws(
    () => graphFromLayersModel(model),
    (e: unknown) => e instanceof UnsupportedLayerError && e.layerName === 'odd' && e.className === 'UnregisteredThing' && /cannot rebuild it/.test(e.message),
  );
  model.dispose();
});
