/**
 * The studio's simulation of a TFLite export: the run's fake quantization
 * (exportSimulationHooks: int32 biases with scale s_in·s_w) on the graph as
 * the file computes it (lower.ts: LOGISTIC / TANH outputs on their fixed
 * grids, swish as LOGISTIC then MUL, hard sigmoids and affines as MUL / ADD
 * with the file's int8 constants and their intermediate ranges) with what the
 * file changes besides (see quant.ts): the softmax output on TFLite's 1/256
 * grid and, for a softmax fused into the output layer, its logits quantized
 * first. The input quantizer (after the input's preprocessing, when the model
 * has some) is the file's float → int8 QUANTIZE.
 *
 * Rounding, as measured in the interpreter this export is verified in (the
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
 * other average pools keep the exact mean, as the run's simulation does.
 * Weights are simulated with the file's integers, which are rounded half to
 * even (engine/quant/int-tensors.ts).
 *
 * A 16x8 file (int16.ts) as its int16 kernels compute, measured the same way:
 * the float → int16 QUANTIZE rounds halves away from zero
 * (TFLITE16_INPUT_ROUNDING, reference AffineQuantize's std::round), every
 * requantization rounds halves up; CONV_2D, DEPTHWISE_CONV_2D and
 * FULLY_CONNECTED add int64 biases and requantize with a 16-bit multiplier,
 * whose ratio to the exact one each layer's kernel and bias are scaled by
 * (int16.ts requantRatios); every AVERAGE_POOL_2D with 'valid' padding is the
 * reference kernel's rounded average (half away from zero), like the global
 * one. The int16 SOFTMAX (exp and reciprocal lookup tables) is simulated as
 * the exact softmax on its 1/32768 grid: the file differs there by a few
 * steps of 1/32768.
 *
 * Two forms of the same arithmetic: tfliteSimulationModel, one ONNX graph
 * built through the engine's lowering, which the verification runs on
 * onnxruntime (export/verify.ts runSimulation, also for the logits range:
 * logitsSimulation), and simulateTflite with tfliteHooks on TensorFlow.js,
 * the reference the tests compare the graph with and the fallback where
 * onnxruntime cannot run. Every piece has an exact ONNX form (fake quant in
 * each rounding as float ops, the interpreter's tables as Gather, its rounded
 * means as Round / Floor / Sign), so no format is kept on TF.js by design.
 */
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime, type ForwardHooks } from '../../engine/graph/runtime.js';
import type { Graph, GraphNode } from '../../engine/graph/types.js';
import { inputNode, isWeighted } from '../../engine/graph/types.js';
import { fakeQuant, type RoundingMode } from '../../engine/quant/fake-quant.js';
import type { QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { simulatedKernels } from '../../engine/native/evaluate-onnx.js';
import { buildOnnxGraph, encodeOnnx, type OnnxValue } from '../../engine/onnx/build.js';
import type { ModelProto } from '../../engine/onnx/proto.js';
import type { ActivationQuantizer } from '../../engine/transform/plan.js';
import { exportSimulationHooks, quantizedBiasValues } from '../simulate.js';
import { simulate, type SimulationPlan } from '../verify.js';
import { joinBatches, type EvalSamples } from '../../engine/eval-samples.js';
import { lowerForTflite, type LoweredModel } from './lower.js';
import { inputQuantizer, softmaxQParams, splitFusedSoftmax, type SoftmaxAt } from './quant.js';
import { interpreterOps, interpreterOpSpecs, linearized, mulOutputs, onnxInterpreterOp } from './simulate-ops.js';
import { activationTypeOf, requantRatios, type TfliteActivationType } from './int16.js';

/** Requantization inside the int8 ops. */
export const TFLITE_ROUNDING: RoundingMode = 'half-up';
/** The float → int8 QUANTIZE of the model input (and the stored weights). */
export const TFLITE_INPUT_ROUNDING: RoundingMode = 'half-even';
/** Requantization of MUL's int32 products (XNNPACK's fp32 requantization in this interpreter). */
export const TFLITE_MUL_ROUNDING: RoundingMode = 'half-even';
/** The float → int16 QUANTIZE of a 16x8 file's input (reference AffineQuantize: std::round). */
export const TFLITE16_INPUT_ROUNDING: RoundingMode = 'half-away';

/** The input QUANTIZE's rounding for the plan's activation type, unless `asked`. */
const inputRoundingOf = (plan: QuantPlan, asked: RoundingMode | undefined): RoundingMode => asked ?? (activationTypeOf(plan) === 'int16' ? TFLITE16_INPUT_ROUNDING : TFLITE_INPUT_ROUNDING);

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
 * 16x8: each weighted layer's kernel and bias values times its requantization
 * ratios (int16.ts requantRatios, on the model as the file computes it: a
 * fused softmax split off, its layer closed by the logits' grid); empty for int8.
 */
function ratiosOf(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, softmax: SoftmaxAt, logits: QParams | null): Map<string, Float64Array> {
  if (activationTypeOf(plan) !== 'int16') return new Map();
  const model = softmax?.kind === 'fused' ? splitFusedSoftmax({ graph, plan, qparams: new Map(qparams) }, softmax, logits) : { graph, plan, qparams };
  return requantRatios(model.graph, model.plan, model.qparams);
}

/** Values times the ratio of their output channel (the fastest-varying index: Keras's last kernel axes). */
function scaled(values: Float32Array, ratios: Float64Array): Float32Array {
  const c = ratios.length;
  return Float32Array.from(values, (v, i) => v * ratios[i % c]!);
}

/** Hooks of the TFLite simulation up to the logits (the output hook of a fused softmax layer is skipped with `logits: true`). */
export function tfliteHooks(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, softmax: SoftmaxAt, opts: TfliteSimulationOptions = {}, logits: QParams | null = null): ForwardHooks {
  const q = tfliteQParams(qparams, softmax, opts.softmaxGrid ?? true);
  const bias = opts.quantizeBias === false ? { quantizeBias: false } : {};
  const ops = exportSimulationHooks(graph, plan, q, { rounding: opts.rounding ?? TFLITE_ROUNDING, ...bias });
  const kernels = exportSimulationHooks(graph, plan, q, { rounding: opts.inputRounding ?? TFLITE_INPUT_ROUNDING, ...bias });
  const ends = exportSimulationHooks(graph, plan, q, { rounding: inputRoundingOf(plan, opts.inputRounding), ...bias });
  const inputAt = inputQuantizer(graph, plan)?.at;
  const muls = exportSimulationHooks(graph, plan, q, { rounding: opts.mulRounding ?? TFLITE_MUL_ROUNDING, ...bias });
  const mulAt = mulOutputs(graph, plan, q);
  const exact = opts.interpreterOps === false ? new Map() : interpreterOps(graph, plan, q);
  const ratios = ratiosOf(graph, plan, q, softmax, logits);
  return {
    weight: (node, name, w) => {
      const v = kernels.weight!(node, name, w);
      const r = ratios.get(node.name);
      if (!r) return v;
      // Per output channel: Keras's last axis ([in, multiplier] for a depthwise kernel).
      const shape = name === 'bias' || node.op !== 'depthwiseConv2d' ? [r.length] : v.shape.slice(-2);
      return tf.tidy(() => tf.mul(v, tf.tensor(Float32Array.from(r), shape, 'float32')));
    },
    output: (node, y) => {
      const op = exact.get(node.name);
      if (op) return op(y);
      return node.name === inputAt ? ends.output!(node, y) : mulAt.has(node.name) ? muls.output!(node, y) : ops.output!(node, y);
    },
  };
}

/** Outputs of the simulated TFLite model on the samples, back to back (the run's graph, plan and qparams; lowered here). */
export function simulateTflite(
  runGraph: Graph,
  runPlan: QuantPlan,
  runQParams: ReadonlyMap<string, QParams>,
  softmax: SoftmaxAt,
  logits: QParams | null,
  samples: EvalSamples,
  opts: TfliteSimulationOptions = {},
  batchSize = 100,
): Float32Array {
  const { graph, plan, qparams } = lowerForTflite(runGraph, runPlan, runQParams);
  const rounding = opts.rounding ?? TFLITE_ROUNDING;
  const hooks = tfliteHooks(graph, plan, qparams, softmax, opts, logits);
  const fused = softmax?.kind === 'fused';
  const outQ = fused ? (opts.softmaxGrid ?? true ? softmaxQParams(qparams.get(softmax.quantizer)?.bits) : qparams.get(softmax.quantizer)!) : null;
  // The tabled activations run linear; their hooks apply the kernels' tables (simulate-ops.ts).
  const runtime = new GraphRuntime(opts.interpreterOps === false ? graph : linearized(graph, qparams), { trainable: false });
  const shape = inputNode(graph).outputShape;
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const y = tf.tidy(() => {
        const x = tf.tensor(samples.batch(start, size), [size, ...shape], 'float32');
        if (!fused) return runtime.apply(x, { hooks });
        const z = runtime.apply(x, { hooks, logits: true });
        const zq = logits ? fakeQuant(z, logits, { rounding, name: `${softmax.layer}/logits` }) : z;
        return fakeQuant(tf.softmax(zq), outQ!, { rounding, name: softmax.quantizer });
      });
      parts.push(new Float32Array(y.dataSync() as Float32Array));
      y.dispose();
      samples.onBatch?.('studio TFLite simulation', start + size, n);
    }
  } finally {
    runtime.dispose();
  }
  return joinBatches(parts);
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
export function tfliteSimulationGraph(lowered: LoweredModel, softmax: SoftmaxAt, logits: QParams | null): SimulationGraph {
  return simulationGraph(lowered, softmax, logits, {}, 'output');
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
  const built = buildOnnxGraph({ ...model, simulate: { kernels, rounding: roundingOf, outputs, ...(biases ? { biases } : {}) } });
  return { model: built.model, graph: model.graph, plan: model.plan, qparams: model.qparams, values: built.values };
}

/**
 * The pass that ranges the logits of a fused softmax (quant.ts), on either
 * runtime: the TFLite simulation of the lowered model up to the float logits
 * (tfliteLogitsModel on onnxruntime; the TF.js hooks with GraphRuntime's
 * logits otherwise).
 */
export function logitsSimulation(model: { graph: Graph; plan: QuantPlan; qparams: ReadonlyMap<string, QParams> }, softmax: NonNullable<SoftmaxAt>): SimulationPlan {
  return {
    description: `the TFLite simulation up to the float logits of ${softmax.layer}`,
    native: () => tfliteLogitsModel(model, softmax),
    tfjs: (samples) => simulate(linearized(model.graph, model.qparams), tfliteHooks(model.graph, model.plan, model.qparams, softmax), samples, 100, { logits: true }),
  };
}

/** What simulateTflite computes, in words, for the verification record. */
export function tfliteSimulationText(graph: Graph, lowered: boolean, logits: boolean, activationType: TfliteActivationType = 'int8'): string {
  if (activationType === 'int16') {
    return `studio fake-quant of the 16x8 file (int16 activations), input QUANTIZE rounding ${TFLITE16_INPUT_ROUNDING}, requantization ${TFLITE_ROUNDING} with the int16 kernels' 16-bit multipliers, int64 biases, softmax on TFLite's 1/32768 grid${logits ? ', logits quantized' : ''}, 'valid' and global average pools as the reference kernel's rounded average (graph ${graph.name})`;
  }
  return `studio fake-quant, input QUANTIZE rounding ${TFLITE_INPUT_ROUNDING}, requantization ${TFLITE_ROUNDING}, MUL ${TFLITE_MUL_ROUNDING}, int32 biases, softmax on TFLite's 1/256 grid${logits ? ', logits quantized' : ''}, global average pools and int8 activation / constant tables as the interpreter's kernels${lowered ? ", the graph lowered to TFLite's ops and grids (LOGISTIC/TANH grids, swish as LOGISTIC + MUL, hard sigmoid and affine as MUL/ADD with int8 constants)" : ''} (graph ${graph.name})`;
}

/** The simulation a TFLite file is verified against, on either runtime (export/verify.ts runSimulation). */
export function tfliteSimulation(
  runGraph: Graph,
  runPlan: QuantPlan,
  runQParams: ReadonlyMap<string, QParams>,
  softmax: SoftmaxAt,
  logits: QParams | null,
  description: string,
  opts: TfliteSimulationOptions = {},
): SimulationPlan {
  return {
    description,
    native: () => tfliteSimulationModel(runGraph, runPlan, runQParams, softmax, logits, opts),
    tfjs: (samples) => simulateTflite(runGraph, runPlan, runQParams, softmax, logits, samples, opts),
  };
}
