/**
 * How each layer is quantized, in words (layer-notes.ts), on the
 * keras.applications blocks: the kinds follow the fold and the plan (own
 * range, shared range of a pass-through op or a Concatenate input, fused
 * activation, folded BN, preprocessing, float), and the notes name the range.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { prepare } from '../../../../src-main/engine/prepare.js';
import { explainVariables } from '../../../../src-main/engine/qat/variables.js';
import { summarizeGraph } from '../../../../src-main/engine/graph/summary.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { layerQuantization, type LayerQuantization } from '../../../../src-main/engine/transform/layer-notes.js';
import { LAYER_CASES, mobileNetV3Block } from '../graph/mobile-fixtures.js';
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

function notes(graph: Graph, extra: Parameters<typeof config>[0] = {}): Map<string, LayerQuantization> {
  const p = prepare(graph, config(extra));
  return new Map(layerQuantization(p.source, p.graph, p.folded, p.plan).map((l) => [l.layer, l]));
}

const kindAndRange = (m: Map<string, LayerQuantization>, layer: string) => [m.get(layer)?.kind, m.get(layer)?.range];

test('MobileNetV3 block: preprocessing, folded BNs, own ranges (hard swish, Multiply), shared ranges (ZeroPadding2D, GlobalAveragePooling2D keepdims), fused ReLU', () => {
  const graph = imported(() => mobileNetV3Block());
  const m = notes(graph);
  assert.deepEqual([...m.keys()], graph.nodes.map((n) => n.name), 'one line per layer of the model as stored, in order');
  assert.deepEqual(kindAndRange(m, 'input'), ['input', 'input']);
  assert.match(m.get('input')!.note, /preprocessing \(rescaling\) runs before the integer model/);
  assert.deepEqual(kindAndRange(m, 'rescaling'), ['preprocessing', 'input']);
  assert.deepEqual(kindAndRange(m, 'expand'), ['own-range', 'expand/output']);
  assert.match(m.get('expand')!.kernel!, /^expand\/kernel: 8-bit symmetric, per-channel \(8 scales, axis 3 of \[1,1,3,8\]\)$/);
  assert.match(m.get('expand')!.note, /with expand_bn folded in/);
  assert.deepEqual(kindAndRange(m, 'expand_bn'), ['folded', 'expand/output']);
  assert.match(m.get('expand_bn')!.note, /Folded into expand/);
  assert.deepEqual(kindAndRange(m, 'expand_hard_swish'), ['own-range', 'expand_hard_swish/output']);
  assert.match(m.get('expand_hard_swish')!.note, /Activation hard_swish, not fused into a layer before it \(TFLite computes it as HARD_SWISH, with an output scale of its own\)/);
  assert.deepEqual(kindAndRange(m, 'depthwise_pad'), ['shared-range', 'expand_hard_swish/output']);
  assert.match(m.get('depthwise_pad')!.note, /Shares the range of its input expand_hard_swish \(expand_hard_swish\/output\): TFLite's PAD keeps the input's scale/);
  assert.deepEqual(kindAndRange(m, 'se_avg_pool'), ['shared-range', 'depthwise_hard_swish/output']);
  assert.match(m.get('se_avg_pool')!.note, /keepdims its output is \[1, 1, C\]/);
  assert.deepEqual(kindAndRange(m, 'se_conv'), ['own-range', 'se_conv/output']);
  assert.match(m.get('se_conv')!.note, /after its fused se_relu/);
  assert.deepEqual(kindAndRange(m, 'se_relu'), ['fused', 'se_conv/output']);
  // A BN folded into a conv whose ReLU is fused: the range is the op's, after the ReLU.
  const cnn = notes(builtinModel('fashion_cnn').build());
  assert.deepEqual(kindAndRange(cnn, 'batch_normalization'), ['folded', 'conv2d/output']);
  assert.deepEqual(kindAndRange(cnn, 'activation'), ['fused', 'conv2d/output']);
  assert.deepEqual(kindAndRange(m, 'se_mul'), ['own-range', 'se_mul/output']);
  assert.match(m.get('se_mul')!.note, /Multiply \(TFLite's MUL\)/);
  // The same lines reach the Model view through models.explain.
  assert.deepEqual(explainVariables(graph, config()).studio.layers, [...m.values()]);
});

test('a Concatenate and a BN after it: the inputs share its range, the BN is a multiply-add with its own; a float override says so', () => {
  const graph = imported(LAYER_CASES.find((c) => c.name.startsWith('BatchNormalization after a Concatenate'))!.build);
  const m = notes(graph);
  assert.deepEqual(kindAndRange(m, 'cat'), ['own-range', 'cat/output']);
  assert.match(m.get('cat')!.note, /which its inputs share/);
  assert.deepEqual(kindAndRange(m, 'conv'), ['shared-range', 'cat/output']);
  assert.match(m.get('conv')!.note, /shares the range of cat \(cat\/output\): TFLite's int8 CONCATENATION/);
  assert.deepEqual(kindAndRange(m, 'bn'), ['own-range', 'bn/output']);
  assert.match(m.get('bn')!.note, /BatchNormalization with nothing to fold into: a per-channel multiply-add x·s \+ t \(TFLite's MUL \+ ADD\)/);
  const f = notes(graph, { overrides: [{ layer: 'bn', float: true }] });
  assert.deepEqual(kindAndRange(f, 'bn'), ['float', null]);
  assert.match(f.get('bn')!.note, /kept float by an override/);
});

test("the Model view's layer list names each layer's Keras class and the options telling it apart", () => {
  const summary = summarizeGraph(imported(() => mobileNetV3Block()));
  const row = (name: string) => {
    const l = summary.layers.find((x) => x.name === name)!;
    return [l.op, l.className, l.options];
  };
  assert.deepEqual(row('rescaling'), ['affine', 'Rescaling', `scale ${Number((1 / 127.5).toPrecision(6))}, offset -1`]);
  assert.deepEqual(row('depthwise_pad'), ['zeroPad2d', 'ZeroPadding2D', 'padding ((0, 1), (0, 1))']);
  assert.deepEqual(row('depthwise'), ['depthwiseConv2d', 'DepthwiseConv2D', '3×3, strides 2×2, valid']);
  assert.deepEqual(row('se_avg_pool'), ['globalAvgPool2d', 'GlobalAveragePooling2D', 'keepdims']);
  assert.deepEqual(row('se_mul'), ['multiply', 'Multiply', undefined]);
  assert.deepEqual(row('expand_hard_swish'), ['activation', 'Activation', undefined]);
  assert.deepEqual(row('expand_bn'), ['batchNorm', 'BatchNormalization', undefined]);
});
