/**
 * The quantization plan for the keras.applications layer set, as TFLite's
 * converter quantizes these ops: PAD, cropping (SLICE), nearest RESIZE and
 * the max / average pools keep their input's scale and zero point
 * (pass-through); MUL, LOGISTIC, HARD_SWISH, LEAKY_RELU… have their own
 * output scale; ReLU / ReLU6 fuse into the op before; the model's
 * preprocessing (Rescaling / Normalization right after the input) runs before
 * the integer model, whose input quantizer follows it.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { foldBatchNorm, planQuantization, type QuantPlan } from '../../../../src-main/engine/transform/index.js';
import { lintModel } from '../../../../src-main/engine/lint.js';
import { BLOCKS, LAYER_CASES, efficientNetBlock, leakySoftmaxModel, mobileNetV2Block, mobileNetV3Block } from '../graph/mobile-fixtures.js';
import { act, conv, graphOf, input } from './graphs.js';
import { config } from './graphs.js';

before(async () => {
  await tf.setBackend('cpu');
});

function imported(build: () => tf.LayersModel): Graph {
  const model = build();
  const graph = graphFromLayersModel(model);
  model.dispose();
  return graph;
}

const caseGraph = (prefix: string) => imported(LAYER_CASES.find((c) => c.name.startsWith(prefix))!.build);

/** tensor → [how, range, from] */
function tensorTable(plan: QuantPlan): Record<string, [string, string | null, string | undefined]> {
  return Object.fromEntries(plan.tensors.map((t) => [t.tensor, [t.how, t.range, t.from]]));
}

/** quantizer → [role, at, layers] */
function activationTable(plan: QuantPlan): Record<string, [string, string, string[]]> {
  return Object.fromEntries(plan.activations.map((a) => [a.name, [a.role, a.at, a.layers]]));
}

test('ZeroPadding2D, Cropping2D, UpSampling2D (nearest) pass their input range on', () => {
  for (const [prefix, layer] of [
    ['ZeroPadding2D', 'pad'],
    ['Cropping2D', 'crop'],
    ['UpSampling2D', 'up'],
  ] as const) {
    const plan = planQuantization(caseGraph(prefix), config());
    assert.deepEqual(tensorTable(plan)[layer], ['passed-through', 'input', 'input'], prefix);
    assert.deepEqual(
      plan.activations.map((a) => a.name),
      ['input', 'conv/output'],
    );
    // The conv after it takes the input's scale for its bias.
    assert.equal(plan.weights[0]!.input, 'input');
  }
});

test('global pools (average with keepdims, max both ways) pass their input range on', () => {
  const plan = planQuantization(caseGraph('GlobalAveragePooling2D'), config());
  const t = tensorTable(plan);
  for (const pool of ['avg', 'max', 'max_flat']) assert.deepEqual(t[pool], ['passed-through', 'input', 'input'], pool);
  assert.deepEqual(
    plan.weights.map((w) => [w.layer, w.input]),
    [
      ['avg_conv', 'input'],
      ['max_conv', 'input'],
    ],
  );
});

test('Multiply has its own output range (role mul); a ReLU after it fuses as after Add', () => {
  const plan = planQuantization(caseGraph('Multiply of an image and a [1,1,c]'), config());
  assert.deepEqual(activationTable(plan)['mul/output'], ['mul', 'mul', ['mul']]);
  // The gate conv's own sigmoid is split off at import: the conv's output and the sigmoid's each have a range.
  assert.deepEqual(activationTable(plan)['gate/output'], ['layer', 'gate', ['gate']]);
  assert.deepEqual(activationTable(plan)['gate/sigmoid/output'], ['activation', 'gate/sigmoid', ['gate/sigmoid']]);
  const x = input('x', [4, 4, 2]);
  const a = conv('a', x, 2);
  const m = { name: 'm', op: 'multiply' as const, inputs: ['x', 'a'], outputShape: [4, 4, 2] };
  const r = act('r', m, 'relu');
  const fused = planQuantization(graphOf('g', x, a, m, r), config());
  assert.deepEqual(activationTable(fused)['m/output'], ['mul', 'r', ['m', 'r']]);
  assert.deepEqual(tensorTable(fused)['m'], ['fused', null, undefined]);
});

test('swish, hard sigmoid, hard swish and leaky ReLU layers get their own range after a conv that keeps its own; ReLU6 still fuses', () => {
  const v3 = foldBatchNorm(imported(mobileNetV3Block)).graph;
  const plan = planQuantization(v3, config());
  const acts = activationTable(plan);
  // expand (BN folded in) has its own range, then the hard swish its own.
  assert.deepEqual(acts['expand/output'], ['layer', 'expand', ['expand']]);
  assert.deepEqual(acts['expand_hard_swish/output'], ['activation', 'expand_hard_swish', ['expand_hard_swish']]);
  assert.deepEqual(acts['se_hard_sigmoid/output'], ['activation', 'se_hard_sigmoid', ['se_hard_sigmoid']]);
  // The squeeze-excite's ReLU fuses into its conv.
  assert.deepEqual(acts['se_conv/output'], ['layer', 'se_relu', ['se_conv', 'se_relu']]);
  assert.deepEqual(acts['se_mul/output'], ['mul', 'se_mul', ['se_mul']]);
  const v2 = planQuantization(foldBatchNorm(imported(mobileNetV2Block)).graph, config());
  assert.deepEqual(activationTable(v2)['block_1_depthwise/output'], ['layer', 'block_1_depthwise_relu', ['block_1_depthwise', 'block_1_depthwise_relu']]);
  const leaky = planQuantization(imported(leakySoftmaxModel), config());
  assert.deepEqual(activationTable(leaky)['leaky/output'], ['activation', 'leaky', ['leaky']]);
  assert.deepEqual(activationTable(leaky)['conv/output'], ['layer', 'conv', ['conv']]);
});

