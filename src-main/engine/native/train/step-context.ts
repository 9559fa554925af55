/**
 * What every op rule of the training-step graph (ops/*.ts) works with: the
 * values flowing through the graph, their layout, the per-node context the
 * builder hands each rule, and the one error that sends a model back to
 * TF.js.
 *
 * Layout: a value whose per-sample shape has rank 3 is an image and is held
 * NCHW in the graph (ONNX's Conv / pooling layout); every other rank is held
 * as Keras lays it out. `Value.shape` is always the Keras per-sample shape
 * ([H,W,C] for images), so rules reason in Keras terms and convert where ONNX
 * needs it (toKeras / fromKeras, graphAxis).
 *
 * Each rule's forward pass is the op's one lowering (engine/onnx/ops, which
 * the inference graphs call too): `asOnnx` hands it a value, `canonical`
 * brings its result back to this layout; the rule adds the backward pass.
 */
import type { GraphNode, WeightedNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../../onnx/builder.js';
import { opName, type ZeroPads } from '../../onnx/ops/index.js';

export class UnsupportedForNativeTraining extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedForNativeTraining';
  }
}

export { opName };

/** The error naming the layer and its op, then why. */
export function unsupported(node: GraphNode, why: string): UnsupportedForNativeTraining {
  return new UnsupportedForNativeTraining(`layer ${node.name} (${opName(node)}) ${why}`);
}

/** A tensor of the step graph: its ONNX name and its per-sample shape in Keras's layout. */
export interface Value {
  name: string;
  shape: number[];
}

export function isImage(shape: readonly number[]): boolean {
  return shape.length === 3;
}

/** The per-sample dims as the graph holds them: [C,H,W] for images, else the shape. */
export function graphDims(shape: readonly number[]): number[] {
  return isImage(shape) ? [shape[2]!, shape[0]!, shape[1]!] : [...shape];
}

/** The graph axis (batch axis 0) of a Keras axis counted with the batch axis (negative: from the end). */
export function graphAxis(kerasAxis: number, shape: readonly number[]): number {
  const rank = shape.length + 1;
  const axis = kerasAxis < 0 ? kerasAxis + rank : kerasAxis;
  if (axis < 0 || axis >= rank) throw new UnsupportedForNativeTraining(`axis ${kerasAxis} does not exist for shape [${shape.join(',')}]`);
  return isImage(shape) ? [0, 2, 3, 1][axis]! : axis;
}

/** The graph axis of the channel (Keras's last) axis. */
export function channelAxis(shape: readonly number[]): number {
  return graphAxis(-1, shape);
}

/** A per-channel vector [C] shaped to broadcast on the channel axis of a value of `shape` ([C,1,1] for images). */
export function channelBroadcast(shape: readonly number[]): number[] {
  const c = shape[shape.length - 1]!;
  return isImage(shape) ? [1, c, 1, 1] : [...Array(shape.length).fill(1), c];
}

/** `name` (graph layout, per-sample `shape`) in Keras layout: NCHW → NHWC for images (a Reshape when H = W = 1). */
export function toKeras(b: OnnxBuilder, name: string, shape: readonly number[]): string {
  if (!isImage(shape)) return name;
  if (shape[0] === 1 && shape[1] === 1) return b.op('Reshape', [name, b.i64([0, 1, 1, shape[2]!])]);
  return b.op('Transpose', [name], { perm: [0, 2, 3, 1] });
}

/** `name` (Keras layout, per-sample `shape`) in graph layout: NHWC → NCHW for images. */
export function fromKeras(b: OnnxBuilder, name: string, shape: readonly number[]): string {
  if (!isImage(shape)) return name;
  if (shape[0] === 1 && shape[1] === 1) return b.op('Reshape', [name, b.i64([0, shape[2]!, 1, 1])]);
  return b.op('Transpose', [name], { perm: [0, 3, 1, 2] });
}

/** A value as the shared lowering takes it (images NCHW, as this graph holds them). */
export function asOnnx(v: Value): OnnxValue {
  return onnxValue(v.name, v.shape, true);
}

