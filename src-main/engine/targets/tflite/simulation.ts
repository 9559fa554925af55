/**
 * The arithmetic of a full-integer TFLite file as one ONNX graph for
 * onnxruntime, built on the graph lowered to TFLite's ops (lower.ts) through
 * engine/onnx/build.ts: what a run with target tflite-int8 evaluates, and
 * what the TFLite export's verification compares the file with
 * (export/tflite/simulate.ts, which adds the TensorFlow.js form of the same
 * arithmetic and the verification's records).
 *
 * Rounding, as measured in the interpreter the export is verified in (the
 * tfjs-tflite wasm build; pinned by a test on a QUANTIZE → QUANTIZE model with
 * exact ties): the float → int8 QUANTIZE of the model input rounds halves to
 * even; requantization (every int8 op's int32 accumulator or int8 input
 * rescaled to its output grid, TFLite's single-rounding
 * MultiplyByQuantizedMultiplier) rounds halves up, towards +∞ — TF fake
 * quant's own 'half-up' — except MUL's, which the interpreter runs as
 * XNNPACK's int8 multiply and which rounds halves to even (TFLITE_MUL_ROUNDING).
 * Global average pools (MEAN, or AVERAGE_POOL_2D without keepdims) and the
 * int8 activations (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU, by their 256-entry
 * tables) give what the interpreter's kernels give (simulate-ops.ts); the
 * other average pools keep the exact mean. Weights are simulated with the
 * file's integers, which are rounded half to even (quant/int-tensors.ts);
 * biases are the int32 values. In an int8 file the convolutions, dense
 * layers, residual ADDs and the input QUANTIZE go further and compute the
 * interpreter's XNNPACK kernels integer for integer (xnnpack-exact.ts), so
 * no float sum near a rounding boundary lands a step away; the TensorFlow.js
 * form of this simulation (export/tflite/simulate.ts, used only when
 * onnxruntime cannot load) keeps fake quant there.
 */
import type { Graph, GraphNode } from '../../graph/types.js';
import { isWeighted } from '../../graph/types.js';
import type { RoundingMode } from '../../quant/fake-quant.js';
import type { QParams } from '../../quant/qparams.js';
import type { ActivationQuantizer, QuantPlan } from '../../transform/plan.js';
import { simulatedKernels } from '../../native/evaluate-onnx.js';
import { buildOnnxGraph, encodeOnnx, type NodeReplacement, type OnnxValue } from '../../onnx/build.js';
import type { ModelProto } from '../../onnx/proto.js';
import { quantizedBiasValues } from '../qdq-simulation.js';
import { lowerForTflite, type LoweredModel } from './lower.js';
import { activationTypeOf, requantRatios } from './int16.js';
import { inputQuantizer, softmaxQParams, splitFusedSoftmax, type SoftmaxAt } from './quant.js';
import { interpreterOpSpecs, linearized, mulOutputs, onnxInterpreterOp } from './simulate-ops.js';
import { inputQuantize, withExactLinear, xnnpackExactPlan } from './xnnpack-exact.js';

/** Requantization inside the int8 ops. */
export const TFLITE_ROUNDING: RoundingMode = 'half-up';
/** The float → int8 QUANTIZE of the model input (and the stored weights). */
export const TFLITE_INPUT_ROUNDING: RoundingMode = 'half-even';
/** Requantization of MUL's int32 products (XNNPACK's fp32 requantization in this interpreter). */
export const TFLITE_MUL_ROUNDING: RoundingMode = 'half-even';
/** The float → int16 QUANTIZE of a 16x8 file's input (reference AffineQuantize: std::round). */
export const TFLITE16_INPUT_ROUNDING: RoundingMode = 'half-away';

/** The input QUANTIZE's rounding for the plan's activation type, unless `asked`. */
export const inputRoundingOf = (plan: QuantPlan, asked: RoundingMode | undefined): RoundingMode => asked ?? (activationTypeOf(plan) === 'int16' ? TFLITE16_INPUT_ROUNDING : TFLITE_INPUT_ROUNDING);

/**
 * 16x8: each weighted layer's kernel and bias values times its requantization
 * ratios (int16.ts requantRatios, on the model as the file computes it: a
 * fused softmax split off, its layer closed by the logits' grid); empty for int8.
 */
export function ratiosOf(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, softmax: SoftmaxAt, logits: QParams | null): Map<string, Float64Array> {
  if (activationTypeOf(plan) !== 'int16') return new Map();
  const model = softmax?.kind === 'fused' ? splitFusedSoftmax({ graph, plan, qparams: new Map(qparams) }, softmax, logits) : { graph, plan, qparams };
  return requantRatios(model.graph, model.plan, model.qparams);
}

