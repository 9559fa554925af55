/**
 * Nested models (a Sequential or functional model used as a layer, at any
 * depth) flattened into the IR: path names, weights as the original layers
 * hold them, the same outputs as the nested tfjs model, and refusals that name
 * the layers. The reference is the nested tfjs model itself (its predict).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel, layersModelFromGraph, UnsupportedLayerError } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { totalParameterCount, type Graph } from '../../../../src-main/engine/graph/types.js';
import { parseOverride } from '../../../../src-main/cli/run-options.js';
import { foldBatchNorm, planQuantization } from '../../../../src-main/engine/transform/index.js';
import { lintModel } from '../../../../src-main/engine/lint.js';
import { config } from '../transform/graphs.js';
import { maxAbsDiff, randomInput } from './fixtures.js';
import {
  assertWeightsAsModel,
  mismatchedNestedModel,
  NESTED_MODELS,
  residualBranchModel,
  sharedNestedModel,
  teachableMachineModel,
  transferModel,
} from './nested-fixtures.js';

before(async () => {
  await tf.setBackend('cpu');
});

const CONV_BASE = ['Conv1', 'bn_Conv1', 'Conv1_relu', 'block_1_depthwise', 'block_1_depthwise_BN', 'block_1_depthwise_relu', 'block_1_project', 'block_1_project_BN', 'block_1_add'];

function runGraph(graph: Graph, x: tf.Tensor): tf.Tensor {
  const rt = new GraphRuntime(graph, { trainable: false });
  try {
    return tf.tidy(() => rt.apply(x));
  } finally {
    rt.dispose();
  }
}

test('transfer learning: the layers of the base model get its name as a prefix; its InputLayer is the model input, under its plain name', () => {
  const model = transferModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(
    graph.nodes.map((n) => [n.name, n.op, n.inputs]),
    [
      ['input_1', 'input', []],
      ['mobilenetv2_base/Conv1', 'conv2d', ['input_1']],
      ['mobilenetv2_base/bn_Conv1', 'batchNorm', ['mobilenetv2_base/Conv1']],
      ['mobilenetv2_base/Conv1_relu', 'activation', ['mobilenetv2_base/bn_Conv1']],
      ['mobilenetv2_base/block_1_depthwise', 'depthwiseConv2d', ['mobilenetv2_base/Conv1_relu']],
      ['mobilenetv2_base/block_1_depthwise_BN', 'batchNorm', ['mobilenetv2_base/block_1_depthwise']],
      ['mobilenetv2_base/block_1_depthwise_relu', 'activation', ['mobilenetv2_base/block_1_depthwise_BN']],
      ['mobilenetv2_base/block_1_project', 'conv2d', ['mobilenetv2_base/block_1_depthwise_relu']],
      ['mobilenetv2_base/block_1_project_BN', 'batchNorm', ['mobilenetv2_base/block_1_project']],
      ['mobilenetv2_base/block_1_add', 'add', ['mobilenetv2_base/Conv1_relu', 'mobilenetv2_base/block_1_project_BN']],
      ['global_average_pooling2d', 'globalAvgPool2d', ['mobilenetv2_base/block_1_add']],
      ['dense', 'dense', ['global_average_pooling2d']],
    ],
  );
  // A tfjs Sequential whose first layer is a model adopts that model's input: no InputLayer of its own.
  assert.equal(graph.output, 'dense');
  assert.equal(graph.name, 'transfer');
});

test('Teachable Machine: three levels of nesting give three-part names; the head reads the pooling inside the first Sequential', () => {
  const model = teachableMachineModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(
    graph.nodes.map((n) => n.name),
    [
      'input_1',
      ...CONV_BASE.map((l) => `sequential_1/model1/${l}`),
      'sequential_1/global_average_pooling2d_GlobalAveragePooling2D1',
      'sequential_3/dense_Dense1',
      'sequential_3/dense_Dense2',
    ],
  );
  assert.deepEqual(graph.nodes.find((n) => n.name === 'sequential_3/dense_Dense1')!.inputs, ['sequential_1/global_average_pooling2d_GlobalAveragePooling2D1']);
  assert.equal(graph.output, 'sequential_3/dense_Dense2');
  assert.equal(graph.nodes.filter((n) => n.op === 'input').length, 1, 'the nested InputLayers disappear');
});

test('residual branch: the Sequential in the middle reads the stem and the Add reads its last layer', () => {
  const model = residualBranchModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  assert.deepEqual(
    graph.nodes.map((n) => [n.name, n.inputs]),
    [
      ['image', []],
      ['stem', ['image']],
      ['branch/branch_expand', ['stem']],
      ['branch/branch_bn', ['branch/branch_expand']],
      ['branch/branch_project', ['branch/branch_bn']],
      ['residual_add', ['stem', 'branch/branch_project']],
      ['pool', ['residual_add']],
      ['logits', ['pool']],
      ['probs', ['logits']],
    ],
  );
});

for (const [what, build] of NESTED_MODELS) {
  test(`${what}: every weight is the original layer's, and the graph computes what the nested model predicts`, () => {
    const model = build();
    const graph = graphFromLayersModel(model);
    const x = randomInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], 5);
    const rebuilt = layersModelFromGraph(graph);
    try {
      assert.equal(totalParameterCount(graph), model.countParams());
      // Kernels, biases and all four BatchNormalization vectors of every layer, nested ones included.
      assert.ok(assertWeightsAsModel(graph, model) >= 10);
      const want = model.predict(x) as tf.Tensor;
      const viaRuntime = runGraph(graph, x);
      const viaRebuilt = rebuilt.predict(x) as tf.Tensor;
      assert.ok(maxAbsDiff(viaRuntime, want) <= 1e-5, `GraphRuntime differs by ${maxAbsDiff(viaRuntime, want)}`);
      assert.ok(maxAbsDiff(viaRebuilt, want) <= 1e-5, `layersModelFromGraph differs by ${maxAbsDiff(viaRebuilt, want)}`);
      // Softmax outputs that are not near-uniform, or the comparison would prove little.
      const spread = tf.tidy(() => tf.sub(want.max(1), want.min(1)).min().dataSync()[0]!);
      assert.ok(spread > 0.01, `outputs too flat to test with (spread ${spread})`);
      tf.dispose([want, viaRuntime, viaRebuilt]);
      // The rebuilt (flat) model keeps the path names and gives the same graph back.
      assert.ok(rebuilt.layers.some((l) => l.name.includes('/')));
      assert.deepEqual(graphFromLayersModel(rebuilt), graph);
    } finally {
      tf.dispose(x);
      model.dispose();
      rebuilt.dispose();
    }
  });
}

test('a nested model called twice is refused naming it', () => {
  const model = sharedNestedModel();
  assert.throws(
    () => graphFromLayersModel(model),
    (e: unknown) =>
      e instanceof UnsupportedLayerError &&
      e.layerName === 'shared_block' &&
      e.message === 'layer shared_block (Model) is not supported: the nested model is called more than once (shared models are not supported)',
  );
  model.dispose();
});

test('a layer used both inside a nested model and outside it is refused naming it', () => {
  const inner = tf.input({ shape: [5], name: 'inner_input' });
  const shared = tf.layers.dense({ name: 'shared_dense', units: 5 });
  const block = tf.model({ inputs: inner, outputs: shared.apply(inner) as tf.SymbolicTensor, name: 'block' });
  const input = tf.input({ shape: [5], name: 'x' });
  const y = shared.apply(block.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: y, name: 'outer' });
  assert.throws(() => graphFromLayersModel(model), (e: unknown) => e instanceof UnsupportedLayerError && e.message === 'layer block/shared_dense (Dense) is not supported: the layer is called more than once (shared layers are not supported)');
  model.dispose();
});

test('a nested model called on a tensor of another shape is refused naming both layers and both shapes', () => {
  const model = mismatchedNestedModel();
  assert.throws(
    () => graphFromLayersModel(model),
    (e: unknown) =>
      e instanceof UnsupportedLayerError &&
      e.layerName === 'mobilenetv2_base' &&
      e.message === 'layer mobilenetv2_base (Model) is not supported: it expects an input of shape [8,8,3] (its input layer input_1) but is called on the output of layer image, of shape [12,12,3]',
  );
  model.dispose();
});

test('a nested model with two inputs is refused naming it', () => {
  const a = tf.input({ shape: [3], name: 'a' });
  const b = tf.input({ shape: [3], name: 'b' });
  const pair = tf.model({ inputs: [a, b], outputs: tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor, name: 'pair' });
  const x = tf.input({ shape: [3], name: 'x' });
  const d = tf.layers.dense({ name: 'd', units: 3 }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: x, outputs: pair.apply([x, d]) as tf.SymbolicTensor, name: 'outer' });
  assert.throws(() => graphFromLayersModel(model), (e: unknown) => e instanceof UnsupportedLayerError && e.layerName === 'pair' && /the nested model has 2 inputs and 1 outputs/.test(e.message));
  model.dispose();
});

test('path names downstream: quantizer names, overrides from the command line, lint', () => {
  const model = teachableMachineModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const overrides = ['sequential_3/dense_Dense1:float', 'sequential_1/model1/block_1_project:w4'].map(parseOverride);
  assert.deepEqual(overrides, [
    { layer: 'sequential_3/dense_Dense1', float: true },
    { layer: 'sequential_1/model1/block_1_project', weightBits: 4 },
  ]);
  const run = config({ overrides });
  const plan = planQuantization(foldBatchNorm(graph).graph, run);
  const weights = Object.fromEntries(plan.weights.map((w) => [w.name, [w.layer, w.spec.bits]]));
  assert.deepEqual(weights, {
    'sequential_1/model1/Conv1/kernel': ['sequential_1/model1/Conv1', 8],
    'sequential_1/model1/block_1_depthwise/kernel': ['sequential_1/model1/block_1_depthwise', 8],
    'sequential_1/model1/block_1_project/kernel': ['sequential_1/model1/block_1_project', 4],
    'sequential_3/dense_Dense2/kernel': ['sequential_3/dense_Dense2', 8],
  });
  assert.deepEqual(
    plan.float.map((f) => [f.layer, f.reason]),
    [['sequential_3/dense_Dense1', 'override']],
  );
  assert.ok(plan.activations.some((a) => a.name === 'sequential_1/model1/Conv1/output'), plan.activations.map((a) => a.name).join(', '));
  // Both overrides name layers the model has.
  const unknown = lintModel(graph, run).filter((f) => f.code === 'override-unknown-layer');
  assert.deepEqual(unknown, []);
  const typo = lintModel(graph, config({ overrides: [parseOverride('sequential_1/model1/Conv9:float')] })).filter((f) => f.code === 'override-unknown-layer');
  assert.equal(typo.length, 1);
});
