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
 */
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime, type ForwardHooks } from '../../engine/graph/runtime.js';
import type { Graph } from '../../engine/graph/types.js';
import { inputNode } from '../../engine/graph/types.js';
import { fakeQuant, type RoundingMode } from '../../engine/quant/fake-quant.js';
import type { QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { exportSimulationHooks } from '../simulate.js';
import { joinBatches, type EvalSamples } from '../../engine/eval-samples.js';
import { lowerForTflite } from './lower.js';
import { inputQuantizer, softmaxQParams, type SoftmaxAt } from './quant.js';
import { interpreterOps, linearized, mulOutputs } from './simulate-ops.js';

/** Requantization inside the int8 ops. */
export const TFLITE_ROUNDING: RoundingMode = 'half-up';
/** The float → int8 QUANTIZE of the model input (and the stored weights). */
export const TFLITE_INPUT_ROUNDING: RoundingMode = 'half-even';
/** Requantization of MUL's int32 products (XNNPACK's fp32 requantization in this interpreter). */
export const TFLITE_MUL_ROUNDING: RoundingMode = 'half-even';

export interface TfliteSimulationOptions {
  /** Rounding of requantized activations (default TFLITE_ROUNDING). */
  rounding?: RoundingMode;
  /** Rounding of the model input's QUANTIZE and of the weights (default TFLITE_INPUT_ROUNDING). */
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
  if (softmax && softmaxGrid) out.set(softmax.quantizer, softmaxQParams());
  return out;
}

/** Hooks of the TFLite simulation up to the logits (the output hook of a fused softmax layer is skipped with `logits: true`). */
export function tfliteHooks(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, softmax: SoftmaxAt, opts: TfliteSimulationOptions = {}): ForwardHooks {
  const q = tfliteQParams(qparams, softmax, opts.softmaxGrid ?? true);
  const bias = opts.quantizeBias === false ? { quantizeBias: false } : {};
  const ops = exportSimulationHooks(graph, plan, q, { rounding: opts.rounding ?? TFLITE_ROUNDING, ...bias });
  const ends = exportSimulationHooks(graph, plan, q, { rounding: opts.inputRounding ?? TFLITE_INPUT_ROUNDING, ...bias });
  const inputAt = inputQuantizer(graph, plan)?.at;
  const muls = exportSimulationHooks(graph, plan, q, { rounding: opts.mulRounding ?? TFLITE_MUL_ROUNDING, ...bias });
  const mulAt = mulOutputs(graph, plan, q);
  const exact = opts.interpreterOps === false ? new Map() : interpreterOps(graph, plan, q);
  return {
    weight: ends.weight!,
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
  const hooks = tfliteHooks(graph, plan, qparams, softmax, opts);
  const fused = softmax?.kind === 'fused';
  const outQ = fused ? (opts.softmaxGrid ?? true ? softmaxQParams() : qparams.get(softmax.quantizer)!) : null;
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
