/**
 * Calibration: run the float model over the calibration split with an
 * observer at every planned activation, and observe every planned kernel once.
 * Observers only watch (the output hook returns y unchanged), so calibration
 * sees exactly the float model's tensors.
 *
 * Which estimator watches what:
 *  - activations: the run's estimator (minmax, lastvalue, movingaverage,
 *    percentile, mse, entropy); histogram estimators take two passes over the
 *    split (range, then histograms), as TensorRT's entropy calibrator does;
 *  - weights: their exact min/max (Keras's LastValue on a constant tensor),
 *    except with the mse estimator, which also searches each kernel's clipping
 *    range — the one estimator that pays off on weights at low bit widths —
 *    or as `estimator.weights` says (minmax or mse whatever the activations').
 *
 * The pieces (activationObservers, observePass, observeWeights) are shared
 * with the data-parallel calibration (../parallel/calibrate-parallel.ts),
 * whose helper workers run observePass on their shards, and with the native
 * calibration on onnxruntime-node (../native/calibrate-onnx.ts, and
 * ../native/calibrate-histogram.ts for the histograms' second pass), which
 * runs the same passes into the same observers and is used whenever it can
 * run (run.ts); this TensorFlow.js path is its fallback and reference.
 */
import type * as tf from '@tensorflow/tfjs';
import { weightEstimator, type Estimator } from '../../api/run-config.js';
import type { GraphRuntime } from '../graph/runtime.js';
import { createObserver, type Observer } from '../quant/observers/index.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import { withKernelView } from './sim-hooks.js';

/** Lets quick engine calls (lint, model reads) be answered between batches of a long job. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface CalibrationBatch {
  x: tf.Tensor;
  size: number;
}

export interface Calibration {
  /** Qparams by quantizer name (weights `<layer>/kernel`, activations by their own name). */
  qparams: Map<string, QParams>;
  /** The activation observers (by quantizer name; shared concat inputs point at one observer). */
  observers: Map<string, Observer>;
  weightObservers: Map<string, Observer>;
  samples: number;
  /** Wall seconds of the whole step: the session's creation, every batch, the kernels' observation. */
  seconds: number;
  /**
   * Native calibration: the seconds of its batch loops alone (without
   * creating the session or observing the kernels), what a peer timing its
   * forward loop measures.
   */
  loopSeconds?: number;
}

export interface CalibrateOptions {
  /** Called before each batch; throws to cancel. */
  onBatch?(pass: number, passes: number, samplesDone: number): void;
}


/** The activation observers of a plan: one per unique quantizer name, and the observer at each hook node. */
export interface ActivationObservers {
  /** By quantizer name; shared concat inputs point at one observer. */
  observers: Map<string, Observer>;
  /** Unique observers (no sharedWith entries), by their own name: what a parallel run merges. */
  unique: Map<string, Observer>;
  atNode: Map<string, Observer>;
  passes: number;
}

export function activationObservers(plan: QuantPlan, estimator: Estimator): ActivationObservers {
  const observers = new Map<string, Observer>();
  const atNode = new Map<string, Observer>();
  for (const a of plan.activations) {
    if (a.sharedWith) continue;
    // Activations are NHWC / [batch, features]: per-channel means the last axis unless the spec names one.
    const axis = a.spec.granularity === 'per-channel' ? (a.spec.axis ?? -1) : undefined;
    observers.set(a.name, createObserver(estimator, a.spec, { name: a.name, ...(axis !== undefined ? { axis } : {}) }));
  }
  const unique = new Map(observers);
  for (const a of plan.activations) {
    const obs = observers.get(a.sharedWith ?? a.name);
    if (!obs) throw new Error(`activation quantizer ${a.name} shares the range of ${a.sharedWith}, which is not planned`);
    if (a.sharedWith) observers.set(a.name, obs);
    atNode.set(a.at, obs);
  }
  const passes = Math.max(1, ...[...unique.values()].map((o) => o.passes));
  return { observers, unique, atNode, passes };
}

/**
 * One pass of the float model over `batches`, each hook node's output handed
 * to its observer. Disposes the batches. Returns the samples seen.
 */
export async function observePass(
  runtime: GraphRuntime,
  atNode: ReadonlyMap<string, Observer>,
  pass: number,
  batches: Iterable<CalibrationBatch>,
  onBatch?: (samplesDone: number) => void,
  opts: { yieldEachBatch?: boolean } = {},
): Promise<number> {
  const yieldEach = opts.yieldEachBatch ?? true;
  let done = 0;
  const hooks = {
    output(node: { name: string }, y: tf.Tensor) {
      const obs = atNode.get(node.name);
      if (obs && pass < obs.passes) obs.observe(y, pass);
      return y;
    },
  };
  for (const batch of batches) {
    try {
      onBatch?.(done);
      if (yieldEach) await yieldToEventLoop();
      // Not logits: the integer model quantizes the softmax output too, so its quantizer must see probabilities.
      runtime.apply(batch.x, { hooks }).dispose();
    } finally {
      batch.x.dispose();
      (batch as { y?: tf.Tensor }).y?.dispose();
    }
    done += batch.size;
  }
  return done;
}

/** Each planned kernel observed once with the weight estimator; their qparams are added to `qparams`. */
export function observeWeights(runtime: GraphRuntime, plan: QuantPlan, estimator: Estimator, qparams: Map<string, QParams>): Map<string, Observer> {
  const weightObservers = new Map<string, Observer>();
  const kernels = new Map(runtime.weightVariables().filter((w) => w.weight === 'kernel').map((w) => [w.node, w.variable]));
  for (const wq of plan.weights) {
    const kernel = kernels.get(wq.layer);
    if (!kernel) throw new Error(`layer ${wq.layer} has no kernel to quantize`);
    const obs = createObserver(weightEstimator(estimator), wq.spec, { name: wq.name, ...(wq.axis !== null ? { axis: wq.axis } : {}) });
    withKernelView(kernel, wq, (view) => {
      for (let pass = 0; pass < obs.passes; pass++) obs.observe(view, pass);
    });
    weightObservers.set(wq.name, obs);
    qparams.set(wq.name, obs.qparams());
  }
  return weightObservers;
}

export async function calibrate(
  runtime: GraphRuntime,
  plan: QuantPlan,
  estimator: Estimator,
  batches: () => Iterable<CalibrationBatch>,
  opts: CalibrateOptions = {},
): Promise<Calibration> {
  const started = performance.now();
  const { observers, atNode, passes } = activationObservers(plan, estimator);
  let samples = 0;
  for (let pass = 0; pass < passes; pass++) {
    const done = await observePass(runtime, atNode, pass, batches(), (d) => opts.onBatch?.(pass, passes, d));
    if (pass === 0) samples = done;
  }
  if (samples === 0) throw new Error('the calibration split is empty: nothing to calibrate on');
  opts.onBatch?.(passes - 1, passes, samples);

  const qparams = new Map<string, QParams>();
  for (const a of plan.activations) qparams.set(a.name, observers.get(a.name)!.qparams());
  const weightObservers = observeWeights(runtime, plan, estimator, qparams);
  return { qparams, observers, weightObservers, samples, seconds: (performance.now() - started) / 1000 };
}
