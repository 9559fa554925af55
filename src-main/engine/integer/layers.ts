/**
 * What the integer program needs of the plan: each activation quantizer's
 * grid, each weighted layer's integer kernel, bias and requantization
 * multipliers, all computed once before the first sample.
 *
 * Weights and biases are quantized by quant/int-tensors (the functions the
 * exporters write files with), so the reference computes with the very
 * integers the ONNX and TFLite files hold: int8 kernels in the signed domain
 * (round half to even, zero point subtracted here), int32 biases with scale
 * f32(s_in · s_w[c]).
 */
import type { Graph, GraphNode, WeightedNode } from '../graph/types.js';
import { nodeByName } from '../graph/types.js';
import type { QParams } from '../quant/qparams.js';
import type { ActivationQuantizer, QuantPlan, WeightQuantizer } from '../transform/plan.js';
import { biasScales, quantizeBias, quantizeToInts } from '../quant/int-tensors.js';
import { quantizeMultiplier, type RequantRounding } from './fixed-point.js';
import { actQParams, type ActivationDomain, type ActQParams } from './tensor.js';

/** The graph, plan and qparams of a quantized run (an ExportInput has them all). */
export interface IntegerModelInput {
  graph: Graph;
  plan: QuantPlan;
  qparams: ReadonlyMap<string, QParams>;
}

/** A model (or part of one) the integer reference cannot run; names the layer. */
export class IntegerReferenceError extends Error {
  constructor(
    message: string,
    readonly layer: string,
  ) {
    super(message);
    this.name = 'IntegerReferenceError';
  }
}

/** Widest grid the int8 / uint8 kernels hold. */
export const MAX_BITS = 8;

/** The activation quantizer closing the op headed by `layer` (its output, after any fused activation). */
export function quantizerOf(plan: QuantPlan, layer: string): ActivationQuantizer | undefined {
  return plan.activations.find((a) => a.layers[0] === layer);
}

/** The integer grid of an activation quantizer (shared Concatenate ranges resolved). */
export function activationGrid(model: IntegerModelInput, a: ActivationQuantizer, domain: ActivationDomain, layer: string): ActQParams {
  const source = a.sharedWith ?? a.name;
  const qp = model.qparams.get(source);
  if (!qp) throw new IntegerReferenceError(`layer ${layer}: no qparams for activation quantizer ${source}`, layer);
  if (qp.granularity === 'per-channel' || qp.scale.length !== 1) {
    throw new IntegerReferenceError(`layer ${layer}: activation quantizer ${a.name} is per-channel; integer kernels need one scale per activation tensor`, layer);
  }
  if (qp.bits > MAX_BITS) throw new IntegerReferenceError(`layer ${layer}: activation quantizer ${a.name} has ${qp.bits} bits; the integer reference runs int8/uint8 activations (at most ${MAX_BITS} bits)`, layer);
  return actQParams(a.name, qp, domain);
}

export interface IntegerWeights {
  /** Kernel integers minus their zero point, in the Keras layout (depthwise: [kh,kw,in·mult]). */
  kernel: Int32Array;
  /** int32 bias per output channel (zeros when the layer has none). */
  bias: Int32Array;
  /** s_w per output channel (a per-tensor scale repeated). */
  weightScale: Float64Array;
  /** max |w − zp_w|, for the accumulator bound. */
  maxAbs: number;
  channels: number;
  wq: WeightQuantizer;
}

