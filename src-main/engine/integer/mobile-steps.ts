/**
 * Integer steps of the keras.applications ops and of standalone activations,
 * compiled by program.ts through a StepContext:
 *
 *  - zeroPad2d → PAD, crop2d → SLICE, upSample2d → RESIZE_NEAREST_NEIGHBOR,
 *    globalMaxPool2d → REDUCE_MAX: copies on the input's grid (layout-ops.ts);
 *  - globalAvgPool2d: with keepdims the MEAN a TFLite file holds (pool.ts'
 *    spatialMean; xnnpackMean with the xnnpack option), without it the
 *    AVERAGE_POOL_2D it holds (avgPool);
 *  - multiply → MUL with broadcasting (binary.ts), its fused ReLU clamping;
 *  - affine: a Rescaling / Normalization of the input's preprocessing runs in
 *    float before the input is quantized (program.ts). Otherwise, in a graph
 *    lowered for TFLite (engine/targets/tflite/lower.ts), an affine with only a scale
 *    is a MUL and one with only an offset an ADD, each with a constant int8
 *    operand whose qparams the model carries as `<node>/multiplier` /
 *    `<node>/addend`; any other affine is computed as a QDQ runtime does
 *    (dequantize, x·scale + offset in float32, quantize);
 *  - activations: ReLU / ReLU6 / linear rescale and clamp; softmax in float;
 *    with elementwise 'tflite', sigmoid on TFLite's 1/256 output grid is
 *    LOGISTIC, hard_swish HARD_SWISH, leaky_relu LEAKY_RELU (activations.ts;
 *    MEAN, MUL, ADD and LEAKY_RELU in XNNPACK's form with the xnnpack option);
 *    every other case (elementwise 'float', sigmoid on another grid, tanh,
 *    swish or hard sigmoid in a graph not lowered for TFLite) is
 *    round(f(dequantized) / s_out) + zp_out per input value.
 */
import type { ActivationNode, AffineNode, GraphNode } from '../graph/types.js';
import type { ActivationQuantizer } from '../transform/plan.js';
import { activationFunction, applyTable, hardSwishInt, hardSwishParams, isLogisticGrid, leakyReluInt, leakyReluParams, logisticInt, logisticParams, lookupTable } from './activations.js';
import { addBroadcastInt, broadcastIndex, mulInt, mulParams, xnnpackAddInt, xnnpackAddParams } from './binary.js';
import { addParams, floatActivation, rescaleClamp } from './elementwise.js';
import { quantizeMultiplier } from './fixed-point.js';
import { cropInt, globalMaxInt, padInt, resizeNearestInt } from './layout-ops.js';
import { IntegerReferenceError, type IntegerModelInput } from './layers.js';
import { avgPool, spatialMean, xnnpackMean, xnnpackMeanScale } from './pool.js';
import type { IntegerOptions } from './options.js';
import { fusedRange } from './requantize.js';
import { sizeOf, type ActQParams, type QTensor } from './tensor.js';
import { quantizeToInts } from '../quant/int-tensors.js';
import type { Activation } from '../graph/types.js';

/** What program.ts gives a step builder. */
export interface StepContext {
  model: IntegerModelInput;
  options: Required<IntegerOptions>;
  round: (v: number) => number;
  slotOf(node: GraphNode, k?: number): QTensor;
  newSlot(name: string, shape: number[], qp: ActQParams): QTensor;
  gridOf(node: GraphNode): { a: ActivationQuantizer; qp: ActQParams };
  /** The activations fused after `node`, its quantizer's grid, and the node its output goes by. */
  fusedAfter(node: GraphNode): { at: string; qp: ActQParams; acts: Activation[] };
}

export const FUSED_CLAMPS: ReadonlySet<Activation> = new Set<Activation>(['linear', 'relu', 'relu6']);

export type MobileNode = Extract<GraphNode, { op: 'zeroPad2d' | 'crop2d' | 'upSample2d' | 'globalMaxPool2d' | 'globalAvgPool2d' | 'multiply' | 'affine' }>;

function spatial(node: GraphNode, x: QTensor): [number, number, number] {
  if (x.shape.length !== 3) throw new IntegerReferenceError(`layer ${node.name}: expects an [h, w, c] input, got [${x.shape.join(',')}]`, node.name);
  return x.shape as [number, number, number];
}