/** Values times the ratio of their output channel (the fastest-varying index: Keras's last kernel axes). */
export function scaled(values: Float32Array, ratios: Float64Array): Float32Array {
  const c = ratios.length;
  return Float32Array.from(values, (v, i) => v * ratios[i % c]!);
}

export interface TfliteSimulationOptions {
  /** Rounding of requantized activations (default TFLITE_ROUNDING). */
  rounding?: RoundingMode;
  /** Rounding of the model input's QUANTIZE and of the weights (default TFLITE_INPUT_ROUNDING; a 16x8 input TFLITE16_INPUT_ROUNDING). */
  inputRounding?: RoundingMode;
  /** Simulate int32 biases (default true). */
  quantizeBias?: boolean;
  /** Put the softmax output on TFLite's 1/256 grid (default true; false keeps the run's range). */
  softmaxGrid?: boolean;
  /** Rounding of MUL outputs (default TFLITE_MUL_ROUNDING). */
  mulRounding?: RoundingMode;
  /** Compute global average pools and the int8 activations (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU) as the interpreter's kernels do (simulate-ops.ts; default true). */
  interpreterOps?: boolean;
}

/** The run's qparams with the softmax quantizer moved to TFLite's grid. */
export function tfliteQParams(qparams: ReadonlyMap<string, QParams>, softmax: SoftmaxAt, softmaxGrid = true): Map<string, QParams> {
  const out = new Map(qparams);
  if (softmax && softmaxGrid) out.set(softmax.quantizer, softmaxQParams(qparams.get(softmax.quantizer)?.bits));
  return out;
}

/**
 * The TFLite simulation as one ONNX graph for onnxruntime, the same
 * arithmetic as simulateTflite with the same options, built on the lowered
 * graph through engine/onnx/build.ts:
 *  - kernels fake-quantized with the input rounding (the file's integers),
 *    biases as the int32 values (ints · f32(s_in·s_w));
 *  - each activation quantizer as fake quant in float ops with its rounding:
 *    the model input's QUANTIZE and MUL outputs half to even, every other
 *    requantization half up (TF's fake quant form);
 *  - the interpreter's kernels (simulate-ops.ts: the global average pools'
 *    rounded means, the int8 tables of LOGISTIC, TANH, HARD_SWISH,
 *    LEAKY_RELU and of MUL / ADD by a constant) as the same op sequence on
 *    the linearized nodes, tables as Gather (engine/onnx/table.ts);
 *  - a softmax fused into the output layer split off (quant.ts
 *    splitFusedSoftmax): logits fake-quantized on their observed range, ONNX
 *    Softmax, the output on TFLite's 1/256 grid; a Softmax layer likewise on
 *    that grid.
 * Returns the encoded model and the graph it computes (for the batch size).
 */
export function tfliteSimulationModel(
  runGraph: Graph,
  runPlan: QuantPlan,
  runQParams: ReadonlyMap<string, QParams>,
  softmax: SoftmaxAt,
  logits: QParams | null,
  opts: TfliteSimulationOptions = {},
): { model: Uint8Array; graph: Graph } {
  const { model, graph } = simulationGraph(lowerForTflite(runGraph, runPlan, runQParams), softmax, logits, opts, 'output');
  return { model: encodeOnnx(model), graph };
}

/**
 * tfliteSimulationModel's graph of the lowered model (the file's), not yet
 * encoded, with where each node's simulated value lives and the plan and
 * qparams it was built with (a fused softmax split off): the layer diff
 * reads every activation out of it (export/diff/tflite-diff.ts).
 */
export function tfliteSimulationGraph(lowered: LoweredModel, softmax: SoftmaxAt, logits: QParams | null, opts: TfliteSimulationOptions = {}): SimulationGraph {
  return simulationGraph(lowered, softmax, logits, opts, 'output');
}

export interface SimulationGraph {
  model: ModelProto;
  graph: Graph;
  plan: QuantPlan;
  qparams: ReadonlyMap<string, QParams>;
  values: ReadonlyMap<string, OnnxValue>;
}

/**
 * The graph of observeLogitsRange's pass: the TFLite simulation of the
 * lowered model up to the float logits of the output layer whose softmax is
 * fused (no quantizer there, no softmax), for onnxruntime.
 */
export function tfliteLogitsModel(model: { graph: Graph; plan: QuantPlan; qparams: ReadonlyMap<string, QParams> }, softmax: NonNullable<SoftmaxAt>): { model: Uint8Array; graph: Graph } {
  const built = simulationGraph(model, softmax, null, {}, 'logits');
  return { model: encodeOnnx(built.model), graph: built.graph };
}

