/**
 * The quantized model, simulated: forward hooks that fake-quantize each
 * planned kernel with its weight qparams and each planned activation at its
 * hook point. The float runtime is untouched, so one GraphRuntime serves both
 * the float reference and the simulation.
 */
import { tf } from '../tfjs.js';
import type { ForwardHooks } from '../graph/runtime.js';
import type { WeightedNode } from '../graph/types.js';
import { fakeQuant, type RoundingMode } from '../quant/fake-quant.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan, WeightQuantizer } from '../transform/plan.js';

/** Qparams by quantizer name: `<layer>/kernel` for weights, activation quantizer names otherwise. */
export type QParamsByName = ReadonlyMap<string, QParams>;

/** Fake-quantizes a kernel on its quantization view (depthwise: [kh,kw,in·mult]) and returns it in its own shape. */
export function fakeQuantKernel(kernel: tf.Tensor, wq: WeightQuantizer, qp: QParams, rounding: RoundingMode = 'half-up'): tf.Tensor {
  return tf.tidy(() => {
    const view = tf.reshape(kernel, wq.view);
    const q = fakeQuant(view, qp, { rounding, name: wq.name, ...(wq.axis !== null ? { axis: wq.axis } : {}) });
    return tf.reshape(q, kernel.shape);
  });
}

/** Activation quantizer names by the node whose output they quantize (shared concat ranges resolved). */
export function activationQParamsAt(plan: QuantPlan, qparams: QParamsByName): Map<string, { name: string; qp: QParams }> {
  const at = new Map<string, { name: string; qp: QParams }>();
  for (const a of plan.activations) {
    const source = a.sharedWith ?? a.name;
    const qp = qparams.get(source);
    if (!qp) throw new Error(`no range for activation quantizer ${source} (needed at ${a.at})`);
    at.set(a.at, { name: a.name, qp });
  }
  return at;
}

export function simulationHooks(plan: QuantPlan, qparams: QParamsByName, rounding: RoundingMode = 'half-up'): ForwardHooks {
  const weights = new Map<string, { wq: WeightQuantizer; qp: QParams }>();
  for (const wq of plan.weights) {
    const qp = qparams.get(wq.name);
    if (!qp) throw new Error(`no range for weight quantizer ${wq.name}`);
    weights.set(wq.layer, { wq, qp });
  }
  const acts = activationQParamsAt(plan, qparams);
  return {
    weight(node: WeightedNode, name, w) {
      const entry = name === 'kernel' ? weights.get(node.name) : undefined;
      return entry ? fakeQuantKernel(w, entry.wq, entry.qp, rounding) : w;
    },
    output(node, y) {
      const entry = acts.get(node.name);
      if (!entry) return y;
      const axis = entry.qp.granularity === 'per-channel' ? y.rank - 1 : undefined;
      return fakeQuant(y, entry.qp, { rounding, name: entry.name, ...(axis !== undefined ? { axis } : {}) });
    },
  };
}

/** Calls `fn` with the kernel reshaped to its quantization view; the view is disposed afterwards. */
export function withKernelView<T>(kernel: tf.Tensor, wq: WeightQuantizer, fn: (view: tf.Tensor) => T): T {
  const view = tf.reshape(kernel, wq.view);
  try {
    return fn(view);
  } finally {
    view.dispose();
  }
}