export function mobileStep(ctx: StepContext, node: MobileNode): () => void {
  const x = ctx.slotOf(node);
  switch (node.op) {
    case 'zeroPad2d': {
      const [h, w, c] = spatial(node, x);
      const y = ctx.newSlot(node.name, node.outputShape, x.qp);
      return () => padInt(h, w, c, node.padding, x.qp.zeroPoint, x.data, y.data);
    }
    case 'crop2d': {
      const [, w, c] = spatial(node, x);
      const [oh, ow] = node.outputShape as [number, number];
      const y = ctx.newSlot(node.name, node.outputShape, x.qp);
      return () => cropInt(w, c, node.cropping, oh, ow, x.data, y.data);
    }
    case 'upSample2d': {
      const [, w, c] = spatial(node, x);
      const [oh, ow] = node.outputShape as [number, number];
      // The IR's nearest up-sampling: output pixel i reads input pixel floor(i / size).
      const rows = Int32Array.from({ length: oh }, (_, i) => Math.floor(i / node.size[0]));
      const cols = Int32Array.from({ length: ow }, (_, i) => Math.floor(i / node.size[1]));
      const y = ctx.newSlot(node.name, node.outputShape, x.qp);
      return () => resizeNearestInt(w, c, rows, cols, x.data, y.data);
    }
    case 'globalMaxPool2d': {
      const [h, w, c] = spatial(node, x);
      const y = ctx.newSlot(node.name, node.outputShape, x.qp);
      return () => globalMaxInt(h, w, c, x.data, y.data);
    }
    case 'globalAvgPool2d': {
      const [h, w, c] = spatial(node, x);
      const y = ctx.newSlot(node.name, node.outputShape, x.qp);
      if (node.keepdims && ctx.options.xnnpack) {
        const scale = xnnpackMeanScale(x.qp.scale, y.qp.scale, h * w);
        return () => xnnpackMean(h, w, c, x.data, x.qp.zeroPoint, scale, y.qp.zeroPoint, y.qp.qmin, y.qp.qmax, y.data);
      }
      if (node.keepdims) {
        const m = quantizeMultiplier(x.qp.scale / y.qp.scale, ctx.options.requantRounding);
        return () => spatialMean(h, w, c, x.data, x.qp.zeroPoint, m, y.qp.zeroPoint, y.qp.qmin, y.qp.qmax, ctx.options.requantRounding, y.data);
      }
      const g = { inH: h, inW: w, inC: c, outH: 1, outW: 1, outC: c, kh: h, kw: w, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padTop: 0, padLeft: 0 };
      return () => avgPool(g, x.data, y.qp.qmin, y.qp.qmax, y.data);
    }
    case 'multiply':
      return multiplyStep(ctx, node, x);
    case 'affine':
      return affineStep(ctx, node, x);
  }
}

function multiplyStep(ctx: StepContext, node: Extract<GraphNode, { op: 'multiply' }>, a: QTensor): () => void {
  if (node.inputs.length !== 2) throw new IntegerReferenceError(`layer ${node.name}: Multiply of ${node.inputs.length} inputs (TFLite's MUL takes two; partial products have no range)`, node.name);
  const b = ctx.slotOf(node, 1);
  const f = ctx.fusedAfter(node);
  const r = fusedRange(f.acts, f.qp);
  const y = ctx.newSlot(f.at, node.outputShape, f.qp);
  const p = mulParams(a.qp, b.qp, f.qp, r.min, r.max, ctx.options.requantRounding, ctx.options.xnnpack);
  const size = sizeOf(node.outputShape);
  const ia = a.data.length === size ? null : broadcastIndex(node.outputShape, a.shape);
  const ib = b.data.length === size ? null : broadcastIndex(node.outputShape, b.shape);
  return () => mulInt(p, a.data, ia, b.data, ib, y.data);
}

/** An affine's constant operand: its int8 values (signed domain) and grid, from the qparams the lowering stored under `<node>/<role>`. */
function constantOperand(ctx: StepContext, node: AffineNode, role: 'multiplier' | 'addend'): { ints: Int32Array; qp: { scale: number; zeroPoint: number } } | null {
  const qp = ctx.model.qparams.get(`${node.name}/${role}`);
  if (!qp) return null;
  const values = Float32Array.from(role === 'multiplier' ? node.scale : node.offset);
  const { ints, iq } = quantizeToInts(values, [values.length], undefined, qp, 'signed');
  return { ints, qp: { scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]! } };
}

