/**
 * The graph view's layout as data: the ELK input built from the visible
 * graph (ELK's layered algorithm, top to bottom, groups as compound nodes
 * laid out with their contents), and ELK's answer read back into absolute
 * boxes and polylines the SVG draws. Pure, no DOM; the ELK call itself runs
 * in a worker (lib/graph/layout.ts).
 */
import type { VisibleGraph } from './collapse.js';

/** The subset of ELK's JSON graph the view uses. */
export interface ElkLabel {
  text: string;
  width: number;
  height: number;
  x?: number;
  y?: number;
}
export interface ElkPoint {
  x: number;
  y: number;
}
export interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: ElkLabel[];
  sections?: { startPoint: ElkPoint; endPoint: ElkPoint; bendPoints?: ElkPoint[] }[];
}
export interface ElkNode {
  id: string;
  width?: number;
  height?: number;
  x?: number;
  y?: number;
  labels?: ElkLabel[];
  children?: ElkNode[];
  edges?: ElkEdge[];
  layoutOptions?: Record<string, string>;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface PlacedNode extends Box {
  id: string;
}
export interface PlacedGroup extends Box {
  id: string;
  label: string;
}
export interface PlacedEdge {
  id: string;
  source: string;
  target: string;
  label: string;
  points: ElkPoint[];
  labelAt: ElkPoint | null;
}
export interface GraphLayout {
  width: number;
  height: number;
  nodes: Map<string, PlacedNode>;
  groups: PlacedGroup[];
  edges: PlacedEdge[];
}

/** Text metrics of the SVG's 11 px monospace labels, estimated (no DOM in the worker or in tests). */
export const CHAR_WIDTH = 6.7;
export const NODE_HEIGHT = 36;
export const GROUP_HEADER = 22;
const EDGE_LABEL_CHAR = 5.6;
/** How far below its source an edge's shape is written (inside the gap between layers). */
const EDGE_LABEL_DROP = 11;

export function nodeWidth(label: string, op: string): number {
  return Math.ceil(Math.max(label.length, op.length, 6) * CHAR_WIDTH + 20);
}

const ROOT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '30',
  'elk.spacing.nodeNode': '18',
  'elk.spacing.edgeNode': '12',
  'elk.spacing.edgeEdge': '8',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
};
const GROUP_OPTIONS: Record<string, string> = { 'elk.padding': `[top=${GROUP_HEADER + 6},left=10,bottom=10,right=10]` };

/**
 * The ELK graph of the visible graph: groups as compound nodes, every edge at
 * the root (coordinates come back absolute). Edge labels are not given to ELK
 * (each becomes a dummy node of the layered algorithm: five times the layout
 * time of a MobileNetV2, measured); every edge out of a node carries the same
 * tensor, so its shape is drawn once, just under the node (see fromElkGraph).
 */
export function toElkGraph(v: VisibleGraph, edgeLabels = false): ElkNode {
  // Groups are laid out with their contents in one pass (edges cross group borders); without groups that mode only costs time (2x on a MobileNetV2, measured).
  const layoutOptions = v.groups.length > 0 ? { ...ROOT_OPTIONS, 'elk.hierarchyHandling': 'INCLUDE_CHILDREN' } : ROOT_OPTIONS;
  const root: ElkNode = { id: '__root', layoutOptions, children: [], edges: [] };
  const containers = new Map<string | null, ElkNode>([[null, root]]);
  for (const g of v.groups) {
    const node: ElkNode = { id: g.id, layoutOptions: GROUP_OPTIONS, children: [] };
    containers.set(g.id, node);
  }
  for (const g of v.groups) (containers.get(g.parent) ?? root).children!.push(containers.get(g.id)!);
  for (const n of v.nodes) (containers.get(n.parent) ?? root).children!.push({ id: n.id, width: nodeWidth(n.label, n.op), height: NODE_HEIGHT });
  for (const e of v.edges) {
    const edge: ElkEdge = { id: e.id, sources: [e.source], targets: [e.target] };
    if (edgeLabels) edge.labels = [{ text: e.label, width: Math.ceil(e.label.length * EDGE_LABEL_CHAR + 4), height: 12 }];
    root.edges!.push(edge);
  }
  return root;
}

