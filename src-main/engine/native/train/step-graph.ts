/**
 * One training step as an ONNX graph, so onnxruntime-node (MLAS kernels on
 * its own thread pool) runs the forward and backward pass of float training
 * and QAT, optimizer update included.
 *
 * Inputs: the batch (`x`, NHWC as stored; `onehot`; `invBatch` = 1/N), every
 * weight of the runtime under `w/<node>/<weight>` (kernels in TF.js layout),
 * and each activation quantizer's stored range (`range/<q>/min|max`).
 * With an optimizer, also `negLr` (and Adam's bias corrections) and each
 * trainable weight's optimizer slots (`m/…`, `v/…` or `acc/…`).
 * Outputs: `loss` (mean softmax cross-entropy of the logits), `correct`,
 * each trainable weight updated (`next/w/<node>/<weight>`) with its slots
 * (`next/m/…`), or without an optimizer its gradient (`grad/<node>/<weight>`),
 * the updated BatchNorm
 * moving statistics (`next/<bn>/movingMean|movingVariance`), the updated
 * activation ranges (`next/<q>/min|max`) and each kernel quantizer's range
 * (`wrange/<layer>/min|max`).
 *
 * The forward pass is QAT's forward of qat/hooks.ts: kernels fake-quantized
 * per output channel (or per tensor) as fq(W·s)/s with s = γ/√(σ²_moving + ε)
 * for a layer followed by a folded BatchNorm; BatchNorm normalising with the
 * batch's statistics (and updating its moving ones) until the freeze step,
 * then with the moving statistics (`freezeBatchNorm` builds that second
 * graph); each activation quantizer observes its batch first, then
 * fake-quantizes with the fresh range. Gradients are written by hand, op by
 * op, as TF.js differentiates the same forward (tests compare them):
 *  - Conv: the filter gradient is one GEMM of the input's shifted windows
 *    (im2col, NHWC) with the output gradient, the input gradient a
 *    ConvTranspose with the same kernel;
 *  - Dense: two Gemms; BatchNorm: the closed-form batch-statistics gradient;
 *  - MaxPool: the gradient goes to the first maximum of each window (the one
 *    ORT's MaxPool indices name, as TF.js routes it), by ScatterElements;
 *  - fake quant: the straight-through estimator (zero outside the range);
 *    the qparams are constants of the step, as in TF.js.
 * Activations run in NCHW (ONNX's layout); Flatten goes back to NHWC order so
 * Dense kernels keep the TF.js layout.
 *
 * The graph must be a chain (each layer feeds the next) of Conv2D, Dense,
 * BatchNormalization, Activation (linear, relu, relu6, sigmoid, tanh),
 * MaxPooling2D, GlobalAveragePooling2D, Flatten and Dropout(0); anything else
 * throws UnsupportedForNativeTraining, and the caller trains on TF.js.
 */
import type { Estimator } from '../../../api/run-config.js';
import { samePads } from '../../../export/onnx/build.js';
import { DT } from '../../../export/onnx/proto.js';
import { logitsOf } from '../../graph/runtime.js';
import { type Activation, type BatchNormNode, type Graph, type GraphNode, type Pool2DNode, type WeightedNode } from '../../graph/types.js';
import { unfoldedHookPoints } from '../../qat/hooks.js';
import type { FoldRecord } from '../../transform/fold-batchnorm.js';
import type { ActivationQuantizer, QuantPlan, WeightQuantizer } from '../../transform/plan.js';
import { encodeModel, OnnxBuilder } from './onnx-builder.js';
import { batchRange, fakeQuant, qparamsOf, straightThrough, updateRange } from './quant-ops.js';

export class UnsupportedForNativeTraining extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedForNativeTraining';
  }
}

export interface StepGraphInput {
  /** The unfolded graph the runtime trains. */
  graph: Graph;
  /** The quantization plan of the folded graph; null for float training. */
  plan: QuantPlan | null;
  folded: readonly FoldRecord[];
  /** The activation quantizers' estimator (minmax, lastvalue or movingaverage). */
  activationEstimator: Pick<Estimator, 'kind' | 'decay'>;
  /** BatchNorm with moving statistics (after the freeze step) instead of batch statistics. */
  freezeBatchNorm: boolean;
  /** The update the graph applies (see optimizerUpdate); null: it outputs the gradients instead. */
  optimizer: StepOptimizer | null;
}

