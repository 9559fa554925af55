import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { isWeighted, nodeByName } from '../../../../src-main/engine/graph/types.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { foldBatchNorm, outputChannels, planQuantization, PlanError, type QuantPlan } from '../../../../src-main/engine/transform/index.js';
import { act, add, batchNorm, concat, config, conv, dense, depthwise, gap, graphOf, input, maxPool } from './graphs.js';

function folded(name: string): Graph {
  return foldBatchNorm(builtinModel(name).build()).graph;
}

/** name → [at, layers, role, sharedWith] for compact comparisons. */
function activationTable(plan: QuantPlan): Record<string, [string, string[], string, string | null]> {
  return Object.fromEntries(plan.activations.map((a) => [a.name, [a.at, a.layers, a.role, a.sharedWith]]));
}

test('fashion_cnn: one weight quantizer per kernel, per output channel; ReLUs fused; pools pass ranges on', () => {
  const plan = planQuantization(folded('fashion_cnn'), config());
  assert.deepEqual(
    plan.weights.map((w) => [w.name, w.kernelShape, w.axis, w.channels, w.input]),
    [
      ['conv2d/kernel', [3, 3, 1, 32], 3, 32, 'input'],
      ['conv2d_1/kernel', [3, 3, 32, 64], 3, 64, 'conv2d/output'],
      ['dense/kernel', [3136, 128], 1, 128, 'conv2d_1/output'],
      ['dense_1/kernel', [128, 10], 1, 10, 'dense/output'],
    ],
  );
  for (const w of plan.weights) assert.equal(w.spec.axis, w.axis);
  assert.deepEqual(activationTable(plan), {
    input: ['conv2d_input', ['conv2d_input'], 'input', null],
    'conv2d/output': ['activation', ['conv2d', 'activation'], 'layer', null],
    'conv2d_1/output': ['activation_1', ['conv2d_1', 'activation_1'], 'layer', null],
    'dense/output': ['dense', ['dense'], 'layer', null],
    'dense_1/output': ['dense_1', ['dense_1'], 'layer', null],
  });
  assert.deepEqual(plan.float, []);
  const how = Object.fromEntries(plan.tensors.map((t) => [t.tensor, [t.how, t.range]]));
  assert.deepEqual(how['conv2d'], ['fused', null]);
  assert.deepEqual(how['max_pooling2d'], ['passed-through', 'conv2d/output']);
  assert.deepEqual(how['flatten'], ['passed-through', 'conv2d_1/output']);
  // Every node has exactly one entry, and no tensor read by a quantized op lacks a range.
  assert.equal(plan.tensors.length, folded('fashion_cnn').nodes.length);
  assert.ok(plan.tensors.every((t) => t.how === 'fused' || t.range !== null));
});

test('fashion_dwsep: depthwise kernels are quantized on [kh,kw,in·mult] with in·mult channels; ReLU6 fused', () => {
  const graph = folded('fashion_dwsep');
  const plan = planQuantization(graph, config());
  const dw = plan.weights.filter((w) => w.op === 'depthwiseConv2d');
  assert.deepEqual(
    dw.map((w) => [w.layer, w.kernelShape, w.view, w.axis, w.channels]),
    [
      ['depthwise_conv2d', [3, 3, 16, 1], [3, 3, 16], 2, 16],
      ['depthwise_conv2d_1', [3, 3, 32, 1], [3, 3, 32], 2, 32],
      ['depthwise_conv2d_2', [3, 3, 64, 1], [3, 3, 64], 2, 64],
    ],
  );
  assert.deepEqual(
    plan.weights.filter((w) => w.op === 'conv2d').map((w) => [w.layer, w.channels]),
    [['conv2d', 16], ['conv2d_1', 32], ['conv2d_2', 64], ['conv2d_3', 64]],
  );
  // Each conv/depthwise closes with its (fused) re_lu; only the dense has no activation after it.
  for (const a of plan.activations) {
    if (a.role === 'input' || a.layers[0] === 'dense') continue;
    assert.equal(a.layers.length, 2, a.name);
    assert.equal(nodeByName(graph, a.at).op, 'activation');
  }
  assert.equal(plan.weights.find((w) => w.layer === 'dense')!.input, 'conv2d_3/output');
  assert.equal(plan.tensors.find((t) => t.tensor === 'global_average_pooling2d')!.how, 'passed-through');
});