/** A lowering's result in this graph's layout (an image moved to NCHW if the op left it NHWC). */
export function canonical(b: OnnxBuilder, v: OnnxValue): Value {
  return { name: b.layout(v, isImage(v.shape)).name, shape: [...v.shape] };
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, c) => a * c, 1);
}

/** A gradient given as t times a per-channel factor (on the channel axis): t·scale, not yet multiplied out. */
export interface ScaledGrad {
  t: string;
  /** [C]. */
  scale: string;
}

/** An op whose output is a clip of its input, as OpStep.clip describes it. */
export interface ClipStep {
  x: string;
  lo: number;
  hi: number;
  open?: boolean;
  pass(dy: string): (string | null)[];
}

/** A rule's forward value and its backward pass. */
export interface OpStep {
  value: Value;
  /**
   * The gradient of each input from the output's gradient `dy` (graph
   * layout), null where ctx.needDx says nobody wants it; weight gradients go
   * through ctx.addGrad.
   */
  back(dy: string): (string | null)[];
  /**
   * Set when the output is clip(x, lo, hi) with lo ≤ 0 ≤ hi (relu6; relu
   * with hi = +∞): an activation quantizer on it takes the clip over (one
   * clip and one gradient mask for both, see quant-ops.ts fakeQuant), and
   * the backward then starts from `pass`, this op's gradient without its
   * clip's mask. `open`: the op's gradient passes where lo < x ≤ hi (tf.relu:
   * x > 0), not lo ≤ x ≤ hi (ClipByValue's); only with lo = 0.
   */
  clip?: ClipStep;
  /**
   * The gradient of the (single) input as a ScaledGrad, for an input whose
   * rule takes it so (backFromScaled): a pass over the tensor fewer. Does
   * what `back` does besides (weight gradients).
   */
  backScaled?(dy: string): ScaledGrad;
  /** The input gradients from the output gradient given as a ScaledGrad, folding the factor into small tensors. */
  backFromScaled?(dy: ScaledGrad): (string | null)[];
}

/** What the builder gives the rule of one node. */
export interface StepContext {
  readonly b: OnnxBuilder;
  /** Per input of the node: whether its gradient is wanted (a trainable weight lies upstream of it). */
  readonly needDx: readonly boolean[];
  /** The node is the output and ends in the softmax the loss takes over: leave that softmax out. */
  readonly logitsHere: boolean;
  /** BatchNorm with its moving statistics (after QAT's freeze step) instead of the batch's. */
  readonly freezeBatchNorm: boolean;
  /** The block size of onnxruntime's NCHWc kernels when the graph may use them (nchwc.ts), else null. */
  readonly nchwcBlock: number | null;
  /** A convolution's: the pads of the ZeroPadding2D before it, which it applies itself (its input is then the unpadded value). */
  readonly zeroPads?: ZeroPads;
  /** This node's weight as a graph input (`w/<node>/<weight>`), if it has that weight. */
  weight(name: string): string | undefined;
  /** A gradient contribution to one of this node's trainable weights. */
  addGrad(weight: string, g: string): void;
  /** The kernel as the forward pass uses it (QAT: fake-quantized, fold-scaled) and where its gradient goes. */
  kernel(node: WeightedNode): { kernel: string; back(dK: string): void };
  /** An updated BatchNorm moving statistic of this node, as a graph output. */
  moving(weight: 'movingMean' | 'movingVariance', value: string): void;
  /**
   * This Dropout's keep-mask (0/1, graph input `mask/<node>` of per-sample
   * Keras shape `shape`, one per sample or, `shared`, one for the whole batch),
   * in graph layout.
   */
  dropoutMask(shape: readonly number[], shared: boolean): string;
}

/** The single input of a node that must be an image. */
export function imageInput(node: GraphNode, inputs: Value[]): Value {
  const x = inputs[0]!;
  if (!isImage(x.shape)) throw unsupported(node, `needs an image input [H,W,C], not [${x.shape.join(',')}]`);
  return x;
}