/** tf.train.adam, momentum (μ > 0) or sgd; the learning rate and Adam's bias corrections are graph inputs. */
export type StepOptimizer = { kind: 'adam' } | { kind: 'momentum'; momentum: number } | { kind: 'sgd' };

/** Per-weight optimizer state the graph takes as `<slot>/<node>/<weight>` and returns as `next/<slot>/...`. */
export function optimizerSlots(opt: StepOptimizer | null): string[] {
  if (!opt) return [];
  return opt.kind === 'adam' ? ['m', 'v'] : opt.kind === 'momentum' ? ['acc'] : [];
}

export interface StepWeight {
  node: string;
  weight: string;
  shape: number[];
  trainable: boolean;
}

export interface StepGraph {
  bytes: Uint8Array;
  /** Every runtime weight the graph takes as `w/<node>/<weight>`. */
  weights: StepWeight[];
  /** `<node>/<weight>` of the moving statistics the graph updates (empty when BatchNorm is frozen). */
  movingOutputs: string[];
  /** Activation quantizers whose ranges go in and come out, with their channel counts. */
  activationRanges: { name: string; channels: number }[];
  /** Kernel quantizers (by layer) whose ranges come out. */
  weightRanges: { layer: string; name: string; channels: number }[];
  classes: number;
}

const TRAINABLE = new Set(['kernel', 'bias', 'gamma', 'beta']);

/** A value in the graph: its name and per-sample shape in the graph's layout (NCHW: [C,H,W]; flat: [F]). */
interface Value {
  name: string;
  dims: number[];
}

type Backward = (dy: string) => string | null;

