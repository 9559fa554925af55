/**
 * Float against simulated-quantized, on the same eval batches: accuracy and
 * loss of both, and per planned tensor how far the quantized model has
 * drifted from the float one there.
 *
 * - Activation SQNR of a quantizer: float model's tensor at its hook point
 *   against the quantized model's tensor at the same point (so it includes
 *   the error carried in from earlier layers: the number that says where
 *   accuracy is lost).
 * - Clip rate: share of the float model's values outside the nudged range.
 * - Histograms of the float tensors over fixed bins spanning the calibration
 *   range and the chosen range (values beyond fall into the edge bins).
 */
import { tf } from '../tfjs.js';
import type { GraphRuntime } from '../graph/runtime.js';
import { ClassificationAccumulator } from '../metrics.js';
import { ActivationStatsAccumulator, type ActivationStats } from './activation-stats.js';
import type { QuantPlan } from '../transform/plan.js';
import { yieldToEventLoop } from './calibrate.js';
import { activationQParamsAt, simulationHooks, type QParamsByName } from './sim-hooks.js';

export { countsWithEdges, type ActivationStats } from './activation-stats.js';

export interface EvalBatch {
  x: tf.Tensor;
  y: tf.Tensor1D;
  size: number;
}

export interface Comparison {
  float: { accuracy: number; loss: number };
  quant: { accuracy: number; loss: number };
  count: number;
  activations: Map<string, ActivationStats>;
}

export interface CompareOptions {
  /** Histogram edges per activation quantizer (from calibration); the chosen range is added. */
  histogramSpan: ReadonlyMap<string, { lo: number; hi: number }>;
  bins?: number;
  onBatch?(samplesDone: number): void;
  /** Runs the float reference when it is not `runtime`'s graph (bias correction shifts only the quantized model's biases). */
  floatRuntime?: GraphRuntime;
}

export async function compareFloatAndQuant(
  runtime: GraphRuntime,
  plan: QuantPlan,
  qparams: QParamsByName,
  batches: Iterable<EvalBatch>,
  opts: CompareOptions,
): Promise<Comparison> {
  const hooks = simulationHooks(plan, qparams);
  // The simulated integer model ends as the float one does (softmax output quantized too), so compare model outputs.
  const fromLogits = !runtime.logitsOf.appliesSoftmax;
  const floatAcc = new ClassificationAccumulator();
  const quantAcc = new ClassificationAccumulator();
  const at = activationQParamsAt(plan, qparams);
  const perTensor = new Map<string, ActivationStatsAccumulator>();
  for (const [node, { name, qp }] of at) perTensor.set(name, new ActivationStatsAccumulator(name, node, qp, opts.histogramSpan.get(name), opts.bins ?? 256));
  let count = 0;
  for (const batch of batches) {
    opts.onBatch?.(count);
    await yieldToEventLoop();
    const floatOuts = (opts.floatRuntime ?? runtime).applyAll(batch.x);
    const quantOuts = runtime.applyAll(batch.x, { hooks });
    try {
      floatAcc.add(floatOuts.get(runtime.graph.output)! as tf.Tensor2D, batch.y, { fromLogits });
      quantAcc.add(quantOuts.get(runtime.graph.output)! as tf.Tensor2D, batch.y, { fromLogits });
      for (const t of perTensor.values()) t.add(floatOuts.get(t.at)!, quantOuts.get(t.at)!);
    } finally {
      for (const m of [floatOuts, quantOuts]) for (const v of m.values()) v.dispose();
      batch.x.dispose();
      batch.y.dispose();
    }
    count += batch.size;
  }
  const activations = new Map<string, ActivationStats>();
  for (const [name, t] of perTensor) activations.set(name, t.result());
  return {
    float: { accuracy: floatAcc.accuracy(), loss: floatAcc.loss() },
    quant: { accuracy: quantAcc.accuracy(), loss: quantAcc.loss() },
    count,
    activations,
  };
}
