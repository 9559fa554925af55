/**
 * Small read-only questions about a Graph that folding, planning and linting
 * all ask: who reads a tensor, and what Keras calls a node's class (findings
 * name layers the way the user's model summary does).
 */
import type { Graph, GraphNode, OpKind } from '../graph/types.js';

/** Names of the nodes reading each node's output, in graph order (a node reading a tensor twice is listed once). */
export function consumersOf(graph: Graph): Map<string, string[]> {
  const out = new Map<string, string[]>(graph.nodes.map((n) => [n.name, []]));
  for (const node of graph.nodes) {
    for (const input of new Set(node.inputs)) out.get(input)?.push(node.name);
  }
  return out;
}

const KERAS_CLASS: Record<OpKind, string> = {
  input: 'InputLayer',
  dense: 'Dense',
  conv2d: 'Conv2D',
  depthwiseConv2d: 'DepthwiseConv2D',
  batchNorm: 'BatchNormalization',
  activation: 'Activation',
  maxPool2d: 'MaxPooling2D',
  avgPool2d: 'AveragePooling2D',
  globalAvgPool2d: 'GlobalAveragePooling2D',
  globalMaxPool2d: 'GlobalMaxPooling2D',
  flatten: 'Flatten',
  reshape: 'Reshape',
  dropout: 'Dropout',
  add: 'Add',
  concat: 'Concatenate',
  multiply: 'Multiply',
  zeroPad2d: 'ZeroPadding2D',
  crop2d: 'Cropping2D',
  upSample2d: 'UpSampling2D',
  affine: 'Rescaling',
  layer: 'Layer',
};

/**
 * The Keras class name of a node, e.g. Conv2D; ReLU layers read as Activation;
 * an affine node names the layer it came from (Rescaling or Normalization);
 * an opaque layer gives its own class.
 */
export function kerasClassOf(node: GraphNode): string {
  if (node.op === 'layer') return node.className;
  if (node.op === 'affine' && node.kerasClass) return node.kerasClass;
  return KERAS_CLASS[node.op];
}

/** A node by name, or undefined (nodeByName throws). */
export function findNode(graph: Graph, name: string): GraphNode | undefined {
  return graph.nodes.find((n) => n.name === name);
}

/** `[28,28,1]`, as shapes appear in messages. */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
