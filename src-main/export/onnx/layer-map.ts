/**
 * Where each node and tensor of an exported ONNX file came from: the Keras
 * layer path the writer tagged it with (metadata_props `studio.layer`,
 * engine/onnx/build.ts), read back from the model. A node's outputs belong
 * to its layer; initializers carry their own tag.
 */
import { LAYER_KEY } from '../../engine/onnx/build.js';
import type { ModelProto } from '../../engine/onnx/proto.js';

export interface OnnxLayerMap {
  /** Node name → Keras layer path. */
  nodes: Record<string, string>;
  /** Tensor name (initializers and node outputs) → Keras layer path. */
  tensors: Record<string, string>;
}

export function onnxLayerMap(model: ModelProto): OnnxLayerMap {
  const layerOf = (props: { key: string; value: string }[]) => props.find((m) => m.key === LAYER_KEY)?.value;
  const nodes: Record<string, string> = {};
  const tensors: Record<string, string> = {};
  const g = model.graph;
  if (!g) return { nodes, tensors };
  for (const t of g.initializer) {
    const layer = layerOf(t.metadataProps);
    if (layer) tensors[t.name] = layer;
  }
  for (const n of g.node) {
    const layer = layerOf(n.metadataProps);
    if (!layer) continue;
    nodes[n.name] = layer;
    for (const o of n.output) if (o !== '') tensors[o] = layer;
  }
  return { nodes, tensors };
}
