/**
 * The studio's own model IR: a topologically ordered list of layers with their
 * weights as plain typed arrays. Every engine stage (BN folding, calibration,
 * QAT, export) works on this, not on tfjs-layers objects, so that inserting a
 * quantizer at a weight or an activation is a plain function of the graph.
 *
 * Layout conventions follow Keras / TensorFlow.js: activations are NHWC,
 * Dense kernels are [in, out], Conv2D kernels [kh, kw, in, out],
 * DepthwiseConv2D kernels [kh, kw, in, multiplier]. Shapes below omit the batch axis.
 * A SeparableConv2D is two nodes: a DepthwiseConv2D `<name>/depthwise` and a
 * 1×1 Conv2D `<name>` with the bias and activation.
 */

export type Shape = number[];

/** A weight tensor, serialisable across worker threads and into SQLite. */
export interface WeightData {
  shape: number[];
  values: Float32Array;
}

/**
 * Element-wise activations (softmax: over the last axis).
 *  - swish: x·sigmoid(x) (Keras 'swish', Keras 3 'silu');
 *  - hard_sigmoid: Keras 3's relu6(x + 3) / 6;
 *  - hard_sigmoid_keras2: Keras 2's and tfjs-layers' clip(0.2·x + 0.5, 0, 1);
 *  - hard_swish: x·relu6(x + 3) / 6 (Keras 3 'hard_silu' / 'hard_swish');
 *  - leaky_relu: x for x ≥ 0, alpha·x below (only as an Activation node, which carries alpha).
 */
export type Activation =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'sigmoid'
  | 'tanh'
  | 'softmax'
  | 'swish'
  | 'hard_sigmoid'
  | 'hard_sigmoid_keras2'
  | 'hard_swish'
  | 'leaky_relu';
/** Activations a Dense / convolution applies itself (leaky_relu needs an alpha, which only Activation nodes carry). */
export type LayerActivation = Exclude<Activation, 'leaky_relu'>;
export type Padding = 'valid' | 'same';

interface NodeBase {
  /** Keras layer name, unique in the graph. */
  name: string;
  /** Names of the producing nodes, in argument order. */
  inputs: string[];
  /** Output shape without the batch axis. */
  outputShape: Shape;
}

export interface InputNode extends NodeBase {
  op: 'input';
}

export interface DenseNode extends NodeBase {
  op: 'dense';
  units: number;
  activation: LayerActivation;
  weights: { kernel: WeightData; bias?: WeightData };
}

export interface Conv2DNode extends NodeBase {
  op: 'conv2d';
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  dilation: [number, number];
  activation: LayerActivation;
  weights: { kernel: WeightData; bias?: WeightData };
}

export interface DepthwiseConv2DNode extends NodeBase {
  op: 'depthwiseConv2d';
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  dilation: [number, number];
  depthMultiplier: number;
  activation: LayerActivation;
  weights: { kernel: WeightData; bias?: WeightData };
}

export interface BatchNormNode extends NodeBase {
  op: 'batchNorm';
  epsilon: number;
  momentum: number;
  /** Normalised axis; only the channel (last) axis is supported. */
  weights: { gamma?: WeightData; beta?: WeightData; movingMean: WeightData; movingVariance: WeightData };
}

export interface ActivationNode extends NodeBase {
  op: 'activation';
  activation: Activation;
  /** leaky_relu: the slope below zero (Keras alpha / negative_slope). */
  alpha?: number;
}

export interface Pool2DNode extends NodeBase {
  op: 'maxPool2d' | 'avgPool2d';
  poolSize: [number, number];
  strides: [number, number];
  padding: Padding;
}

/** Mean or max over H and W; output [c], or [1, 1, c] with keepdims (squeeze-and-excite gates). */
export interface GlobalPool2DNode extends NodeBase {
  op: 'globalAvgPool2d' | 'globalMaxPool2d';
  /** Absent in graphs stored before keepdims existed: false. */
  keepdims?: boolean;
}

/** ZeroPadding2D: zeros around H and W, padding [[top, bottom], [left, right]]. */
export interface ZeroPad2DNode extends NodeBase {
  op: 'zeroPad2d';
  padding: [[number, number], [number, number]];
}

/** Cropping2D: removes cropping [[top, bottom], [left, right]] rows and columns. */
export interface Crop2DNode extends NodeBase {
  op: 'crop2d';
  cropping: [[number, number], [number, number]];
}

/** UpSampling2D with nearest interpolation: each pixel repeated size[0] × size[1] times. */
export interface UpSample2DNode extends NodeBase {
  op: 'upSample2d';
  size: [number, number];
}

/**
 * Multiply: the element-wise product of its inputs, broadcasting as Keras
 * does (a lower-rank input gets unit axes inserted after the batch axis;
 * then NumPy broadcasting, e.g. x [h,w,c] · gate [1,1,c]).
 */
