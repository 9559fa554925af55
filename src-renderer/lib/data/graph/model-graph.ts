/**
 * The model as a graph for the graph view: one node per layer of the IR, a
 * BatchNormalization folded into its convolution shown inside that node (as
 * the quantized model computes it), edges labelled with the tensor shape they
 * carry, and nested models (layer paths `outer/inner/layer`) as groups.
 * Pure, no DOM: the layout (ELK) and the SVG come after.
 */
import type { LayerQuantization, LayerSummary } from '../../../../src-main/api/contract.js';
import { formatShape } from '../format.js';

export interface GraphNode {
  /** The layer's full name (its path in nested models). */
  id: string;
  /** The last path segment, what the node shows. */
  label: string;
  /** The Keras class (or the IR op when the class is unknown), with a fused activation. */
  op: string;
  /** The innermost group holding it, or null at the top. */
  group: string | null;
  /** BatchNormalizations folded into this layer. */
  folded: string[];
  outputShape: number[];
  /** How the layer is quantized (models.explain), when known. */
  quant: LayerQuantization | null;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  /** The shape of the tensor it carries, e.g. "16×16×32". */
  label: string;
}

export interface GraphGroup {
  /** The path prefix, e.g. "sequential_1/model1". */
  id: string;
  label: string;
  parent: string | null;
  /** Every node under it, at any depth. */
  size: number;
  /** What it counts in a collapsed box: 'layer' (the default) or 'node' (an exported file's). */
  unit?: 'layer' | 'node';
}

export interface ModelGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Outer groups before inner ones. */
  groups: GraphGroup[];
}

export interface FoldPair {
  bn: string;
  into: string;
}

/**
 * The graph of a model's layers (models.get, in graph order). `folded`
 * (models.explain's studio.folded) names the BatchNormalizations merged into
 * a layer: they become part of that node, and their readers read the node.
 */
export function buildModelGraph(layers: readonly LayerSummary[], folded: readonly FoldPair[] = [], quantization: readonly LayerQuantization[] = []): ModelGraph {
  const names = new Set(layers.map((l) => l.name));
  const into = new Map(folded.filter((f) => names.has(f.bn) && names.has(f.into)).map((f) => [f.bn, f.into]));
  const quant = new Map(quantization.map((q) => [q.layer, q]));
  const resolve = (name: string): string => {
    let n = name;
    for (let hops = 0; into.has(n) && hops < layers.length; hops++) n = into.get(n)!;
    return n;
  };

  const groupIds = new Map<string, GraphGroup>();
  const groupOf = (name: string): string | null => {
    // A prefix is a nested model only if no layer has that name: `conv/depthwise`
    // (a split SeparableConv2D) and `conv/swish` (a split activation) belong beside `conv`.
    const parts = name.split('/');
    let parent: string | null = null;
    for (let i = 1; i < parts.length; i++) {
      const id = parts.slice(0, i).join('/');
      if (names.has(id)) break;
      if (!groupIds.has(id)) groupIds.set(id, { id, label: parts[i - 1]!, parent, size: 0 });
      parent = id;
    }
    return parent;
  };

  const nodes: GraphNode[] = [];
  const shapes = new Map<string, number[]>();
  for (const l of layers) {
    shapes.set(l.name, l.outputShape);
    if (into.has(l.name)) continue;
    const group = groupOf(l.name);
    for (let g = group; g !== null; g = groupIds.get(g)!.parent) groupIds.get(g)!.size++;
    const prefix = group === null ? '' : `${group}/`;
    const activation = l.activation && l.activation !== 'linear' ? ` + ${l.activation}` : '';
    nodes.push({
      id: l.name,
      label: l.name.startsWith(prefix) ? l.name.slice(prefix.length) : l.name,
      op: `${l.className ?? l.op}${activation}`,
      group,
      folded: [],
      outputShape: l.outputShape,
      quant: quant.get(l.name) ?? null,
    });
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const [bn, target] of into) byId.get(resolve(target))?.folded.push(bn);

  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const l of layers) {
    if (into.has(l.name)) continue;
    for (const input of l.inputs) {
      const source = resolve(input);
      if (!byId.has(source) || source === l.name) continue;
      const id = `${source}->${l.name}`;
      if (seen.has(id)) continue;
      seen.add(id);
      // A folded BN keeps its conv's shape, so the shape is the input's as stored.
      edges.push({ id, source, target: l.name, label: formatShape(shapes.get(input) ?? []) });
    }
  }
  const groups = [...groupIds.values()].sort((a, b) => depth(a.id) - depth(b.id));
  return { nodes, edges, groups };
}

function depth(path: string): number {
  return path.split('/').length;
}

/** Successors and predecessors of every node. */
export interface Adjacency {
  out: Map<string, string[]>;
  in: Map<string, string[]>;
}

export function adjacency(edges: readonly { source: string; target: string }[]): Adjacency {
  const out = new Map<string, string[]>();
  const inc = new Map<string, string[]>();
  for (const e of edges) {
    out.set(e.source, [...(out.get(e.source) ?? []), e.target]);
    inc.set(e.target, [...(inc.get(e.target) ?? []), e.source]);
  }
  return { out, in: inc };
}