export function buildStepGraph(input: StepGraphInput): StepGraph {
  const { graph, plan, folded, freezeBatchNorm } = input;
  checkChain(graph);
  const b = new OnnxBuilder();
  const weights: StepWeight[] = [];
  const weightInput = new Map<string, string>();
  for (const n of graph.nodes) {
    if (!('weights' in n)) continue;
    for (const [weight, data] of Object.entries(n.weights)) {
      if (!data) continue;
      const name = b.input(`w/${n.name}/${weight}`, [...data.shape]);
      weightInput.set(`${n.name}/${weight}`, name);
      weights.push({ node: n.name, weight, shape: [...data.shape], trainable: TRAINABLE.has(weight) });
    }
  }
  const w = (node: string, weight: string) => weightInput.get(`${node}/${weight}`);

  // Gradient contributions per trainable weight (γ of a folded BN gets two: BN's own and the kernel fold's).
  const grads = new Map<string, string[]>();
  const addGrad = (node: string, weight: string, g: string) => {
    const key = `${node}/${weight}`;
    grads.set(key, [...(grads.get(key) ?? []), g]);
  };

  const weightQ = new Map<string, WeightQuantizer>((plan?.weights ?? []).map((q) => [q.layer, q]));
  const activationQ = new Map<string, ActivationQuantizer>((plan?.activations ?? []).map((a) => [a.name, a]));
  const hookAt = plan ? unfoldedHookPoints(plan, folded) : new Map<string, string>();
  const foldedInto = new Map(folded.map((f) => [f.layer, f.batchNorm]));
  const bnByName = new Map(graph.nodes.filter((n): n is BatchNormNode => n.op === 'batchNorm').map((n) => [n.name, n]));
  const est = input.activationEstimator;
  const activationRanges: StepGraph['activationRanges'] = [];
  const weightRanges: StepGraph['weightRanges'] = [];
  const movingOutputs: string[] = [];
  for (const a of plan?.activations ?? []) if (a.sharedWith) throw new UnsupportedForNativeTraining(`activation ${a.name} shares its range with ${a.sharedWith} (Concatenate)`);

  const logits = logitsOf(graph);
  const outputNode = graph.nodes[graph.nodes.length - 1]!;
  const classes = outputNode.outputShape[outputNode.outputShape.length - 1]!;
  const firstTrainable = graph.nodes.findIndex((n) => 'weights' in n);

  /** The kernel as the forward pass uses it (fake-quantized, fold-scaled), and how its gradient flows back. */
  const hookedKernel = (node: WeightedNode): { kernel: string; back: (dK: string) => void } => {
    const kernel = w(node.name, 'kernel')!;
    const wq = weightQ.get(node.name);
    if (!wq) return { kernel, back: (dK) => addGrad(node.name, 'kernel', dK) };
    const shape = node.weights.kernel.shape;
    const rank = shape.length;
    if (wq.view.join(',') !== shape.join(',') || (wq.axis !== null && wq.axis !== rank - 1)) {
      throw new UnsupportedForNativeTraining(`kernel ${wq.name} is quantized on a view [${wq.view.join(',')}] axis ${wq.axis} other than its output channels`);
    }
    const channelAxes = Array.from({ length: rank - 1 }, (_, i) => i);
    const bnName = foldedInto.get(node.name);
    const bn = bnName ? bnByName.get(bnName) : undefined;
    let s: string | null = null;
    let inv: string | null = null;
    if (bn) {
      inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [w(bn.name, 'movingVariance')!, b.f32(bn.epsilon)])])]);
      const gamma = w(bn.name, 'gamma');
      s = gamma ? b.op('Mul', [gamma, inv]) : inv;
    }
    const z = s ? b.op('Mul', [kernel, s]) : kernel;
    const range = batchRange(b, z, rank, wq.axis === null ? null : rank - 1);
    b.output(`wrange/${node.name}/min`, range.min);
    b.output(`wrange/${node.name}/max`, range.max);
    weightRanges.push({ layer: node.name, name: wq.name, channels: wq.channels });
    const qp = qparamsOf(b, range, wq.spec);
    const broadcast = wq.axis === null ? [1] : [...Array(rank - 1).fill(1), wq.channels];
    const fq = fakeQuant(b, z, qp, broadcast);
    const kernelUsed = s ? b.op('Div', [fq.out, s]) : fq.out;
    return {
      kernel: kernelUsed,
      back: (dK) => {
        const dq = s ? b.op('Div', [dK, s]) : dK;
        const dz = straightThrough(b, dq, fq.mask);
        addGrad(node.name, 'kernel', s ? b.op('Mul', [dz, s]) : dz);
        const gamma = bn ? w(bn.name, 'gamma') : undefined;
        if (s && inv && gamma) {
          // d/ds of fq(W·s)/s: through the product (dz·W) and the quotient (−dK·q/s²).
          const axes = b.i64(channelAxes);
          const viaProduct = b.op('ReduceSum', [b.op('Mul', [dz, kernel]), axes], { keepdims: 0 });
          const viaQuotient = b.op('ReduceSum', [b.op('Div', [b.op('Mul', [dK, fq.out]), b.op('Mul', [s, s])]), axes], { keepdims: 0 });
          addGrad(bn!.name, 'gamma', b.op('Mul', [b.op('Sub', [viaProduct, viaQuotient]), inv]));
        }
      },
    };
  };

  /** The activation quantizer at a node's output, if any: observe, update the range, fake-quantize. */
  const outputHook = (at: string, v: Value): { value: Value; back: Backward | null } => {
    const qName = hookAt.get(at);
    const a = qName ? activationQ.get(qName) : undefined;
    if (!a) return { value: v, back: null };
    const rank = v.dims.length + 1;
    const perChannel = a.spec.granularity === 'per-channel';
    if (perChannel) {
      const axis = a.spec.axis ?? -1;
      if (axis !== -1 && axis !== rank - 1) throw new UnsupportedForNativeTraining(`activation ${a.name} is per-channel on axis ${axis}, not its channel axis`);
    }
    const channels = perChannel ? v.dims[0]! : 1;
    const old = { min: b.input(`range/${a.name}/min`, [channels]), max: b.input(`range/${a.name}/max`, [channels]) };
    const next = updateRange(b, est.kind, est.decay, old, batchRange(b, v.name, rank, perChannel ? 1 : null));
    b.output(`next/${a.name}/min`, next.min);
    b.output(`next/${a.name}/max`, next.max);
    activationRanges.push({ name: a.name, channels });
    const broadcast = perChannel ? [1, channels, ...Array(rank - 2).fill(1)] : [1];
    const fq = fakeQuant(b, v.name, qparamsOf(b, next, a.spec), broadcast);
    return { value: { name: fq.out, dims: v.dims }, back: (dy) => straightThrough(b, dy, fq.mask) };
  };

  const backs: Backward[] = [];
  let v: Value | null = null;
  graph.nodes.forEach((node, index) => {
    const needDx = firstTrainable >= 0 && index > firstTrainable;
    const isOutput = index === graph.nodes.length - 1;
    const logitsHere = isOutput && logits.appliesSoftmax;
    if (node.op === 'input') {
      const x = b.input('x', ['N', ...node.outputShape]);
      v = node.outputShape.length === 3 ? { name: b.op('Transpose', [x], { perm: [0, 3, 1, 2] }), dims: nchw(node.outputShape) } : { name: x, dims: [...node.outputShape] };
      if (node.outputShape.length !== 3 && node.outputShape.length !== 1) throw new UnsupportedForNativeTraining(`input ${node.name} has shape [${node.outputShape.join(',')}]; images [H,W,C] or vectors only`);
    } else {
      const step = layerStep(b, node, v!, { needDx, logitsHere, w, addGrad, hookedKernel, freezeBatchNorm, movingOutputs });
      v = step.value;
      backs.push(step.back);
    }
    if (!logitsHere) {
      const hooked = outputHook(node.name, v!);
      v = hooked.value;
      if (hooked.back) backs.push(hooked.back);
    }
  });

  // Loss: mean softmax cross-entropy of the logits; gradient (softmax − onehot)/N.
  const out = v! as Value;
  if (out.dims.length !== 1) throw new UnsupportedForNativeTraining(`the output ${outputNode.name} is not a vector of class scores`);
  const onehot = b.input('onehot', ['N', classes]);
  const invBatch = b.input('invBatch', []);
  const logSoftmax = b.op('LogSoftmax', [out.name], { axis: 1 });
  const perSample = b.op('ReduceSum', [b.op('Mul', [onehot, logSoftmax]), b.i64([1])], { keepdims: 0 });
  b.output('loss', b.op('Neg', [b.op('ReduceMean', [perSample], { keepdims: 0 })]));
  const hits = b.op('Equal', [b.op('ArgMax', [out.name], { axis: 1, keepdims: 0 }), b.op('ArgMax', [onehot], { axis: 1, keepdims: 0 })]);
  b.output('correct', b.op('ReduceSum', [b.op('Cast', [hits], { to: DT.FLOAT }), b.i64([0])], { keepdims: 0 }));
  let dy: string | null = b.op('Mul', [b.op('Sub', [b.op('Exp', [logSoftmax]), onehot]), invBatch]);
  for (let i = backs.length - 1; i >= 0 && dy !== null; i--) dy = backs[i]!(dy);

  const opt = input.optimizer;
  const hyper = opt ? { negLr: b.input('negLr', []), ...(opt.kind === 'adam' ? { oneMinusAcc1: b.input('oneMinusAcc1', []), oneMinusAcc2: b.input('oneMinusAcc2', []) } : {}) } : null;
  for (const wt of weights) {
    if (!wt.trainable) continue;
    const key = `${wt.node}/${wt.weight}`;
    const parts = grads.get(key);
    if (!parts) throw new Error(`no gradient reached ${key}`);
    const g = parts.length === 1 ? parts[0]! : b.op('Sum', parts);
    if (!opt || !hyper) {
      b.output(`grad/${key}`, g);
      continue;
    }
    const slots = Object.fromEntries(optimizerSlots(opt).map((slot) => [slot, b.input(`${slot}/${key}`, wt.shape)]));
    const next = optimizerUpdate(b, opt, hyper, weightInput.get(key)!, g, slots);
    for (const [name, value] of Object.entries(next)) b.output(`next/${name}/${key}`, value);
  }
  return { bytes: encodeModel(b.model(`${graph.name} training step`)), weights, movingOutputs, activationRanges, weightRanges, classes };
}