/** See tfliteSimulationModel; 'logits': the fused softmax's layer ends the graph, linear and unquantized. */
function simulationGraph(
  lowered: { graph: Graph; plan: QuantPlan; qparams: ReadonlyMap<string, QParams> },
  softmax: SoftmaxAt,
  logits: QParams | null,
  opts: TfliteSimulationOptions,
  end: 'output' | 'logits',
): SimulationGraph {
  const { graph, plan, qparams } = lowered;
  const q = tfliteQParams(qparams, softmax, opts.softmaxGrid ?? true);
  const rounding = opts.rounding ?? TFLITE_ROUNDING;
  const inputRounding = inputRoundingOf(plan, opts.inputRounding);
  const mulRounding = opts.mulRounding ?? TFLITE_MUL_ROUNDING;
  let kernels = simulatedKernels(graph, plan, q, opts.inputRounding ?? TFLITE_INPUT_ROUNDING);
  let biases = opts.quantizeBias === false ? null : quantizedBiasValues(graph, plan, q);
  const ratios = ratiosOf(graph, plan, q, softmax, logits);
  // The logits pass leaves the fused softmax's layer unquantized: no requantization there.
  if (end === 'logits' && softmax) ratios.delete(softmax.layer);
  if (ratios.size > 0) {
    // 16x8: the kernels' 16-bit requantization multipliers (int16.ts), folded into kernel and bias.
    kernels = new Map([...kernels].map(([layer, k]) => [layer, ratios.has(layer) ? scaled(k, ratios.get(layer)!) : k]));
    const scaledBiases = new Map(biases ?? []);
    for (const [layer, r] of ratios) {
      const node = graph.nodes.find((n) => n.name === layer);
      const b = biases?.get(layer) ?? (node && isWeighted(node) ? node.weights.bias?.values : undefined);
      if (b) scaledBiases.set(layer, scaled(b, r));
    }
    biases = scaledBiases;
  }
  const exact = opts.interpreterOps === false ? new Map() : interpreterOpSpecs(graph, plan, q);
  const inputAt = inputQuantizer(graph, plan)?.at;
  const mulAt = mulOutputs(graph, plan, q);
  let model = { graph: opts.interpreterOps === false ? graph : linearized(graph, qparams), plan, qparams: q };
  if (end === 'logits') {
    if (softmax?.kind !== 'fused') throw new Error(`the graph ${graph.name} has no softmax fused into its output layer: it has no logits to observe`);
    const nodes = model.graph.nodes.map((n): GraphNode => (n.name === softmax.layer && isWeighted(n) ? { ...n, activation: 'linear' } : n));
    model = { ...model, graph: { ...model.graph, nodes }, plan: { ...plan, activations: plan.activations.filter((a) => a.name !== softmax.quantizer) } };
  } else if (softmax?.kind === 'fused') model = splitFusedSoftmax(model, softmax, logits);
  const roundingOf = (a: ActivationQuantizer) => (a.at === inputAt ? inputRounding : mulAt.has(a.at) ? mulRounding : rounding);
  const outputs = new Map([...exact].map(([name, op]) => [name, onnxInterpreterOp(op, name)]));
  // int8 files: the convolutions, dense layers and ADDs as the interpreter's integer kernels compute them (xnnpack-exact.ts).
  const integerOps = ratios.size === 0 && opts.interpreterOps !== false && opts.rounding === undefined ? xnnpackExactPlan(model.graph, model.plan, model.qparams, new Set(exact.keys())) : null;
  const replace = new Map<string, NodeReplacement>();
  if (integerOps) {
    model = { ...model, graph: withExactLinear(model.graph, integerOps) };
    kernels = new Map(kernels);
    const exactBiases = new Map(biases ?? []);
    for (const [name, e] of integerOps.nodes) {
      replace.set(name, e.replace);
      outputs.set(e.quantizer.at, (_b, v) => v);
      if (e.kernel) kernels.set(name, e.kernel);
      if (e.bias) exactBiases.set(name, e.bias);
    }
    biases = exactBiases;
    const quantizeInput = inputQuantize(model.graph, model.plan, model.qparams, inputQuantizer(model.graph, model.plan));
    if (quantizeInput && inputAt && !outputs.has(inputAt)) outputs.set(inputAt, quantizeInput);
  }
  const built = buildOnnxGraph({ ...model, simulate: { kernels, rounding: roundingOf, outputs, replace, ...(biases ? { biases } : {}) } });
  return { model: built.model, graph: model.graph, plan: model.plan, qparams: model.qparams, values: built.values };
}
