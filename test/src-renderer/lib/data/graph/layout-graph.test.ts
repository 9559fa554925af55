// The graph view's ELK input and output: the layered algorithm's options,
// groups as compound nodes, ELK's ROOT coordinates read back, one shape
// label per source, and the geometry check the bench uses (edge segments
// through node boxes, by Liang–Barsky clipping).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { visibleGraph } from '../../../../../src-renderer/lib/data/graph/collapse.js';
import { edgesThroughNodes, fromElkGraph, segmentHitsBox, toElkGraph, type ElkNode } from '../../../../../src-renderer/lib/data/graph/layout-graph.js';
import { buildModelGraph } from '../../../../../src-renderer/lib/data/graph/model-graph.js';

test('segments against boxes: through, beside, touching a border', () => {
  const box = { x: 0, y: 0, width: 10, height: 10 };
  assert.equal(segmentHitsBox({ x: 5, y: -5 }, { x: 5, y: 15 }, box), true);
  assert.equal(segmentHitsBox({ x: 12, y: -5 }, { x: 12, y: 15 }, box), false);
  assert.equal(segmentHitsBox({ x: 10, y: -5 }, { x: 10, y: 15 }, box), false);
  assert.equal(segmentHitsBox({ x: -5, y: 5 }, { x: 2, y: 5 }, box), true);
});

test('ELK graph in and out: groups as compound nodes, absolute coordinates read back, edges through nodes found', () => {
  const l = (name: string, inputs: string[]) => ({ name, op: 'dense', inputs, outputShape: [4], params: 0, weightShapes: {} });
  const g = buildModelGraph([l('in', []), l('m/a', ['in']), l('m/b', ['m/a']), l('out', ['m/b', 'in'])]);
  const v = visibleGraph(g, new Set());
  const elk = toElkGraph(v);
  assert.equal(elk.layoutOptions!['elk.algorithm'], 'layered');
  assert.equal(elk.layoutOptions!['elk.hierarchyHandling'], 'INCLUDE_CHILDREN');
  assert.equal(toElkGraph(visibleGraph(g, new Set(['m']))).layoutOptions!['elk.hierarchyHandling'], undefined, 'no groups drawn: a flat layout');
  assert.deepEqual(elk.children!.map((c) => c.id), ['m', 'in', 'out']);
  assert.deepEqual(elk.children![0]!.children!.map((c) => c.id), ['m/a', 'm/b']);
  assert.equal(elk.edges!.length, 4);
  assert.equal(elk.edges![0]!.labels, undefined, 'shapes are drawn by the view, not placed by ELK');
  assert.equal(toElkGraph(v, true).edges![0]!.labels![0]!.text, '4');
  // A laid-out answer as ELK gives it with ROOT coordinates: the skip edge in->out drawn straight through m/a.
  const laid: ElkNode = {
    ...elk,
    width: 200,
    height: 300,
    children: [
      { id: 'm', x: 0, y: 50, width: 120, height: 150, children: [{ id: 'm/a', x: 10, y: 80, width: 100, height: 36 }, { id: 'm/b', x: 10, y: 150, width: 100, height: 36 }] },
      { id: 'in', x: 10, y: 0, width: 100, height: 36 },
      { id: 'out', x: 10, y: 250, width: 100, height: 36 },
    ],
    edges: elk.edges!.map((e) => ({ ...e, sections: [{ startPoint: { x: 60, y: 36 }, endPoint: { x: 60, y: 250 } }] })),
  };
  const layout = fromElkGraph(laid, v);
  assert.deepEqual(layout.groups.map((x) => [x.id, x.y]), [['m', 50]]);
  assert.equal(layout.nodes.get('m/b')!.y, 150);
  // One shape label per source node, just under where its first edge leaves.
  assert.deepEqual(layout.edges.filter((e) => e.labelAt).map((e) => e.source), ['in', 'm/a', 'm/b']);
  assert.deepEqual(layout.edges.find((e) => e.source === 'in')!.labelAt, { x: 64, y: 47 });
  const through = edgesThroughNodes(layout).filter((x) => x.edge === 'in->out');
  assert.deepEqual(through.map((x) => x.node).sort(), ['m/a', 'm/b']);
});