/**
 * The update of tfjs-core's optimizers, op for op (float32 + − × ÷ √ are
 * correctly rounded in both, so the same gradients give the same weights):
 *   adam:     m = m·β1 + g·(1−β1);  v = v·β2 + g²·(1−β2)
 *             w = (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) · (−lr) + w      (ε = 1e-7, TF.js's float32 epsilon)
 *   momentum: a = μ·a + g;  w = (−lr)·a + w
 *   sgd:      w = (−lr)·g + w
 * Returns the new weight ('w') and slots.
 */
function optimizerUpdate(b: OnnxBuilder, opt: StepOptimizer, hyper: { negLr: string; oneMinusAcc1?: string; oneMinusAcc2?: string }, w: string, g: string, slots: Record<string, string>): Record<string, string> {
  if (opt.kind === 'sgd') return { w: b.op('Add', [b.op('Mul', [hyper.negLr, g]), w]) };
  if (opt.kind === 'momentum') {
    const acc = b.op('Add', [b.op('Mul', [b.f32(opt.momentum), slots['acc']!]), g]);
    return { w: b.op('Add', [b.op('Mul', [hyper.negLr, acc]), w]), acc };
  }
  const m = b.op('Add', [b.op('Mul', [slots['m']!, b.f32(ADAM.beta1)]), b.op('Mul', [g, b.f32(1 - ADAM.beta1)])]);
  const v = b.op('Add', [b.op('Mul', [slots['v']!, b.f32(ADAM.beta2)]), b.op('Mul', [b.op('Mul', [g, g]), b.f32(1 - ADAM.beta2)])]);
  const mHat = b.op('Div', [m, hyper.oneMinusAcc1!]);
  const vHat = b.op('Div', [v, hyper.oneMinusAcc2!]);
  const stepSize = b.op('Div', [mHat, b.op('Add', [b.op('Sqrt', [vHat]), b.f32(ADAM.epsilon)])]);
  return { w: b.op('Add', [b.op('Mul', [stepSize, hyper.negLr]), w]), m, v };
}