test('per-channel weight quantizers have the output channel count, never 1, on every built-in and every kernel kind', () => {
  const x = input('input', [8, 8, 3]);
  const mult2 = graphOf('dw2', x, depthwise('depthwise_conv2d', x, 2));
  const graphs = [...['dense_784_256_128_10', 'conv_bn_relu_dense', 'fashion_cnn', 'fashion_dwsep'].map(folded), mult2];
  for (const graph of graphs) {
    for (const axis of [undefined, -1]) {
      const plan = planQuantization(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel', ...(axis !== undefined ? { axis } : {}) } }));
      assert.ok(plan.weights.length > 0);
      for (const w of plan.weights) {
        const node = nodeByName(graph, w.layer);
        if (!isWeighted(node)) throw new Error('not weighted');
        assert.equal(w.channels, outputChannels(node), `${graph.name}/${w.layer}`);
        assert.ok(w.channels > 1, `${graph.name}/${w.layer}`);
        assert.equal(w.channels, w.view[w.axis!]);
      }
    }
  }
  const dw = planQuantization(mult2, config()).weights[0]!;
  assert.deepEqual([dw.kernelShape, dw.view, dw.channels], [[3, 3, 3, 2], [3, 3, 6], 6]);
});

test('per-tensor weights get one scale; an axis the kernel lacks or a 1-channel axis throws a PlanError naming the layer', () => {
  const graph = folded('fashion_cnn');
  const perTensor = planQuantization(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } }));
  assert.ok(perTensor.weights.every((w) => w.channels === 1 && w.axis === null && w.spec.axis === undefined));

  // axis 3 suits the conv kernels but the Dense kernel [3136,128] has only axes 0 and 1.
  assert.throws(
    () => planQuantization(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel', axis: 3 } })),
    (e: unknown) => e instanceof PlanError && e.code === 'axis-missing' && e.layer === 'dense' && /axis 3 does not exist/.test(e.message),
  );
  // axis 0 of the first conv's kernel [3,3,1,32] holds 3 "channels": allowed (not 1), but of a 1x1 conv it holds 1.
  const x = input('input', [4, 4, 3]);
  const pointwise = conv('conv2d', x, 8, { k: 1 });
  assert.throws(
    () => planQuantization(graphOf('pw', x, pointwise), config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel', axis: 0 } })),
    (e: unknown) => e instanceof PlanError && e.code === 'axis-single-channel' && e.layer === 'conv2d',
  );
  // A Dense with a single unit legitimately has one channel.
  const v = input('input', [5]);
  const one = planQuantization(graphOf('one', v, dense('dense', v, 1)), config());
  assert.equal(one.weights[0]!.channels, 1);
});

/**
 * input → conv_a → relu_a ─┬→ conv_b ──────┐
 *                          ├──────────────→ add → add_relu → pool_a ─┐
 *                          └→ conv_c(relu) → pool_c ─────────────────→ concat → concat_relu → gap → dense → softmax
 */
function functionalGraph(): Graph {
  const x = input('input', [8, 8, 3]);
  const convA = conv('conv_a', x, 8);
  const reluA = act('relu_a', convA, 'relu');
  const convB = conv('conv_b', reluA, 8);
  const sum = add('add', reluA, convB);
  const addRelu = act('add_relu', sum, 'relu');
  const poolA = maxPool('pool_a', addRelu);
  const convC = conv('conv_c', reluA, 4, { activation: 'relu' });
  const poolC = maxPool('pool_c', convC);
  const cat = concat('concat', poolA, poolC);
  const catRelu = act('concat_relu', cat, 'relu');
  const pooled = gap('gap', catRelu);
  const logits = dense('dense', pooled, 5);
  const probs = act('softmax', logits, 'softmax');
  return graphOf('functional', x, convA, reluA, convB, sum, addRelu, poolA, convC, poolC, cat, catRelu, pooled, logits, probs);
}

test('functional graph: ReLU fused into conv and Add; Concatenate inputs share its range through pools; Add inputs do not', () => {
  const plan = planQuantization(functionalGraph(), config());
  assert.deepEqual(activationTable(plan), {
    input: ['input', ['input'], 'input', null],
    // relu_a is conv_a's only reader, so it fuses into conv_a (its own three readers do not matter): one quantizer, at relu_a.
    'conv_a/output': ['relu_a', ['conv_a', 'relu_a'], 'layer', null],
    'conv_b/output': ['conv_b', ['conv_b'], 'layer', null],
    'add/output': ['add_relu', ['add', 'add_relu'], 'add', 'concat/output'],
    'conv_c/output': ['conv_c', ['conv_c'], 'layer', 'concat/output'],
    'concat/output': ['concat', ['concat'], 'concat', null],
    // A ReLU after a Concatenate is not fused (TFLite's CONCATENATION has no fused activation).
    'concat_relu/output': ['concat_relu', ['concat_relu'], 'activation', null],
    'dense/output': ['dense', ['dense'], 'layer', null],
    'softmax/output': ['softmax', ['softmax'], 'activation', null],
  });
  assert.equal(plan.activations.filter((a) => a.layers.includes('relu_a')).length, 1);
  assert.deepEqual(
    plan.weights.map((w) => [w.layer, w.input]),
    [['conv_a', 'input'], ['conv_b', 'conv_a/output'], ['conv_c', 'conv_a/output'], ['dense', 'concat_relu/output']],
  );
  const t = Object.fromEntries(plan.tensors.map((x) => [x.tensor, x]));
  assert.deepEqual(t['pool_a'], { tensor: 'pool_a', range: 'add/output', how: 'passed-through', from: 'add_relu' });
  assert.deepEqual(t['add'], { tensor: 'add', range: null, how: 'fused' });
});

