/**
 * What the graph view lays out: the model graph with some groups collapsed
 * into one node each (edges into and out of a collapsed group rerouted to
 * it, edges inside it dropped), and the plan for a graph too large to lay
 * out at once: nested models collapsed, and a flat model cut into chunks of
 * consecutive layers, each a collapsed group that opens on a click.
 */
import type { GraphEdge, GraphGroup, GraphNode, ModelGraph } from './model-graph.js';

export interface VisibleNode {
  id: string;
  kind: 'layer' | 'group';
  label: string;
  /** A layer's op; a collapsed group's layer count. */
  op: string;
  /** The expanded group drawn around it, or null at the top. */
  parent: string | null;
  /** The layer, for kind 'layer'. */
  layer: GraphNode | null;
}

export interface VisibleGraph {
  nodes: VisibleNode[];
  edges: GraphEdge[];
  /** Expanded groups holding visible nodes, outer first: drawn as boxes. */
  groups: GraphGroup[];
}

/** The graph with the groups in `collapsed` shown as single nodes (a group inside a collapsed one is hidden with it). */
export function visibleGraph(graph: ModelGraph, collapsed: ReadonlySet<string>): VisibleGraph {
  const groups = new Map(graph.groups.map((g) => [g.id, g]));
  const chain = (group: string | null): string[] => {
    const out: string[] = [];
    for (let g = group; g !== null; g = groups.get(g)?.parent ?? null) out.unshift(g);
    return out;
  };
  /** The outermost collapsed group on the way to `group`, or null. */
  const collapsedAt = (group: string | null): string | null => chain(group).find((g) => collapsed.has(g)) ?? null;

  const nodes: VisibleNode[] = [];
  const groupNodes = new Set<string>();
  const shownGroups = new Set<string>();
  const rep = new Map<string, string>();
  const addGroupsAbove = (group: string | null) => {
    for (const g of chain(group)) shownGroups.add(g);
  };
  for (const n of graph.nodes) {
    const c = collapsedAt(n.group);
    if (c === null) {
      rep.set(n.id, n.id);
      addGroupsAbove(n.group);
      nodes.push({ id: n.id, kind: 'layer', label: n.label, op: n.op, parent: n.group, layer: n });
      continue;
    }
    rep.set(n.id, c);
    if (!groupNodes.has(c)) {
      groupNodes.add(c);
      const g = groups.get(c)!;
      addGroupsAbove(g.parent);
      nodes.push({ id: c, kind: 'group', label: g.label, op: `${g.size} ${g.unit ?? 'layer'}${g.size === 1 ? '' : 's'}`, parent: g.parent, layer: null });
    }
  }
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const e of graph.edges) {
    const source = rep.get(e.source);
    const target = rep.get(e.target);
    if (source === undefined || target === undefined || source === target) continue;
    const id = `${source}->${target}`;
    if (seen.has(id)) continue;
    seen.add(id);
    edges.push({ id, source, target, label: e.label });
  }
  return { nodes, edges, groups: graph.groups.filter((g) => shownGroups.has(g.id) && !collapsed.has(g.id)) };
}

export interface ViewPlan {
  /** The graph to show: the model's, or with chunks of its top-level layers added as groups. */
  graph: ModelGraph;
  collapsed: Set<string>;
  /** Why the view starts collapsed, or null when it shows every layer. */
  note: string | null;
}

/**
 * How to show a graph of this size: every layer when it has at most
 * `maxNodes`; otherwise its nested models collapsed and, if that is still
 * too many, its top-level layers in chunks of consecutive layers
 * (collapsed), so the layout never gets more than about `maxNodes` boxes.
 */
export function planView(graph: ModelGraph, maxNodes: number): ViewPlan {
  if (graph.nodes.length <= maxNodes) return { graph, collapsed: new Set(), note: null };
  const topGroups = graph.groups.filter((g) => g.parent === null).map((g) => g.id);
  const collapsed = new Set(topGroups);
  const shown = visibleGraph(graph, collapsed).nodes.length;
  const why = `${graph.nodes.length} layers are more than the ${maxNodes} the layout places quickly`;
  if (shown <= maxNodes) return { graph, collapsed, note: `${why}: nested models are collapsed; click one to open it.` };
  const chunked = withChunks(graph, Math.ceil(graph.nodes.length / Math.max(1, Math.floor(maxNodes / 4))));
  const chunks = chunked.groups.filter((g) => g.id.startsWith(CHUNK_PREFIX)).map((g) => g.id);
  return { graph: chunked, collapsed: new Set([...topGroups, ...chunks]), note: `${why}: shown in chunks of consecutive layers; click a chunk to open it.` };
}

/** Synthetic chunk groups are named so no layer path can collide with them. */
export const CHUNK_PREFIX = '\u2026layers ';

/** The top-level layers in groups of `size` consecutive layers (graph order); nested models stay as they are. */
export function withChunks(graph: ModelGraph, size: number): ModelGraph {
  const top = graph.nodes.filter((n) => n.group === null);
  const chunkOf = new Map<string, string>();
  const groups: GraphGroup[] = [];
  for (let i = 0; i < top.length; i += size) {
    const part = top.slice(i, i + size);
    const id = `${CHUNK_PREFIX}${i + 1}\u2013${i + part.length}`;
    groups.push({ id, label: `layers ${i + 1}\u2013${i + part.length}`, parent: null, size: part.length });
    for (const n of part) chunkOf.set(n.id, id);
  }
  return {
    nodes: graph.nodes.map((n) => (chunkOf.has(n.id) ? { ...n, group: chunkOf.get(n.id)! } : n)),
    edges: graph.edges,
    groups: [...groups, ...graph.groups],
  };
}

/** The groups holding a layer, outer first (to open them when search or a click lands inside). */
export function groupsAbove(graph: ModelGraph, layer: string): string[] {
  const groups = new Map(graph.groups.map((g) => [g.id, g]));
  const out: string[] = [];
  for (let g = graph.nodes.find((n) => n.id === layer)?.group ?? null; g !== null; g = groups.get(g)?.parent ?? null) out.unshift(g);
  return out;
}
