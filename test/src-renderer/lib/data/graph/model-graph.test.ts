// The graph view's model graph on real keras.applications topologies: a
// MobileNetV2 (alpha 0.35, 32 px: Keras's layers, names and connections)
// nested as transfer learning nests it, read into the IR as the studio reads
// it, summarised as models.get sends it and explained as models.explain
// does. Expected counts come from the architecture: MobileNetV2 has 52
// BatchNormalizations (one after each of its 52 convolutions), all folded;
// 10 residual Adds (blocks 2, 4, 5, 7, 8, 9, 11, 12, 14, 15), each reading
// the block's input and its projection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { LayerSummary, VariableExplanation } from '../../../../../src-main/api/contract.js';
import { RunConfig } from '../../../../../src-main/api/run-config.js';
import { graphFromLayersModel } from '../../../../../src-main/engine/graph/from-layers.js';
import { summarizeGraph } from '../../../../../src-main/engine/graph/summary.js';
import { explainVariables } from '../../../../../src-main/engine/qat/variables.js';
import { CHUNK_PREFIX, groupsAbove, planView, visibleGraph } from '../../../../../src-renderer/lib/data/graph/collapse.js';
import { buildModelGraph, type ModelGraph } from '../../../../../src-renderer/lib/data/graph/model-graph.js';
import { moveFrom, searchNodes } from '../../../../../src-renderer/lib/data/graph/navigation.js';
import { mobileNetV2, transferLearning } from '../../../../helpers/applications/index.js';

function realModel(): { layers: LayerSummary[]; explanation: VariableExplanation } {
  const base = mobileNetV2({ alpha: 0.35, inputSize: 32, includeTop: false, seed: null });
  const model = transferLearning(base, 10);
  const graph = graphFromLayersModel(model);
  model.dispose();
  const config = RunConfig.parse({ modelId: 1, datasetId: 1 });
  return { layers: summarizeGraph(graph).layers, explanation: explainVariables(graph, config) };
}

const { layers, explanation } = realModel();
const graph: ModelGraph = buildModelGraph(layers, explanation.studio.folded, explanation.studio.layers);
const find = (suffix: string) => {
  const n = graph.nodes.find((x) => x.id.endsWith(`/${suffix}`) || x.id === suffix);
  assert.ok(n, `no node ${suffix}`);
  return n;
};

test('every layer is a node but the folded BatchNorms, which sit inside their convolution', () => {
  const bns = layers.filter((l) => l.op === 'batchNorm');
  assert.equal(bns.length, 52);
  assert.equal(explanation.studio.folded.length, 52);
  assert.equal(graph.nodes.length, layers.length - 52);
  const project = find('block_1_project');
  assert.deepEqual(project.folded.map((b) => b.split('/').pop()), ['block_1_project_BN']);
  assert.equal(project.quant?.kind, 'own-range');
  assert.ok(!graph.nodes.some((n) => n.op === 'BatchNormalization'));
});

test('edges follow the IR through the folds, labelled with the shapes they carry', () => {
  const ids = new Set(graph.nodes.map((n) => n.id));
  for (const e of graph.edges) assert.ok(ids.has(e.source) && ids.has(e.target), `edge ${e.id} ends at a node`);
  // A residual Add reads the block's input (the previous projection) and its own projection, BNs folded.
  const add = find('block_2_add');
  const into = graph.edges.filter((e) => e.target === add.id).map((e) => e.source.split('/').pop());
  assert.deepEqual(into.sort(), ['block_1_project', 'block_2_project']);
  const adds = graph.nodes.filter((n) => n.op === 'Add');
  assert.equal(adds.length, 10);
  for (const a of adds) assert.equal(graph.edges.filter((e) => e.target === a.id).length, 2, a.id);
  // The shape is the source's output: block_1_project at 32 px, stride 2 once before it -> 8×8×8 (alpha 0.35: 24·0.35 -> 8).
  const edge = graph.edges.find((e) => e.source === find('block_1_project').id && e.target === add.id)!;
  const src = layers.find((l) => l.name === find('block_1_project').id)!;
  assert.equal(edge.label, src.outputShape.join('×'));
});

test('the nested base model is a group named by its path; its layers are labelled without it', () => {
  const outer = layers.find((l) => l.name.includes('/'))!.name.split('/')[0]!;
  assert.deepEqual(graph.groups.map((g) => g.id), [outer]);
  assert.equal(graph.groups[0]!.size, graph.nodes.filter((n) => n.group === outer).length);
  const conv = find('Conv1');
  assert.equal(conv.group, outer);
  assert.equal(conv.label, 'Conv1');
  assert.deepEqual(groupsAbove(graph, conv.id), [outer]);
  // The head (pooling, Dense) is outside it.
  assert.ok(graph.nodes.some((n) => n.group === null && n.op.startsWith('Dense')));
});