test('overrides: float keeps the whole fused op float; weightBits and activationBits apply to that layer only', () => {
  const graph = folded('fashion_cnn');
  const plan = planQuantization(
    graph,
    config({
      overrides: [
        { layer: 'conv2d_1', float: true },
        { layer: 'dense', weightBits: 4 },
        { layer: 'activation', activationBits: 6 },
        { layer: 'dense', activationBits: 12 },
      ],
    }),
  );
  assert.deepEqual(plan.float, [
    { layer: 'conv2d_1', reason: 'override' },
    { layer: 'activation_1', reason: 'override', fusedWith: 'conv2d_1' },
  ]);
  assert.equal(plan.weights.find((w) => w.layer === 'conv2d_1'), undefined);
  assert.equal(plan.activations.find((a) => a.layers.includes('conv2d_1')), undefined);
  const bits = Object.fromEntries(plan.weights.map((w) => [w.layer, w.spec.bits]));
  assert.deepEqual(bits, { conv2d: 8, dense: 4, dense_1: 8 });
  const abits = Object.fromEntries(plan.activations.map((a) => [a.name, a.spec.bits]));
  // activationBits on the fused activation applies to the op's one quantizer; both overrides of dense merge.
  assert.deepEqual(abits, { input: 8, 'conv2d/output': 6, 'dense/output': 12, 'dense_1/output': 8 });
  // The float layer's output has no range, so dense (via the pool and flatten) reads a tensor without one.
  assert.equal(plan.weights.find((w) => w.layer === 'dense')!.input, null);
  assert.equal(plan.tensors.find((t) => t.tensor === 'flatten')!.range, null);
  // Plans never alias the config's specs.
  const c = config();
  const p = planQuantization(graph, c);
  p.weights[0]!.spec.bits = 3;
  assert.equal(c.weights.bits, 8);
});

test('unsupported layers: stop throws before planning; keep-float lists them as float', () => {
  const graph = folded('fashion_cnn');
  const unsupportedLayers = [{ name: 'lambda', className: 'Lambda' }];
  assert.throws(
    () => planQuantization(graph, config({ unsupported: 'stop' }), { unsupportedLayers }),
    (e: unknown) => e instanceof PlanError && e.code === 'unsupported-layer' && e.layer === 'lambda' && /keep-float/.test(e.message),
  );
  const plan = planQuantization(graph, config({ unsupported: 'keep-float' }), { unsupportedLayers });
  assert.deepEqual(plan.float, [{ layer: 'lambda', reason: 'unsupported', className: 'Lambda' }]);
  assert.equal(plan.weights.length, 4);
  // A layer the graph holds but that is reported unsupported stays float with its fused activation.
  const inGraph = planQuantization(graph, config({ unsupported: 'keep-float' }), { unsupportedLayers: [{ name: 'conv2d', className: 'Conv2D' }] });
  assert.deepEqual(inGraph.float, [
    { layer: 'conv2d', reason: 'unsupported', className: 'Conv2D' },
    { layer: 'activation', reason: 'unsupported', fusedWith: 'conv2d' },
  ]);
  // With no unsupported layers, stop plans normally.
  assert.equal(planQuantization(graph, config({ unsupported: 'stop' }), { unsupportedLayers: [] }).weights.length, 4);
});

test('a BN that cannot be folded is an affine with its own range (TFLite: MUL + ADD), which the next conv takes as its input scale', () => {
  const x = input('input', [6, 6, 3]);
  const c = conv('conv2d', x, 4);
  const relu = act('activation', c, 'relu');
  const bn = batchNorm('batch_normalization', relu);
  const c2 = conv('conv2d_1', bn, 4);
  const unfolded = graphOf('g', x, c, relu, bn, c2);
  const { graph } = foldBatchNorm(unfolded);
  const plan = planQuantization(graph, config());
  assert.deepEqual(plan.float, []);
  const q = plan.activations.find((a) => a.at === 'batch_normalization')!;
  assert.deepEqual([q.name, q.role, q.layers, q.sharedWith], ['batch_normalization/output', 'affine', ['batch_normalization'], null]);
  assert.equal(plan.weights.find((w) => w.layer === 'conv2d_1')!.input, 'batch_normalization/output');
  // A graph planned without the fold keeps the BatchNormalization float, its output without a range.
  const raw = planQuantization(unfolded, config());
  assert.deepEqual(raw.float, [{ layer: 'batch_normalization', reason: 'batchnorm-not-folded' }]);
  assert.equal(raw.weights.find((w) => w.layer === 'conv2d_1')!.input, null);
});

test("a BN right after the input is not preprocessing: the input keeps its quantizer and the BN's affine gets its own", () => {
  const x = input('input', [6, 6, 3]);
  const bn = batchNorm('batch_normalization', x);
  const c = conv('conv2d', bn, 4);
  const { graph } = foldBatchNorm(graphOf('g', x, bn, c));
  const plan = planQuantization(graph, config());
  assert.deepEqual(
    plan.activations.map((a) => [a.name, a.role, a.layers]),
    [
      ['input', 'input', ['input']],
      ['batch_normalization/output', 'affine', ['batch_normalization']],
      ['conv2d/output', 'layer', ['conv2d']],
    ],
  );
});