/** ELK's answer as absolute boxes and polylines. */
export function fromElkGraph(laid: ElkNode, v: VisibleGraph): GraphLayout {
  const isGroup = new Set(v.groups.map((g) => g.id));
  const groupLabels = new Map(v.groups.map((g) => [g.id, g.label]));
  const nodes = new Map<string, PlacedNode>();
  const groups: PlacedGroup[] = [];
  const visit = (n: ElkNode) => {
    for (const c of n.children ?? []) {
      const box = { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 };
      if (isGroup.has(c.id)) groups.push({ id: c.id, label: groupLabels.get(c.id)!, ...box });
      else nodes.set(c.id, { id: c.id, ...box });
      visit(c);
    }
  };
  visit(laid);
  const byId = new Map(v.edges.map((e) => [e.id, e]));
  const edges: PlacedEdge[] = [];
  const labelled = new Set<string>();
  const collect = (n: ElkNode) => {
    for (const e of n.edges ?? []) {
      const src = byId.get(e.id);
      if (!src) continue;
      const points = (e.sections ?? []).flatMap((s) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]);
      const l = e.labels?.[0];
      // ELK's label position if it placed one; else the shape once per source, beside where its first edge leaves it.
      let labelAt: ElkPoint | null = null;
      if (l && l.x !== undefined && l.y !== undefined) labelAt = { x: l.x, y: l.y + l.height - 3 };
      else if (!labelled.has(src.source) && points[0]) labelAt = { x: points[0].x + 4, y: points[0].y + EDGE_LABEL_DROP };
      labelled.add(src.source);
      edges.push({ id: e.id, source: src.source, target: src.target, label: src.label, points, labelAt });
    }
    for (const c of n.children ?? []) collect(c);
  };
  collect(laid);
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, groups, edges };
}

/**
 * Edge segments that pass through a node box other than their own ends
 * (shrunk by `inset` so touching a border does not count): the bench's
 * "edges do not cross through nodes" figure.
 */
export function edgesThroughNodes(layout: GraphLayout, inset = 1): { edge: string; node: string }[] {
  const out: { edge: string; node: string }[] = [];
  const boxes = [...layout.nodes.values()];
  for (const e of layout.edges) {
    for (let i = 0; i + 1 < e.points.length; i++) {
      const a = e.points[i]!;
      const b = e.points[i + 1]!;
      for (const n of boxes) {
        if (n.id === e.source || n.id === e.target) continue;
        if (segmentHitsBox(a, b, { x: n.x + inset, y: n.y + inset, width: n.width - 2 * inset, height: n.height - 2 * inset })) {
          out.push({ edge: e.id, node: n.id });
        }
      }
    }
  }
  return out;
}

/** Whether segment a–b meets the box's interior (Liang–Barsky clipping). */
export function segmentHitsBox(a: ElkPoint, b: ElkPoint, box: Box): boolean {
  if (box.width <= 0 || box.height <= 0) return false;
  let t0 = 0;
  let t1 = 1;
  const dx = b.x - a.x;
  const dy = b.y - a.y;
  const checks: [number, number][] = [
    [-dx, a.x - box.x],
    [dx, box.x + box.width - a.x],
    [-dy, a.y - box.y],
    [dy, box.y + box.height - a.y],
  ];
  for (const [p, q] of checks) {
    if (p === 0) {
      if (q <= 0) return false;
      continue;
    }
    const t = q / p;
    if (p < 0) t0 = Math.max(t0, t);
    else t1 = Math.min(t1, t);
    if (t0 >= t1) return false;
  }
  return true;
}