test('a split SeparableConv2D or activation stays beside its layer, not a group of it', () => {
  const l = (name: string, inputs: string[]): LayerSummary => ({ name, op: 'conv2d', inputs, outputShape: [4, 4, 2], params: 0, weightShapes: {} });
  const g = buildModelGraph([l('in', []), l('m/sep/depthwise', ['in']), l('m/sep', ['m/sep/depthwise']), l('m/sep/swish', ['m/sep'])]);
  assert.deepEqual(g.groups.map((x) => x.id), ['m']);
  assert.deepEqual(g.nodes.map((n) => [n.label, n.group]), [['in', null], ['sep/depthwise', 'm'], ['sep', 'm'], ['sep/swish', 'm']]);
});

test('collapsing the base model reroutes its edges to one node and drops those inside', () => {
  const outer = graph.groups[0]!.id;
  const v = visibleGraph(graph, new Set([outer]));
  const inside = graph.nodes.filter((n) => n.group === outer).length;
  assert.equal(v.nodes.length, graph.nodes.length - inside + 1);
  const node = v.nodes.find((n) => n.id === outer)!;
  assert.equal(node.kind, 'group');
  assert.equal(node.op, `${inside} layers`);
  assert.deepEqual(v.groups, []);
  // The input feeds the base; the base feeds the pooling: two edges touch it.
  assert.equal(v.edges.filter((e) => e.source === outer || e.target === outer).length, 2);
  assert.ok(v.edges.every((e) => e.source !== e.target));
});

test('a graph over the node cap starts collapsed; a flat one in chunks of consecutive layers', () => {
  const small = planView(graph, 1000);
  assert.equal(small.note, null);
  assert.equal(small.collapsed.size, 0);
  const nested = planView(graph, 50);
  assert.deepEqual([...nested.collapsed], [graph.groups[0]!.id]);
  assert.match(nested.note!, /nested models are collapsed/);

  // A flat chain of 3000 layers with a cap of 400: chunks of 30, 100 of them, each laid out as one box.
  const flat: LayerSummary[] = Array.from({ length: 3000 }, (_, i) => ({ name: `l${i}`, op: 'dense', inputs: i === 0 ? [] : [`l${i - 1}`], outputShape: [8], params: 0, weightShapes: {} }));
  const plan = planView(buildModelGraph(flat), 400);
  assert.match(plan.note!, /chunks of consecutive layers/);
  const v = visibleGraph(plan.graph, plan.collapsed);
  assert.equal(v.nodes.length, 100);
  assert.ok(v.nodes.every((n) => n.kind === 'group' && n.id.startsWith(CHUNK_PREFIX)));
  assert.equal(v.edges.length, 99);
  // Opening one chunk shows its 30 layers beside the 99 other chunks.
  const first = v.nodes[0]!.id;
  const opened = visibleGraph(plan.graph, new Set([...plan.collapsed].filter((g) => g !== first)));
  assert.equal(opened.nodes.length, 129);
});

test('arrows: down to what a node feeds, up to what feeds it, left/right across the branches of a residual block', () => {
  const v = visibleGraph(graph, new Set());
  const project = find('block_1_project').id;
  const expand = find('block_2_expand').id;
  const add = find('block_2_add').id;
  // Put the skip edge's target to the right of the block's main path, as the layout does.
  const x = new Map(v.nodes.map((n) => [n.id, n.id === add ? 100 : 0]));
  const nav = { edges: v.edges, x };
  assert.equal(moveFrom(nav, project, 'ArrowDown'), expand);
  assert.equal(moveFrom(nav, expand, 'ArrowRight', project), add);
  assert.equal(moveFrom(nav, add, 'ArrowRight', project), expand, 'wraps around');
  assert.equal(moveFrom(nav, add, 'ArrowLeft', project), expand);
  assert.equal(moveFrom(nav, add, 'ArrowUp'), project, 'the leftmost of its two feeders');
  const input = v.nodes.find((n) => !v.edges.some((e) => e.target === n.id))!.id;
  assert.equal(moveFrom(nav, input, 'ArrowUp'), input, 'nothing above the input');
});

test('search matches names case-insensitively, in graph order', () => {
  const names = graph.nodes.map((n) => n.id);
  const hits = searchNodes(names, 'BLOCK_2_');
  assert.ok(hits.length >= 4);
  assert.ok(hits.every((h) => h.includes('block_2_')));
  assert.deepEqual(hits, names.filter((n) => hits.includes(n)));
  assert.deepEqual(searchNodes(names, '  '), []);
});

test.after(() => tf.disposeVariables());