/** tf.train.adam's defaults (β1, β2) and the float32 backends' epsilon. */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** [H,W,C] → [C,H,W]. */
function nchw(hwc: readonly number[]): number[] {
  return [hwc[2]!, hwc[0]!, hwc[1]!];
}

function checkChain(graph: Graph): void {
  const nodes = graph.nodes;
  if (nodes[nodes.length - 1]?.name !== graph.output) throw new UnsupportedForNativeTraining(`the output ${graph.output} is not the last layer`);
  for (let i = 1; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.inputs.length !== 1 || n.inputs[0] !== nodes[i - 1]!.name) throw new UnsupportedForNativeTraining(`layer ${n.name} does not simply follow ${nodes[i - 1]!.name} (branches, Add and Concatenate train on TensorFlow.js)`);
  }
}

interface LayerContext {
  needDx: boolean;
  logitsHere: boolean;
  w(node: string, weight: string): string | undefined;
  addGrad(node: string, weight: string, g: string): void;
  hookedKernel(node: WeightedNode): { kernel: string; back: (dK: string) => void };
  freezeBatchNorm: boolean;
  movingOutputs: string[];
}

function layerStep(b: OnnxBuilder, node: Exclude<GraphNode, { op: 'input' }>, x: Value, ctx: LayerContext): { value: Value; back: Backward } {
  switch (node.op) {
    case 'conv2d':
      return conv(b, node, x, ctx);
    case 'dense':
      return dense(b, node, x, ctx);
    case 'batchNorm':
      return batchNorm(b, node, x, ctx);
    case 'activation': {
      if (ctx.logitsHere) return { value: x, back: (dy) => dy };
      const y = activate(b, x.name, node.activation, node.name);
      return { value: { name: y, dims: x.dims }, back: (dy) => activationGrad(b, dy, x.name, y, node.activation) };
    }
    case 'maxPool2d':
      return maxPool(b, node, x);
    case 'globalAvgPool2d': {
      if (x.dims.length !== 3) throw new UnsupportedForNativeTraining(`${node.name} needs an image input`);
      const [c, h, wd] = x.dims as [number, number, number];
      const y = b.op('ReduceMean', [x.name], { axes: [2, 3], keepdims: 0 });
      return {
        value: { name: y, dims: [c] },
        back: (dy) => b.op('Expand', [b.op('Div', [b.op('Unsqueeze', [dy, b.i64([2, 3])]), b.f32(h * wd)]), b.i64([1, c, h, wd])]),
      };
    }
    case 'flatten': {
      if (x.dims.length === 1) return { value: x, back: (dy) => dy };
      const [c, h, wd] = x.dims as [number, number, number];
      const y = b.op('Reshape', [b.op('Transpose', [x.name], { perm: [0, 2, 3, 1] }), b.i64([0, -1])]);
      return { value: { name: y, dims: [c * h * wd] }, back: (dy) => b.op('Transpose', [b.op('Reshape', [dy, b.i64([0, h, wd, c])])], { perm: [0, 3, 1, 2] }) };
    }
    case 'dropout':
      if (node.rate > 0) throw new UnsupportedForNativeTraining(`${node.name} drops ${node.rate} of its inputs at random (Dropout trains on TensorFlow.js)`);
      return { value: x, back: (dy) => dy };
    default:
      throw new UnsupportedForNativeTraining(`layer ${node.name} (${node.op === 'layer' ? node.className : node.op}) has no training graph for onnxruntime`);
  }
}

