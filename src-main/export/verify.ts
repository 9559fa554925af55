/**
 * The verification of an exported file: its runtime's outputs against the
 * studio's simulation of the same export on the same eval samples, compared
 * by engine/eval-samples.ts (accuracy of both, top-1 agreement, largest
 * output difference); `simulate` runs that simulation on the TF.js runtime.
 */
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime, type ForwardHooks } from '../engine/graph/runtime.js';
import type { Graph } from '../engine/graph/types.js';
import { inputNode } from '../engine/graph/types.js';
import type { IntegerUnavailable, IntegerVerification } from '../engine/integer/agreement.js';
import { joinBatches, type EvalSamples, type OutputComparison } from '../engine/eval-samples.js';

/** A runtime's outputs on the eval samples against the studio's simulation of the same file. */
export interface Verification extends OutputComparison {
  runtime: string;
  /** The runtime's settings that decide its numerics. */
  settings: Record<string, unknown>;
  /** Rounding mode of the studio simulation compared against. */
  simulation: string;
  seconds: number;
  /**
   * The studio's integer reference (engine/integer: int8 kernels, int32
   * accumulators, TFLite fixed-point requantization) on the same samples:
   * its accuracy and top-1 agreement with this runtime and with the
   * simulation; or why the model has no integer form. Informative: it does
   * not decide `passed`.
   */
  integer?: IntegerVerification | IntegerUnavailable;
}

/** Runs `graph` with `hooks` over the samples in batches; returns the outputs back to back. */
export function simulate(graph: Graph, hooks: ForwardHooks | undefined, samples: EvalSamples, batchSize = 100): Float32Array {
  const runtime = new GraphRuntime(graph, { trainable: false });
  const per = samples.inputShape.reduce((a, b) => a * b, 1);
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  try {
    const expected = inputNode(graph).outputShape;
    if (expected.reduce((a, b) => a * b, 1) !== per) throw new Error(`samples of ${per} values do not fit the model input [${expected.join(',')}]`);
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const x = tf.tensor(samples.batch(start, size), [size, ...expected], 'float32');
      const y = runtime.apply(x, hooks ? { hooks } : {});
      parts.push(new Float32Array(y.dataSync() as Float32Array));
      x.dispose();
      y.dispose();
      samples.onBatch?.('studio simulation', start + size, n);
    }
  } finally {
    runtime.dispose();
  }
  return joinBatches(parts);
}
