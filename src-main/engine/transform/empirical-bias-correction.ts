/**
 * Empirical bias correction (Nagel et al. 2019, §4.2, "empirical"): for each
 * planned kernel in graph order, on the calibration split,
 *   shift_o = mean over samples and positions of (x ∗ W_q − x ∗ W)_o = mean of (x ∗ ΔW)_o,
 * where x is the layer's input in the model whose earlier kernels are already
 * quantized and whose earlier biases are already corrected; b_o −= shift_o.
 * So the corrected layer's expected output on that data is the float one's
 * for its input. One forward pass over the split per corrected layer
 * (TensorFlow.js, the graph runtime).
 */
import { tf } from '../tfjs.js';
import type { Estimator } from '../../api/run-config.js';
import { GraphRuntime, linearOp } from '../graph/runtime.js';
import type { Graph, WeightedNode } from '../graph/types.js';
import type { QuantPlan } from './plan.js';
import { applyBiasShifts, quantizedKernel, type BiasShift } from './bias-correction.js';
import { outputChannels } from './kernel-axis.js';

export interface CorrectionBatch {
  x: tf.Tensor;
  size: number;
}

export interface EmpiricalOptions {
  /** Called before each batch with the layer and how many layers are done; throws to cancel. */
  onBatch?(layer: string, layersDone: number, layers: number): void;
}

export async function empiricalBiasCorrection(
  graph: Graph,
  plan: QuantPlan,
  estimator: Estimator,
  batches: () => Iterable<CorrectionBatch>,
  opts: EmpiricalOptions = {},
): Promise<{ graph: Graph; shifts: BiasShift[] }> {
  // Zero biases where a layer has none, so the runtime holds a variable to correct (the function is unchanged).
  const withBias = applyBiasShifts(graph, plan.weights.map((wq) => ({ layer: wq.layer, shift: new Array<number>(outputChannels(node(graph, wq.layer))).fill(0) })));
  const runtime = new GraphRuntime(withBias, { trainable: false });
  const quantized = new Map<string, tf.Tensor>();
  const shifts: BiasShift[] = [];
  try {
    const biases = new Map(runtime.weightVariables().filter((w) => w.weight === 'bias').map((w) => [w.node, w.variable]));
    const hooks = {
      weight: (n: WeightedNode, name: string, w: tf.Tensor) => (name === 'kernel' ? (quantized.get(n.name) ?? w) : w),
    };
    for (const [k, wq] of plan.weights.entries()) {
      const layer = node(withBias, wq.layer);
      const wQ = quantizedKernel(layer, wq, estimator);
      const delta = tf.tidy(() => tf.sub(tf.tensor(wQ, layer.weights.kernel.shape), tf.tensor(layer.weights.kernel.values, layer.weights.kernel.shape)));
      const channels = outputChannels(layer);
      const sum = new Float64Array(channels);
      let count = 0;
      try {
        for (const batch of batches()) {
          opts.onBatch?.(layer.name, k, plan.weights.length);
          const outs = runtime.applyAll(batch.x, { hooks });
          try {
            const x = outs.get(layer.inputs[0]!)!;
            const mean = tf.tidy(() => {
              const y = linearOp(layer, x, delta);
              return tf.mean(tf.reshape(y, [-1, channels]), 0);
            });
            const m = (await mean.data()) as Float32Array;
            mean.dispose();
            for (let o = 0; o < channels; o++) sum[o] = sum[o]! + m[o]! * batch.size;
            count += batch.size;
          } finally {
            for (const t of outs.values()) t.dispose();
            batch.x.dispose();
          }
        }
      } finally {
        delta.dispose();
      }
      if (count === 0) throw new Error('the calibration split is empty: nothing to correct the biases on');
      const shift = Array.from(sum, (s) => s / count);
      const bias = biases.get(layer.name)!;
      const corrected = tf.tidy(() => tf.sub(bias, tf.tensor1d(shift)));
      bias.assign(corrected);
      corrected.dispose();
      quantized.set(layer.name, tf.tensor(wQ, layer.weights.kernel.shape));
      shifts.push({ layer: layer.name, shift, maxAbs: Math.max(...shift.map(Math.abs)) });
    }
  } finally {
    runtime.dispose();
    for (const t of quantized.values()) t.dispose();
  }
  return { graph: applyBiasShifts(graph, shifts), shifts };
}

function node(graph: Graph, name: string): WeightedNode {
  const n = graph.nodes.find((x) => x.name === name);
  if (!n || !('weights' in n) || n.op === 'layer') throw new Error(`bias correction: no Dense or convolution named ${name}`);
  return n as WeightedNode;
}
