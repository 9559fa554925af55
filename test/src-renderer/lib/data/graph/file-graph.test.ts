// The graph view's file graph on real exports: the bundled sample CNN
// calibrated (per-channel weights) and written as ONNX and TFLite, and the
// same CNN nested as transfer learning nests it (fashion_base/…,
// fashion_head/…), read back as exports.graph answers. Each Keras layer is one
// group of the nodes written for it; with every group collapsed the file
// graph is the model graph again, layer for layer and edge for edge.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { FileGraph } from '../../../../../src-main/api/contract.js';
import { samplesFromPart } from '../../../../../src-main/engine/eval-samples.js';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import { summarizeGraph } from '../../../../../src-main/engine/graph/summary.js';
import { serializeGraph } from '../../../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../../../src-main/engine/ptq/run.js';
import { readFileGraph } from '../../../../../src-main/export/file-graph/index.js';
import { exportOnnx } from '../../../../../src-main/export/onnx/index.js';
import { qparamsFromRecords } from '../../../../../src-main/export/qparams-from-record.js';
import { exportTflite } from '../../../../../src-main/export/tflite/index.js';
import type { ExportInput } from '../../../../../src-main/export/types.js';
import { visibleGraph } from '../../../../../src-renderer/lib/data/graph/collapse.js';
import { buildFileGraph, layerGroupId, layerOfGroup, nodesOfLayer, planFileView } from '../../../../../src-renderer/lib/data/graph/file-graph.js';
import { buildModelGraph } from '../../../../../src-renderer/lib/data/graph/model-graph.js';
import { tempDir } from '../../../../helpers/temp.js';
import { PER_CHANNEL, ptqExport } from '../../../../src-main/export/export-fixtures.js';
import { nestedSample } from '../../../../src-main/export/nested-fixtures.js';
import { config, context, SAMPLE_DATA } from '../../../../src-main/engine/ptq/ptq-fixtures.js';

let flat: ExportInput;
let onnx: FileGraph;
let tflite: FileGraph;
let nested: ExportInput;
let nestedOnnx: FileGraph;

before(async () => {
  await initBackend('wasm');
  const dir = tempDir('studio-file-graph-view-');
  flat = (await ptqExport('fashion_cnn', { weights: PER_CHANNEL }, 100)).input;
  await exportOnnx(flat, path.join(dir, 'cnn.onnx'), { verify: false });
  await exportTflite(flat, path.join(dir, 'cnn.tflite'), { verify: false });
  onnx = await readFileGraph(path.join(dir, 'cnn.onnx'), 'onnx');
  tflite = await readFileGraph(path.join(dir, 'cnn.tflite'), 'tflite');

  const cfg = config({ eval: { count: 100, seed: 1 }, weights: PER_CHANNEL });
  const payload = { config: cfg, modelName: 'fashion_nested', model: serializeGraph(await nestedSample()), dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  nested = { modelName: 'fashion_nested', config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples: samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape) };
  await exportOnnx(nested, path.join(dir, 'nested.onnx'), { verify: false });
  nestedOnnx = await readFileGraph(path.join(dir, 'nested.onnx'), 'onnx');
});

const names = (input: ExportInput) => input.graph.nodes.map((n) => n.name);

/** The layer a visible box stands for: a collapsed layer group's, or a lone node's. */
const layerOfBox = (file: FileGraph, id: string) => layerOfGroup(id) ?? file.nodes.find((n) => n.id === id)!.layer!;

test('ONNX: each node sits in its layer’s group (a layer of one node needs none); the Conv named as its layer does not clash with the group', () => {
  const g = buildFileGraph(onnx, names(flat));
  assert.equal(g.nodes.length, onnx.nodes.length);
  const several = new Set(onnx.nodes.map((n) => n.layer!).filter((l) => nodesOfLayer(onnx, l).length > 1));
  for (const n of g.nodes) {
    const layer = onnx.nodes.find((f) => f.id === n.id)!.layer!;
    assert.equal(n.group, several.has(layer) ? layerGroupId(layer) : null, n.id);
  }
  assert.deepEqual(g.groups.map((x) => layerOfGroup(x.id)), [...several], 'one group a layer of several nodes, no nested models in the flat CNN');
  assert.deepEqual(nodesOfLayer(onnx, 'max_pooling2d').map((n) => n.op), ['MaxPool'], 'a max-pool is one node, on its input’s grid');
  assert.equal(g.groups.reduce((s, x) => s + x.size, 0), g.nodes.filter((n) => n.group !== null).length);
  const ids = new Set([...g.nodes.map((n) => n.id), ...g.groups.map((x) => x.id)]);
  assert.equal(ids.size, g.nodes.length + g.groups.length, 'node and group ids are distinct');
  const conv = g.nodes.find((n) => n.id === 'conv2d')!;
  assert.deepEqual([conv.label, conv.op, conv.group], ['conv2d', 'Conv', 'layer:conv2d']);
  const dq = g.nodes.find((n) => n.id === 'conv2d/kernel/DequantizeLinear')!;
  assert.equal(dq.label, 'kernel/DequantizeLinear', 'named under its layer: the rest of the name');
});