export interface MultiplyNode extends NodeBase {
  op: 'multiply';
}

/**
 * y = x·scale + offset on the last (channel) axis: Rescaling (scale, offset)
 * and Normalization ((x − mean) / max(√var, 1e-7), Keras' formula) both
 * become this, and so does a BatchNormalization the BN fold cannot put into a
 * layer before it (x·γ/√(σ²+ε) + β − μ·γ/√(σ²+ε); transform/fold-batchnorm.ts).
 * scale and offset hold one value (all channels) or one per channel.
 */
export interface AffineNode extends NodeBase {
  op: 'affine';
  scale: number[];
  offset: number[];
  /** The Keras layer it came from, for messages. */
  kerasClass?: 'Rescaling' | 'Normalization' | 'BatchNormalization';
}

export interface FlattenNode extends NodeBase {
  op: 'flatten';
}

export interface ReshapeNode extends NodeBase {
  op: 'reshape';
  targetShape: Shape;
}

/**
 * Dropout: the identity at inference. noiseShape (Keras's, batch axis
 * included, null = that axis' size) drops whole slices in training: EfficientNet's
 * drop-connect is noise shape [null, 1, 1, 1] (one keep/drop per sample).
 */
export interface DropoutNode extends NodeBase {
  op: 'dropout';
  rate: number;
  /** Absent: one keep/drop per element. */
  noiseShape?: (number | null)[];
}

/** Add: the sum of two or more inputs. */
export interface AddNode extends NodeBase {
  op: 'add';
}

export interface ConcatNode extends NodeBase {
  op: 'concat';
  /** Axis counted with the batch axis, as Keras does (-1 = last). */
  axis: number;
}

/**
 * A layer the IR does not model (LayerNormalization, PReLU, Conv2DTranspose,
 * a Dense with an ELU activation…), kept as tfjs-layers builds it: the runtime
 * rebuilds the tfjs layer from className + config and calls it, and the planner
 * treats it as an unsupported layer (stop, or keep it float). Its weights are
 * keyed by Keras weight name ("gamma", "kernel"…) in the layer's getWeights()
 * order, which is the order setWeights expects.
 */
export interface OpaqueLayerNode extends NodeBase {
  op: 'layer';
  /** The tfjs-layers / Keras class name, e.g. LayerNormalization. */
  className: string;
  /** The layer's tfjs config (layer.getConfig(): camelCase keys, initializers serialised), plain JSON. */
  config: Record<string, unknown>;
  weights: Record<string, WeightData>;
  /** Why the IR does not model it, when the class is one it knows but an option is not (e.g. activation "elu"). */
  reason?: string;
}

export type GraphNode =
  | InputNode
  | DenseNode
  | Conv2DNode
  | DepthwiseConv2DNode
  | BatchNormNode
  | ActivationNode
  | Pool2DNode
  | GlobalPool2DNode
  | ZeroPad2DNode
  | Crop2DNode
  | UpSample2DNode
  | MultiplyNode
  | AffineNode
  | FlattenNode
  | ReshapeNode
  | DropoutNode
  | AddNode
  | ConcatNode
  | OpaqueLayerNode;

export type OpKind = GraphNode['op'];

/** Layers that carry a kernel that can be quantized. */
export type WeightedNode = DenseNode | Conv2DNode | DepthwiseConv2DNode;

export interface Graph {
  name: string;
  /** Nodes in topological order; the first is the single input. */
  nodes: GraphNode[];
  /** Name of the node whose output is the model output (logits or probabilities). */
  output: string;
}

export function isWeighted(node: GraphNode): node is WeightedNode {
  return node.op === 'dense' || node.op === 'conv2d' || node.op === 'depthwiseConv2d';
}

export function isOpaque(node: GraphNode): node is OpaqueLayerNode {
  return node.op === 'layer';
}

export function inputNode(graph: Graph): InputNode {
  const first = graph.nodes[0];
  if (!first || first.op !== 'input') throw new Error(`graph ${graph.name} does not start with an input node`);
  return first;
}

export function nodeByName(graph: Graph, name: string): GraphNode {
  const node = graph.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`graph ${graph.name} has no layer named ${name}`);
  return node;
}

/** Number of float parameters (weights and biases, BN statistics included), as Keras counts them. */
export function parameterCount(node: GraphNode): number {
  if (!('weights' in node)) return 0;
  let total = 0;
  for (const w of Object.values(node.weights) as (WeightData | undefined)[]) if (w) total += w.values.length;
  return total;
}

/** Number of float parameters in the whole graph (Keras's "Total params"). */
export function totalParameterCount(graph: Graph): number {
  return graph.nodes.reduce((sum, node) => sum + parameterCount(node), 0);
}