function activate(b: OnnxBuilder, x: string, act: Activation, where: string): string {
  switch (act) {
    case 'linear':
      return x;
    case 'relu':
      return b.op('Relu', [x]);
    case 'relu6':
      return b.op('Clip', [x, b.f32(0), b.f32(6)]);
    case 'sigmoid':
      return b.op('Sigmoid', [x]);
    case 'tanh':
      return b.op('Tanh', [x]);
    case 'softmax':
      throw new UnsupportedForNativeTraining(`${where} applies softmax inside the model (only the output's softmax is folded into the loss)`);
  }
}

/** TF.js's activation gradients: relu passes where x > 0, relu6 where 0 < x ≤ 6. */
function activationGrad(b: OnnxBuilder, dy: string, x: string, y: string, act: Activation): string {
  switch (act) {
    case 'linear':
      return dy;
    case 'relu':
      return b.op('Mul', [dy, b.op('Cast', [b.op('Greater', [x, b.f32(0)])], { to: DT.FLOAT })]);
    case 'relu6':
      return b.op('Where', [b.op('And', [b.op('Greater', [x, b.f32(0)]), b.op('LessOrEqual', [x, b.f32(6)])]), dy, b.f32(0)]);
    case 'sigmoid':
      return b.op('Mul', [dy, b.op('Mul', [y, b.op('Sub', [b.f32(1), y])])]);
    case 'tanh':
      return b.op('Mul', [dy, b.op('Sub', [b.f32(1), b.op('Mul', [y, y])])]);
    case 'softmax':
      throw new UnsupportedForNativeTraining('softmax inside the model');
  }
}

function conv(b: OnnxBuilder, node: Extract<GraphNode, { op: 'conv2d' }>, x: Value, ctx: LayerContext): { value: Value; back: Backward } {
  if (x.dims.length !== 3) throw new UnsupportedForNativeTraining(`${node.name} needs an image input`);
  const [, h, wd] = x.dims as [number, number, number];
  const [kh, kw] = node.kernelSize;
  const [sh, sw] = node.strides;
  const [dh, dw] = node.dilation;
  const [ph0, ph1] = node.padding === 'same' ? samePads(h, kh, sh, dh) : [0, 0];
  const [pw0, pw1] = node.padding === 'same' ? samePads(wd, kw, sw, dw) : [0, 0];
  const pads = [ph0, pw0, ph1, pw1];
  const { kernel, back: kernelBack } = ctx.hookedKernel(node);
  const oihw = b.op('Transpose', [kernel], { perm: [3, 2, 0, 1] });
  const bias = ctx.w(node.name, 'bias');
  const pre = b.op('Conv', [x.name, oihw, ...(bias ? [bias] : [])], { strides: [sh, sw], dilations: [dh, dw], pads });
  const act = ctx.logitsHere ? 'linear' : node.activation;
  const y = activate(b, pre, act, node.name);
  const [oh, ow] = node.outputShape as [number, number, number];
  return {
    value: { name: y, dims: nchw(node.outputShape) },
    back: (dy) => {
      const dPre = activationGrad(b, dy, pre, y, act);
      if (bias) ctx.addGrad(node.name, 'bias', b.op('ReduceSum', [dPre, b.i64([0, 2, 3])], { keepdims: 0 }));
      kernelBack(filterGradient(b, x.name, dPre, { c: x.dims[0]!, h, w: wd, o: node.filters, oh, ow, kh, kw, sh, sw, dh, dw, ph0, ph1, pw0, pw1 }));
      if (!ctx.needDx) return null;
      const outPadding = [h - (sh * (oh - 1) + (kh - 1) * dh + 1 - ph0 - ph1), wd - (sw * (ow - 1) + (kw - 1) * dw + 1 - pw0 - pw1)];
      return b.op('ConvTranspose', [dPre, oihw], { strides: [sh, sw], dilations: [dh, dw], pads, output_padding: outPadding });
    },
  };
}