function affineStep(ctx: StepContext, node: AffineNode, x: QTensor): () => void {
  const f = ctx.fusedAfter(node);
  const r = fusedRange(f.acts, f.qp);
  const y = ctx.newSlot(f.at, node.outputShape, f.qp);
  const rounding = ctx.options.requantRounding;
  const channelIndex = node.scale.length === 1 ? null : broadcastIndex(node.outputShape, [node.scale.length]);
  const mul = constantOperand(ctx, node, 'multiplier');
  if (mul && node.offset.every((o) => o === 0)) {
    const p = mulParams(x.qp, mul.qp, f.qp, r.min, r.max, rounding, ctx.options.xnnpack);
    const index = channelIndex ?? new Int32Array(y.data.length);
    return () => mulInt(p, x.data, null, mul.ints, index, y.data);
  }
  const addend = constantOperand(ctx, node, 'addend');
  if (addend && node.scale.every((s) => s === 1)) {
    const index = channelIndex ?? new Int32Array(y.data.length);
    if (ctx.options.xnnpack) {
      const px = xnnpackAddParams(x.qp, addend.qp, f.qp, r.min, r.max);
      return () => xnnpackAddInt(px, x.data, null, addend.ints, index, y.data);
    }
    const p = addParams([x.qp, { ...f.qp, scale: addend.qp.scale, zeroPoint: addend.qp.zeroPoint }], f.qp, r.min, r.max, rounding);
    return () => addBroadcastInt(p, x.data, null, addend.ints, index, y.data);
  }
  // As a QDQ runtime computes it: dequantize, x·scale + offset in float32, quantize.
  const channels = node.scale.length;
  const { round } = ctx;
  return () => {
    for (let i = 0; i < y.data.length; i++) {
      const c = channels === 1 ? 0 : i % channels;
      const v = Math.fround(Math.fround(Math.fround((x.data[i]! - x.qp.zeroPoint) * x.qp.scale) * Math.fround(node.scale[c]!)) + Math.fround(node.offset[c]!));
      const q = round(Math.fround(v / f.qp.scale)) + f.qp.zeroPoint;
      y.data[i] = q < r.min ? r.min : q > r.max ? r.max : q;
    }
  };
}

export function activationStep(ctx: StepContext, node: ActivationNode): () => void {
  const x = ctx.slotOf(node);
  const { qp } = ctx.gridOf(node);
  const y = ctx.newSlot(node.name, node.outputShape, qp);
  const act = node.activation;
  const rounding = ctx.options.requantRounding;
  if (FUSED_CLAMPS.has(act)) {
    const r = fusedRange([act], qp);
    const p = { zpIn: x.qp.zeroPoint, m: quantizeMultiplier(x.qp.scale / qp.scale, rounding), zpOut: qp.zeroPoint, min: r.min, max: r.max, rounding };
    return () => rescaleClamp(p, x.data, y.data);
  }
  if (act === 'softmax') {
    const channels = node.outputShape[node.outputShape.length - 1]!;
    const scratch = new Float64Array(y.data.length);
    return () => floatActivation(act, channels, x.data, x.qp, qp, ctx.round, scratch, y.data);
  }
  if (ctx.options.elementwise === 'tflite') {
    if (act === 'sigmoid' && isLogisticGrid(qp)) {
      const p = logisticParams(x.qp, rounding);
      return () => logisticInt(p, x.data, y.data);
    }
    if (act === 'hard_swish') {
      let p: ReturnType<typeof hardSwishParams>;
      try {
        p = hardSwishParams(x.qp, qp, rounding);
      } catch (e) {
        throw new IntegerReferenceError(`layer ${node.name}: ${(e as Error).message}`, node.name);
      }
      return () => hardSwishInt(p, x.data, y.data);
    }
    if (act === 'leaky_relu') {
      const p = leakyReluParams(x.qp, qp, node.alpha!, rounding, ctx.options.xnnpack);
      return () => leakyReluInt(p, x.data, y.data);
    }
  }
  const table = lookupTable(activationFunction(act, node.alpha), x.qp, qp, ctx.round);
  return () => applyTable(table, x.qp.qmin, x.data, y.data);
}