test('preprocessing right after the input becomes the input quantization: the quantizer named input sits after the last affine', () => {
  const eff = foldBatchNorm(imported(efficientNetBlock)).graph;
  const plan = planQuantization(eff, config());
  assert.deepEqual(activationTable(plan)['input'], ['input', 'rescaling_1', ['input', 'rescaling', 'normalization', 'rescaling_1']]);
  const t = tensorTable(plan);
  assert.deepEqual([t['input'], t['rescaling'], t['normalization']], [
    ['fused', null, undefined],
    ['fused', null, undefined],
    ['fused', null, undefined],
  ]);
  assert.deepEqual(t['rescaling_1'], ['quantized', 'input', undefined]);
  assert.deepEqual(t['stem_conv_pad'], ['passed-through', 'input', 'rescaling_1']);
  assert.equal(plan.weights.find((w) => w.layer === 'stem_conv')!.input, 'input');
  assert.ok(!plan.activations.some((a) => a.role === 'affine'));
  // Lint says so, once, on the last affine; and no quantized op reads a tensor without a range.
  const findings = lintModel(imported(efficientNetBlock), config());
  const pre = findings.filter((f) => f.code === 'input-preprocessing');
  assert.equal(pre.length, 1);
  assert.equal(pre[0]!.layer, 'rescaling_1');
  assert.match(pre[0]!.message, /rescaling \(Rescaling\), then normalization \(Normalization\), then rescaling_1 \(Rescaling\) preprocess the model input/);
  assert.deepEqual(
    findings.filter((f) => f.code === 'tensor-without-range'),
    [],
  );
});

test('an affine anywhere else gets its own range (role affine); so does one whose input has other readers', () => {
  const x = input('x', [4, 4, 2]);
  const a = conv('a', x, 2);
  const s = { name: 's', op: 'affine' as const, inputs: ['a'], outputShape: [4, 4, 2], scale: [2, -1], offset: [0.5, 0] };
  const plan = planQuantization(graphOf('g', x, a, s), config());
  assert.deepEqual(activationTable(plan)['s/output'], ['affine', 's', ['s']]);
  const shared = { ...s, inputs: ['x'] };
  const b = conv('b', x, 2);
  const both = planQuantization(graphOf('g', x, shared, b), config());
  assert.deepEqual(activationTable(both)['input'], ['input', 'x', ['x']]);
  assert.deepEqual(activationTable(both)['s/output'], ['affine', 's', ['s']]);
});

test('SeparableConv2D plans as a depthwise and a 1×1 conv, each with its kernel quantized; dilated convs as any conv', () => {
  const plan = planQuantization(caseGraph('SeparableConv2D'), config());
  assert.deepEqual(
    plan.weights.map((w) => [w.layer, w.op, w.channels, w.input]),
    [
      ['sep/depthwise', 'depthwiseConv2d', 6, 'input'],
      ['sep', 'conv2d', 5, 'sep/depthwise/output'],
    ],
  );
  const dilated = planQuantization(caseGraph('dilated'), config());
  assert.deepEqual(dilated.weights.map((w) => w.layer), ['conv']);
});

test('an Add of three inputs is one op with one range; a BN after a Concatenate is an affine with its own range', () => {
  const add = planQuantization(caseGraph('Add of three'), config());
  assert.deepEqual(activationTable(add)['add/output'], ['add', 'add', ['add']]);
  const dense = foldBatchNorm(caseGraph('BatchNormalization after a Concatenate'));
  assert.deepEqual(
    dense.kept.map((k) => [k.batchNorm, k.blocker.reason]),
    [['bn', 'not-after-weighted-layer']],
  );
  const plan = planQuantization(dense.graph, config());
  assert.deepEqual(plan.float, []);
  assert.deepEqual(tensorTable(plan)['bn'], ['quantized', 'bn/output', undefined]);
  assert.deepEqual(activationTable(plan)['bn/output'], ['affine', 'bn', ['bn']]);
  // The ReLU after it has its own range too (TFLite's ADD could fuse it; the studio's affine does not).
  assert.deepEqual(activationTable(plan)['relu/output'], ['activation', 'relu', ['relu']]);
});

test('every block plans with nothing float and no tensor read without a range', () => {
  for (const b of BLOCKS) {
    const graph = imported(b.build);
    const plan = planQuantization(foldBatchNorm(graph).graph, config());
    assert.deepEqual(plan.float, [], b.name);
    const findings = lintModel(graph, config());
    assert.deepEqual(
      findings.filter((f) => f.severity !== 'info').map((f) => f.code),
      [],
      b.name,
    );
  }
});