interface ConvGeometry {
  c: number;
  h: number;
  w: number;
  o: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  ph0: number;
  ph1: number;
  pw0: number;
  pw1: number;
}

/**
 * dK[a,b,i,o] = Σ_n,y,x xpad[n, y·s+a·d, x·s+b·d, i] · dy[n,y,x,o], as one
 * GEMM: the input's kh·kw shifted (strided) windows side by side in NHWC
 * ("im2col", columns ordered a, b, i like an HWIO kernel) times dy, so the
 * result is the kernel gradient in TF.js's layout. (A Conv over the batch
 * computes the same, but as a GEMM only kh·kw wide, which MLAS runs slowly.)
 */
function filterGradient(b: OnnxBuilder, x: string, dy: string, g: ConvGeometry): string {
  const nhwc = b.op('Transpose', [x], { perm: [0, 2, 3, 1] });
  const padded = g.ph0 + g.ph1 + g.pw0 + g.pw1 > 0 ? b.op('Pad', [nhwc, b.i64([0, g.ph0, g.pw0, 0, 0, g.ph1, g.pw1, 0])]) : nhwc;
  const windows: string[] = [];
  for (let a = 0; a < g.kh; a++) {
    for (let c = 0; c < g.kw; c++) {
      const starts = [a * g.dh, c * g.dw];
      const ends = [starts[0]! + g.sh * (g.oh - 1) + 1, starts[1]! + g.sw * (g.ow - 1) + 1];
      windows.push(b.op('Slice', [padded, b.i64(starts), b.i64(ends), b.i64([1, 2]), b.i64([g.sh, g.sw])]));
    }
  }
  const cols = b.op('Reshape', [windows.length === 1 ? windows[0]! : b.op('Concat', windows, { axis: 3 }), b.i64([-1, g.kh * g.kw * g.c])]);
  const dy2d = b.op('Reshape', [b.op('Transpose', [dy], { perm: [0, 2, 3, 1] }), b.i64([-1, g.o])]);
  return b.op('Reshape', [b.op('Gemm', [cols, dy2d], { transA: 1 }), b.i64([g.kh, g.kw, g.c, g.o])]);
}

function dense(b: OnnxBuilder, node: Extract<GraphNode, { op: 'dense' }>, x: Value, ctx: LayerContext): { value: Value; back: Backward } {
  if (x.dims.length !== 1) throw new UnsupportedForNativeTraining(`${node.name} takes a rank-${x.dims.length + 1} input (Dense on images trains on TensorFlow.js)`);
  const { kernel, back: kernelBack } = ctx.hookedKernel(node);
  const bias = ctx.w(node.name, 'bias');
  const pre = bias ? b.op('Gemm', [x.name, kernel, bias]) : b.op('MatMul', [x.name, kernel]);
  const act = ctx.logitsHere ? 'linear' : node.activation;
  const y = activate(b, pre, act, node.name);
  return {
    value: { name: y, dims: [node.units] },
    back: (dy) => {
      const dPre = activationGrad(b, dy, pre, y, act);
      if (bias) ctx.addGrad(node.name, 'bias', b.op('ReduceSum', [dPre, b.i64([0])], { keepdims: 0 }));
      kernelBack(b.op('Gemm', [x.name, dPre], { transA: 1 }));
      return ctx.needDx ? b.op('Gemm', [dPre, kernel], { transB: 1 }) : null;
    },
  };
}

