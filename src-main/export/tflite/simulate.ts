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
 * Rounding, int32 biases and the interpreter's kernels: see
 * engine/targets/tflite/simulation.ts, where the ONNX form lives (a run with
 * target tflite-int8 evaluates the same graph).
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
import { tf } from '../../engine/tfjs.js';
import { GraphRuntime, type ForwardHooks } from '../../engine/graph/runtime.js';
import type { Graph } from '../../engine/graph/types.js';
import { inputNode } from '../../engine/graph/types.js';
import { fakeQuant } from '../../engine/quant/fake-quant.js';
import type { QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { exportSimulationHooks } from '../simulate.js';
import { simulate, type SimulationPlan } from '../verify.js';
import { joinBatches, type EvalSamples } from '../../engine/eval-samples.js';
import { lowerForTflite } from '../../engine/targets/tflite/lower.js';
import { inputQuantizer, softmaxQParams, type SoftmaxAt } from '../../engine/targets/tflite/quant.js';
import { interpreterOps, linearized, mulOutputs } from '../../engine/targets/tflite/simulate-ops.js';
import type { TfliteActivationType } from '../../engine/targets/tflite/int16.js';
import {
  TFLITE_INPUT_ROUNDING,
  TFLITE_MUL_ROUNDING,
  TFLITE_ROUNDING,
  TFLITE16_INPUT_ROUNDING,
  inputRoundingOf,
  ratiosOf,
  scaled,
  tfliteLogitsModel,
  tfliteQParams,
  tfliteSimulationModel,
  type TfliteSimulationOptions,
} from '../../engine/targets/tflite/simulation.js';

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
