/**
 * An exported file's graph as the writer emitted it: one node per ONNX node
 * or TFLite operator, with its tensors (shape, dtype, quantization where the
 * file says them) and the Keras layer each came from (the stable layer
 * mapping). What `exports.graph` answers and the Export view draws.
 */

/** A tensor's quantization as stored: per tensor one scale and zero point; per channel their count and range. */
export interface FileQuant {
  /** 1 for per-tensor. */
  channels: number;
  /** The channel axis (ONNX `axis`, TFLite `quantized_dimension`); null per tensor. */
  axis: number | null;
  scaleMin: number;
  scaleMax: number;
  zeroPointMin: number;
  zeroPointMax: number;
}

export interface FileTensor {
  name: string;
  /** Dims as stored (a symbolic ONNX dim as its name); null when the file does not say. */
  shape: (number | string)[] | null;
  /** Lower-case type name (`int8`, `float32`, ...); null when the file does not say. */
  dtype: string | null;
  /** Stored data (ONNX initializer, TFLite buffer) rather than computed. */
  constant: boolean;
  quant: FileQuant | null;
}

export interface FileNode {
  /** Unique in the graph: the ONNX node's name, the TFLite operator's first output. */
  id: string;
  /** ONNX op_type or TFLite builtin operator name (`QuantizeLinear`, `CONV_2D`). */
  op: string;
  /** The Keras layer path it was written for; null when the file does not map it. */
  layer: string | null;
  inputs: FileTensor[];
  outputs: FileTensor[];
  /** TFLite: the activation fused into the operator (`RELU`, `RELU6`); null when none. */
  fusedActivation: string | null;
}

export interface FileEdge {
  source: string;
  target: string;
  /** The tensor it carries. */
  tensor: string;
}

export interface FileGraph {
  format: 'onnx' | 'tflite';
  /** Graph inputs and outputs (tensor names). */
  inputs: string[];
  outputs: string[];
  /** In file order (topological for both writers). */
  nodes: FileNode[];
  edges: FileEdge[];
}

/** The range of a quantizer's scales and zero points. */
export function quantOf(scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, axis: number | null): FileQuant | null {
  if (scales.length === 0) return null;
  const s = Array.from(scales);
  // A missing zero point is 0 (ONNX's default, TFLite's symmetric int8).
  const z = zeroPoints.length > 0 ? Array.from(zeroPoints) : [0];
  return { channels: s.length, axis: s.length > 1 ? axis : null, scaleMin: Math.min(...s), scaleMax: Math.max(...s), zeroPointMin: Math.min(...z), zeroPointMax: Math.max(...z) };
}

/** Edges from each tensor's producer to its readers; graph inputs come from their input node, named as the tensor. */
export function edgesOf(nodes: readonly FileNode[]): FileEdge[] {
  const producer = new Map<string, string>();
  for (const n of nodes) for (const t of n.outputs) producer.set(t.name, n.id);
  const edges: FileEdge[] = [];
  for (const n of nodes)
    for (const t of n.inputs) {
      const source = producer.get(t.name);
      if (source !== undefined && source !== n.id) edges.push({ source, target: n.id, tensor: t.name });
    }
  return edges;
}