test('ONNX: collapsing one layer folds its QDQ and Conv into one box, edges rerouted to it', () => {
  const g = buildFileGraph(onnx, names(flat));
  const inConv = nodesOfLayer(onnx, 'conv2d');
  assert.deepEqual(inConv.map((n) => n.op).sort(), ['Conv', 'DequantizeLinear', 'DequantizeLinear', 'Transpose']);
  const v = visibleGraph(g, new Set(['layer:conv2d']));
  const box = v.nodes.find((n) => n.id === 'layer:conv2d')!;
  assert.deepEqual([box.kind, box.label, box.op], ['group', 'conv2d', '4 nodes']);
  assert.equal(v.nodes.length, g.nodes.length - 4 + 1);
  // The input's DequantizeLinear feeds the box; the box feeds the ReLU (the Activation layer's node).
  assert.ok(v.edges.some((e) => e.source === 'input/DequantizeLinear' && e.target === 'layer:conv2d'));
  assert.ok(v.edges.some((e) => e.source === 'layer:conv2d' && e.target === 'activation/relu'));
  assert.ok(!v.edges.some((e) => e.source === 'conv2d/kernel/DequantizeLinear'), 'edges inside the box are dropped');
});

test('every group collapsed: the file graph is the model graph again, layer for layer and edge for edge', () => {
  for (const file of [onnx, tflite]) {
    const g = buildFileGraph(file, names(flat));
    const v = visibleGraph(g, new Set(g.groups.map((x) => x.id)));
    const model = buildModelGraph(summarizeGraph(flat.graph).layers);
    const shown = v.nodes.map((n) => layerOfBox(file, n.id));
    // TFLite fuses each Activation layer into the op before it, so that layer has no node of its own.
    const fused = file.format === 'tflite' ? new Set(['activation', 'activation_1']) : new Set<string>();
    assert.deepEqual(shown, model.nodes.map((n) => n.id).filter((id) => !fused.has(id)), file.format);
    // Edges between layers; a fused layer's edges go from the layer before it.
    const before = (id: string) => (fused.has(id) ? model.edges.find((e) => e.target === id)!.source : id);
    const want = model.edges.filter((e) => !fused.has(e.target)).map((e) => `${before(e.source)}->${e.target}`);
    assert.deepEqual(v.edges.map((e) => `${layerOfBox(file, e.source)}->${layerOfBox(file, e.target)}`).sort(), want.sort(), file.format);
  }
});

test('TFLite: the fused activation shows on its operator; edges carry the stored shape and type', () => {
  const g = buildFileGraph(tflite, names(flat));
  const conv = g.nodes.find((n) => n.id === 'conv2d/output')!;
  // TFLite writes most layers as one operator: no group around it, the layer in its details.
  assert.deepEqual([conv.label, conv.op, conv.group], ['conv2d/output', 'CONV_2D + relu', null]);
  assert.deepEqual(g.groups.map((x) => x.id), ['layer:conv2d_input', 'layer:dense_1'], 'the float input and its QUANTIZE; the logits and the softmax');
  const e = g.edges.find((x) => x.source === 'conv2d/output')!;
  assert.deepEqual([e.target, e.label], ['max_pooling2d', '1×28×28×32 int8']);
  assert.equal(g.nodes.find((n) => n.id === 'dense_1/logits')!.op, 'FULLY_CONNECTED');
});

test('nested model: the base and head are outer groups holding their layers’ groups', () => {
  const g = buildFileGraph(nestedOnnx, names(nested));
  const group = (id: string) => g.groups.find((x) => x.id === id);
  assert.deepEqual(group('layer:fashion_base'), { id: 'layer:fashion_base', label: 'fashion_base', parent: null, size: nestedOnnx.nodes.filter((n) => n.layer!.startsWith('fashion_base/')).length, unit: 'node' });
  assert.deepEqual(group('layer:fashion_base/conv2d'), { id: 'layer:fashion_base/conv2d', label: 'conv2d', parent: 'layer:fashion_base', size: nodesOfLayer(nestedOnnx, 'fashion_base/conv2d').length, unit: 'node' });
  assert.equal(group('layer:fashion_head/dense_1')?.parent, 'layer:fashion_head');
  // Names shown without the nested model's path: the Conv named as its layer, the quantizer closing conv + activation in the Activation layer.
  const label = (id: string) => g.nodes.find((n) => n.id === id)?.label;
  assert.equal(label('fashion_base/conv2d'), 'conv2d');
  assert.equal(g.nodes.find((n) => n.id === 'fashion_base/conv2d/output/QuantizeLinear')?.group, 'layer:fashion_base/activation');
  assert.equal(label('fashion_base/conv2d/output/QuantizeLinear'), 'conv2d/output/QuantizeLinear');
  assert.equal(label('fashion_base/conv2d/kernel/DequantizeLinear'), 'kernel/DequantizeLinear');
  assert.ok(g.groups.findIndex((x) => x.id === 'layer:fashion_base') < g.groups.findIndex((x) => x.id === 'layer:fashion_base/conv2d'), 'outer groups first');
  // Collapsed, the whole file is three boxes: the model's input layer (the outer Sequential's), the base and the head.
  const v = visibleGraph(g, new Set(g.groups.map((x) => x.id)));
  assert.deepEqual(v.nodes.map((n) => n.id), ['layer:conv2d_input', 'layer:fashion_base', 'layer:fashion_head']);
  assert.ok(v.edges.some((e) => e.source === 'layer:fashion_base' && e.target === 'layer:fashion_head'));
});

test('a file larger than the layout takes at once starts with every layer collapsed, saying why', () => {
  const g = buildFileGraph(onnx, names(flat));
  assert.deepEqual(planFileView(g, g.nodes.length), { collapsed: new Set(), note: null });
  const plan = planFileView(g, 10);
  assert.equal(plan.collapsed.size, g.groups.length);
  assert.match(plan.note!, new RegExp(`^${g.nodes.length} nodes are more than the 10`));
  const lone = g.nodes.filter((n) => n.group === null).length;
  assert.equal(visibleGraph(g, plan.collapsed).nodes.length, g.groups.length + lone);
});