function batchNorm(b: OnnxBuilder, node: BatchNormNode, x: Value, ctx: LayerContext): { value: Value; back: Backward } {
  const rank = x.dims.length + 1;
  const c = x.dims[0]!;
  const axes = rank === 4 ? [0, 2, 3] : [0];
  const bshape = b.i64(rank === 4 ? [1, c, 1, 1] : [1, c]);
  const asChannels = (t: string) => b.op('Reshape', [t, bshape]);
  const gamma = ctx.w(node.name, 'gamma');
  const beta = ctx.w(node.name, 'beta');
  const eps = b.f32(node.epsilon);
  let xhat: string;
  let inv: string;
  if (ctx.freezeBatchNorm) {
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [asChannels(ctx.w(node.name, 'movingVariance')!), eps])])]);
    xhat = b.op('Mul', [b.op('Sub', [x.name, asChannels(ctx.w(node.name, 'movingMean')!)]), inv]);
  } else {
    const mean = b.op('ReduceMean', [x.name], { axes, keepdims: 1 });
    const centered = b.op('Sub', [x.name, mean]);
    const variance = b.op('ReduceMean', [b.op('Mul', [centered, centered])], { axes, keepdims: 1 });
    inv = b.op('Reciprocal', [b.op('Sqrt', [b.op('Add', [variance, eps])])]);
    xhat = b.op('Mul', [centered, inv]);
    const m = node.momentum;
    const flat = b.i64([c]);
    for (const [weight, batch] of [['movingMean', mean], ['movingVariance', variance]] as const) {
      const moved = b.op('Add', [b.op('Mul', [ctx.w(node.name, weight)!, b.f32(m)]), b.op('Mul', [b.op('Reshape', [batch, flat]), b.f32(1 - m)])]);
      b.output(`next/${node.name}/${weight}`, moved);
      ctx.movingOutputs.push(`${node.name}/${weight}`);
    }
  }
  const scaled = gamma ? b.op('Mul', [xhat, asChannels(gamma)]) : xhat;
  const y = beta ? b.op('Add', [scaled, asChannels(beta)]) : scaled;
  const frozen = ctx.freezeBatchNorm;
  return {
    value: { name: y, dims: x.dims },
    back: (dy) => {
      const sumAxes = b.i64(axes);
      if (gamma) ctx.addGrad(node.name, 'gamma', b.op('ReduceSum', [b.op('Mul', [dy, xhat]), sumAxes], { keepdims: 0 }));
      if (beta) ctx.addGrad(node.name, 'beta', b.op('ReduceSum', [dy, sumAxes], { keepdims: 0 }));
      if (!ctx.needDx) return null;
      const dxhat = gamma ? b.op('Mul', [dy, asChannels(gamma)]) : dy;
      if (frozen) return b.op('Mul', [dxhat, inv]);
      // Batch statistics: dx = inv · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)).
      const meanD = b.op('ReduceMean', [dxhat], { axes, keepdims: 1 });
      const meanDX = b.op('ReduceMean', [b.op('Mul', [dxhat, xhat])], { axes, keepdims: 1 });
      return b.op('Mul', [b.op('Sub', [b.op('Sub', [dxhat, meanD]), b.op('Mul', [xhat, meanDX])]), inv]);
    },
  };
}

function maxPool(b: OnnxBuilder, node: Pool2DNode, x: Value): { value: Value; back: Backward } {
  if (x.dims.length !== 3) throw new UnsupportedForNativeTraining(`${node.name} needs an image input`);
  const [, h, wd] = x.dims as [number, number, number];
  const [kh, kw] = node.poolSize;
  const [sh, sw] = node.strides;
  const [ph0, ph1] = node.padding === 'same' ? samePads(h, kh, sh) : [0, 0];
  const [pw0, pw1] = node.padding === 'same' ? samePads(wd, kw, sw) : [0, 0];
  const [y, indices] = b.opN('MaxPool', [x.name], 2, { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph0, pw0, ph1, pw1] });
  // Windows that overlap can send two gradients to one element: those add up.
  const overlapping = sh < kh || sw < kw;
  return {
    value: { name: y!, dims: nchw(node.outputShape) },
    back: (dy) => {
      const flat = b.i64([-1]);
      const zeros = b.op('ConstantOfShape', [b.op('Shape', [b.op('Reshape', [x.name, flat])])]);
      const routed = b.op('ScatterElements', [zeros, b.op('Reshape', [indices!, flat]), b.op('Reshape', [dy, flat])], { axis: 0, ...(overlapping ? { reduction: 'add' } : {}) });
      return b.op('Reshape', [routed, b.op('Shape', [x.name])]);
    },
  };
}
