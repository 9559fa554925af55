/**
 * An exported file's graph (exports.graph) for the graph view: one node per
 * ONNX node or TFLite operator as the writer emitted it, grouped by the Keras
 * layer it was written for (a layer's QuantizeLinear, DequantizeLinear and
 * Conv sit in one group that collapses into one box; a layer of one node needs
 * none), nested models as outer groups as in the model graph. The same ModelGraph shape the model view
 * lays out, so collapse, layout and canvas serve both. Pure, no DOM.
 */
import type { FileGraph, FileNode, FileTensor } from '../../../../src-main/api/contract.js';
import { formatShape } from '../format.js';
import type { GraphEdge, GraphGroup, GraphNode, ModelGraph } from './model-graph.js';

/** Group ids are prefixed so a layer's group never shares an id with the node named as the layer (the Conv node `conv2d`). */
export const LAYER_GROUP_PREFIX = 'layer:';

export function layerGroupId(layer: string): string {
  return `${LAYER_GROUP_PREFIX}${layer}`;
}

/** The layer a group id stands for, or null for other groups. */
export function layerOfGroup(group: string): string | null {
  return group.startsWith(LAYER_GROUP_PREFIX) ? group.slice(LAYER_GROUP_PREFIX.length) : null;
}

/** What a node's box says under its name: the op and, in TFLite, the activation fused into it. */
export function fileNodeOp(n: FileNode): string {
  return n.fusedActivation === null ? n.op : `${n.op} + ${n.fusedActivation.toLowerCase()}`;
}

/** An edge's label: the tensor's shape and type as far as the file states them. */
export function tensorLabel(t: FileTensor | undefined): string {
  if (!t) return '';
  const shape = t.shape === null ? null : formatShape(t.shape.map((d) => (typeof d === 'number' ? d : null)));
  return [shape, t.dtype].filter((x) => x !== null).join(' ');
}

/**
 * The graph of a file's nodes. `modelLayers` (the source model's layer names,
 * when known) tells a nested model (`base/conv1` inside `base`) from a layer
 * split in two (`conv/depthwise` beside the layer `conv`), as the model graph does.
 */
export function buildFileGraph(file: FileGraph, modelLayers: readonly string[] = []): ModelGraph {
  const layers = new Set([...modelLayers, ...file.nodes.flatMap((n) => (n.layer === null ? [] : [n.layer]))]);
  const count = new Map<string, number>();
  for (const n of file.nodes) if (n.layer !== null) count.set(n.layer, (count.get(n.layer) ?? 0) + 1);
  const groups = new Map<string, GraphGroup>();
  /** A layer written as several nodes gets a group; a layer of one node (most TFLite ops) sits in its nested model's group, a box around one box being no help to read or to lay out. */
  const groupOf = (layer: string | null): string | null => {
    if (layer === null) return null;
    const id = layerGroupId(layer);
    if (groups.has(id)) return id;
    // Outer groups: the path's prefixes up to the first that is a layer itself.
    const parts = layer.split('/');
    let parent: string | null = null;
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (layers.has(prefix)) break;
      const pid = layerGroupId(prefix);
      if (!groups.has(pid)) groups.set(pid, { id: pid, label: parts[i - 1]!, parent, size: 0, unit: 'node' });
      parent = pid;
    }
    if (count.get(layer)! < 2) return parent;
    const prefix = parent === null ? '' : `${layerOfGroup(parent)!}/`;
    groups.set(id, { id, label: layer.startsWith(prefix) ? layer.slice(prefix.length) : layer, parent, size: 0, unit: 'node' });
    return id;
  };

  const nodes: GraphNode[] = file.nodes.map((n) => {
    const group = groupOf(n.layer);
    for (let g = group; g !== null; g = groups.get(g)!.parent) groups.get(g)!.size++;
    // In its layer's group: the name inside the layer; a lone node: the name inside its nested model (if any).
    const outer = group === null ? '' : `${layerOfGroup(group)!}/`;
    const label = group !== null && group === layerGroupId(n.layer!) ? nameInLayer(n.id, n.layer) : n.id.startsWith(outer) ? n.id.slice(outer.length) : n.id;
    const shape = n.outputs[0]?.shape ?? [];
    return { id: n.id, label, op: fileNodeOp(n), group, folded: [], outputShape: shape.map((d) => (typeof d === 'number' ? d : -1)), quant: null };
  });

  const tensors = new Map(file.nodes.flatMap((n) => n.outputs.map((t): [string, FileTensor] => [t.name, t])));
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  for (const e of file.edges) {
    const id = `${e.source}->${e.target}`;
    if (seen.has(id)) continue;
    seen.add(id);
    edges.push({ id, source: e.source, target: e.target, label: tensorLabel(tensors.get(e.tensor)) });
  }
  const depth = (g: GraphGroup) => (layerOfGroup(g.id) ?? '').split('/').length;
  return { nodes, edges, groups: [...groups.values()].sort((a, b) => depth(a) - depth(b)) };
}

/**
 * A node or tensor name as shown inside its layer's group: the rest of a name
 * under the layer (`kernel/DequantizeLinear`), else the name without the
 * nested model's path the layer sits in (the Conv `base/block_1_project`,
 * the quantizer `base/block_1_depthwise/output/QuantizeLinear` of the layer
 * `base/block_1_depthwise_relu`).
 */
export function nameInLayer(name: string, layer: string | null): string {
  if (layer === null) return name;
  if (name.startsWith(`${layer}/`)) return name.slice(layer.length + 1);
  const outer = layer.slice(0, layer.lastIndexOf('/') + 1);
  return outer !== '' && name.startsWith(outer) ? name.slice(outer.length) : name;
}

/** The file nodes written for a layer, in file order. */
export function nodesOfLayer(file: FileGraph, layer: string): FileNode[] {
  return file.nodes.filter((n) => n.layer === layer);
}

/**
 * How to show a file graph of this size: every node when there are at most
 * `maxNodes`; otherwise every group collapsed, one box a layer (a nested
 * model one box until opened), with a note saying so.
 */
export function planFileView(graph: ModelGraph, maxNodes: number): { collapsed: Set<string>; note: string | null } {
  if (graph.nodes.length <= maxNodes) return { collapsed: new Set(), note: null };
  return {
    collapsed: new Set(graph.groups.map((g) => g.id)),
    note: `${graph.nodes.length} nodes are more than the ${maxNodes} the layout places quickly: each layer's nodes are collapsed into one box; click one to open it.`,
  };
}

/** A stored quantizer in a line: `scale 0.00392 · zp -128`, or per channel `32 ch (axis 0) · scale 8.46e-4 … 1.12e-3 · zp 0`. */
export function formatFileQuant(q: FileTensor['quant']): string {
  if (q === null) return '–';
  const num = (x: number) => (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4) ? x.toExponential(2) : Number(x.toPrecision(3)).toString());
  const range = (lo: number, hi: number, f: (x: number) => string) => (lo === hi ? f(lo) : `${f(lo)} … ${f(hi)}`);
  const scale = `scale ${range(q.scaleMin, q.scaleMax, num)}`;
  const zp = `zp ${range(q.zeroPointMin, q.zeroPointMax, String)}`;
  return q.channels === 1 ? `${scale} · ${zp}` : `${q.channels} ch${q.axis === null ? '' : ` (axis ${q.axis})`} · ${scale} · ${zp}`;
}