/** Integer kernel and bias of a weighted layer whose input has scale `sIn`. */
export function integerWeights(model: IntegerModelInput, node: WeightedNode, sIn: number): IntegerWeights {
  const wq = model.plan.weights.find((w) => w.layer === node.name);
  if (!wq) throw new IntegerReferenceError(`layer ${node.name}: its kernel has no weight quantizer in the plan`, node.name);
  const qp = model.qparams.get(wq.name);
  if (!qp) throw new IntegerReferenceError(`layer ${node.name}: no qparams for weight quantizer ${wq.name}`, node.name);
  if (qp.bits > MAX_BITS) throw new IntegerReferenceError(`layer ${node.name}: weight ${wq.name} has ${qp.bits} bits; the integer reference runs int8 weights (at most ${MAX_BITS} bits)`, node.name);
  if (wq.axis !== null && wq.axis !== wq.view.length - 1) {
    throw new IntegerReferenceError(
      `layer ${node.name}: weight ${wq.name} is per-channel on axis ${wq.axis}, not its output channels; an int32 accumulator then mixes scales and cannot be requantized`,
      node.name,
    );
  }
  const { ints, iq } = quantizeToInts(node.weights.kernel.values, wq.view, wq.axis ?? undefined, qp, 'signed');
  const channels = wq.view[wq.view.length - 1]!;
  const perChannel = iq.scale.length > 1;
  let maxAbs = 0;
  for (let i = 0; i < ints.length; i++) {
    ints[i] = ints[i]! - iq.zeroPoint[perChannel ? i % channels : 0]!;
    maxAbs = Math.max(maxAbs, Math.abs(ints[i]!));
  }
  const weightScale = new Float64Array(channels);
  for (let c = 0; c < channels; c++) weightScale[c] = iq.scale[perChannel ? c : 0]!;
  let bias: Int32Array = new Int32Array(channels);
  if (node.weights.bias) bias = quantizeBias(node.weights.bias.values, biasScales(sIn, iq.scale, channels), node.name);
  return { kernel: ints, bias, weightScale, maxAbs, channels, wq };
}

/**
 * Requantization multipliers s_in·s_w[c] / s_out per output channel, as
 * TFLite computes them: conv and depthwise (PopulateConvolutionQuantizationParams)
 * multiply the scales in double; a per-tensor FULLY_CONNECTED
 * (GetQuantizedConvolutionMultipler) multiplies s_in·s_w in float32 first.
 */
export function outputMultipliers(node: WeightedNode, w: IntegerWeights, sIn: number, sOut: number, rounding: RequantRounding): { multiplier: Int32Array; shift: Int32Array } {
  const multiplier = new Int32Array(w.channels);
  const shift = new Int32Array(w.channels);
  const floatProduct = node.op === 'dense' && w.wq.axis === null;
  for (let c = 0; c < w.channels; c++) {
    const product = floatProduct ? Math.fround(sIn * w.weightScale[c]!) : sIn * w.weightScale[c]!;
    const m = quantizeMultiplier(product / sOut, rounding);
    multiplier[c] = m.multiplier;
    shift[c] = m.shift;
  }
  return { multiplier, shift };
}

/** Throws naming the layer when the worst-case accumulator could leave int32 (TFLite would wrap silently). */
export function checkAccumulatorBound(layer: string, taps: number, xMaxAbs: number, w: IntegerWeights): void {
  let maxBias = 0;
  for (let c = 0; c < w.bias.length; c++) maxBias = Math.max(maxBias, Math.abs(w.bias[c]!));
  const bound = taps * xMaxAbs * w.maxAbs + maxBias;
  if (bound > 2 ** 31 - 1) throw new IntegerReferenceError(`layer ${layer}: an int32 accumulator could overflow (${taps} taps × ${xMaxAbs} × ${w.maxAbs} + bias ${maxBias})`, layer);
}

/** Why a node has no integer form, or null. */
export function notInteger(model: IntegerModelInput, node: GraphNode): string | null {
  const t = model.plan.tensors.find((x) => x.tensor === node.name);
  if (node.op === 'layer') return `layer ${node.name} (${node.className}) is not modelled by the studio and has no integer kernel`;
  if (t?.how === 'float') {
    const f = model.plan.float.find((x) => x.layer === node.name);
    return `layer ${node.name} (${node.op}) is kept in float by the plan (${f?.reason ?? 'no range'}${f?.fusedWith ? `, fused with ${f.fusedWith}` : ''}); the integer reference runs fully quantized models only`;
  }
  if (node.op === 'batchNorm') return `layer ${node.name}: BatchNormalization that was not folded has no integer kernel`;
  return null;
}

/** The node feeding input `k` of `node`. */
export function inputOf(model: IntegerModelInput, node: GraphNode, k = 0): GraphNode {
  return nodeByName(model.graph, node.inputs[k]!);
}
