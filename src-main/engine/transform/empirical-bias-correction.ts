/**
 * Empirical bias correction (Nagel et al. 2019, §4.2, "empirical"): for each
 * planned kernel in graph order, on the calibration split, b_o −= shift_o with
 *   'layer' (torch.ao's _correct_bias, which shadows each quantized module
 *   with its float one on the same input):
 *     shift_o = mean over samples and positions of (x̃ ∗ W_q − x̃ ∗ W)_o = mean of (x̃ ∗ ΔW)_o,
 *   'float-model' (AIMET's correct_bias, which reads the layer's output in the
 *   quantized model and in the float reference model):
 *     shift_o = mean of (x̃ ∗ W_q)_o − mean of (x ∗ W)_o,
 * where x̃ is the layer's input in the model whose earlier kernels are already
 * quantized and whose earlier biases are already corrected, and x its input
 * in the float model. 'layer' makes the corrected layer's expected output on
 * that data the float layer's for the same input; 'float-model' makes it the
 * float model's, so it also takes out the mean shift arriving from earlier
 * layers (their errors' variance turned into a mean by a ReLU, what is left
 * of their own correction). One forward pass over the split per corrected
 * layer ('float-model': one more of the float model first), TensorFlow.js.
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

/** What the quantized layer's mean output is held to (see the module doc). */
export type BiasReference = 'layer' | 'float-model';

export interface EmpiricalOptions {
  /** Default 'layer'. */
  reference?: BiasReference;
  /** Called before each batch with the layer (or 'the float model') and how many of the passes are done; throws to cancel. */
  onBatch?(layer: string, passesDone: number, passes: number): void;
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
  // 'float-model': each layer's mean output in the float model first (one pass for all of them).
  const floatPass = opts.reference === 'float-model' ? 1 : 0;
  const passes = plan.weights.length + floatPass;
  const floatMeans = floatPass ? await floatLayerMeans(withBias, plan, batches, () => opts.onBatch?.('the float model', 0, passes)) : null;
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
      // 'layer': the mean of x̃ ∗ ΔW; 'float-model': of x̃ ∗ W_q, less the float model's mean of x ∗ W.
      const probe = floatMeans
        ? tf.tensor(wQ, layer.weights.kernel.shape)
        : tf.tidy(() => tf.sub(tf.tensor(wQ, layer.weights.kernel.shape), tf.tensor(layer.weights.kernel.values, layer.weights.kernel.shape)));
      const sum = new Float64Array(outputChannels(layer));
      let count = 0;
      try {
        for (const batch of batches()) {
          opts.onBatch?.(layer.name, k + floatPass, passes);
          const outs = runtime.applyAll(batch.x, { hooks });
          try {
            await addLayerMean(sum, layer, outs.get(layer.inputs[0]!)!, probe, batch.size);
            count += batch.size;
          } finally {
            for (const t of outs.values()) t.dispose();
            batch.x.dispose();
          }
        }
      } finally {
        probe.dispose();
      }
      if (count === 0) throw new Error('the calibration split is empty: nothing to correct the biases on');
      const floatMean = floatMeans?.get(layer.name);
      const shift = Array.from(sum, (s, o) => s / count - (floatMean ? floatMean[o]! : 0));
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

/** Adds batchSize × the mean over samples and positions of x ∗ kernel (no bias), per output channel, into sum. */
async function addLayerMean(sum: Float64Array, layer: WeightedNode, x: tf.Tensor, kernel: tf.Tensor, batchSize: number): Promise<void> {
  const mean = tf.tidy(() => tf.mean(tf.reshape(linearOp(layer, x, kernel), [-1, sum.length]), 0));
  const m = (await mean.data()) as Float32Array;
  mean.dispose();
  for (let o = 0; o < sum.length; o++) sum[o] = sum[o]! + m[o]! * batchSize;
}

/** Each planned layer's E[x ∗ W] per output channel in the float model (no bias), over the batches. */
async function floatLayerMeans(graph: Graph, plan: QuantPlan, batches: () => Iterable<CorrectionBatch>, onBatch: () => void): Promise<Map<string, Float64Array>> {
  const runtime = new GraphRuntime(graph, { trainable: false });
  const layers = plan.weights.map((wq) => node(graph, wq.layer));
  const sums = new Map(layers.map((l) => [l.name, new Float64Array(outputChannels(l))]));
  let count = 0;
  try {
    for (const batch of batches()) {
      onBatch();
      const outs = runtime.applyAll(batch.x);
      try {
        for (const layer of layers) {
          const kernel = tf.tensor(layer.weights.kernel.values, layer.weights.kernel.shape);
          try {
            await addLayerMean(sums.get(layer.name)!, layer, outs.get(layer.inputs[0]!)!, kernel, batch.size);
          } finally {
            kernel.dispose();
          }
        }
        count += batch.size;
      } finally {
        for (const t of outs.values()) t.dispose();
        batch.x.dispose();
      }
    }
  } finally {
    runtime.dispose();
  }
  if (count === 0) throw new Error('the calibration split is empty: nothing to correct the biases on');
  for (const sum of sums.values()) for (let o = 0; o < sum.length; o++) sum[o] = sum[o]! / count;
  return sums;
}

function node(graph: Graph, name: string): WeightedNode {
  const n = graph.nodes.find((x) => x.name === name);
  if (!n || !('weights' in n) || n.op === 'layer') throw new Error(`bias correction: no Dense or convolution named ${name}`);
  return n as WeightedNode;
}
