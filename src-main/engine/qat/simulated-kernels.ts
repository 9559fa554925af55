/**
 * QAT's kernels as its forward pass uses them (qat/hooks.ts), in plain JS:
 * a planned kernel W becomes fq(W·s)/s, with s = γ/√(σ²_moving + ε) per
 * output channel when a BatchNorm folds into its layer, else fq(W); the
 * kernel quantizer's range is the current kernel's (LastValue). The float32
 * steps are the hook's (add, sqrt, div, mul, fake quant, div, each rounded
 * once), so the values are the TF.js forward's to the bit. QAT's validation
 * and the native evaluations feed them to the inference graph
 * (onnx/build.ts's simulation) as fixed kernels.
 */
import type { BatchNormNode, Graph, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { fakeQuantValues, valuesMinMax } from '../quant/fake-quant-values.js';
import { computeQParams } from '../quant/qparams.js';
import type { FoldRecord } from '../transform/fold-batchnorm.js';
import type { QuantPlan, WeightQuantizer } from '../transform/plan.js';

const f32 = Math.fround;

/** A kernel on its quantization view as its quantizer sees it: W·s (W without a folded BatchNorm) and its range per channel. */
export interface KernelView {
  z: Float32Array;
  range: { min: Float32Array; max: Float32Array; nonFinite: boolean };
}

export function kernelView(kernel: Float32Array, wq: WeightQuantizer, scale?: Float32Array): KernelView {
  const channels = wq.view[wq.view.length - 1]!;
  const z = scale ? kernel.map((w, i) => f32(w * scale[i % channels]!)) : kernel;
  return { z, range: valuesMinMax(z, wq.view, wq.axis ?? null) };
}

/** The fake quant of a kernel on its quantization view with the range of its own values (LastValue), as fq(W·s)/s when `scale` is given. */
export function fakeQuantKernelValues(kernel: Float32Array, wq: WeightQuantizer, scale?: Float32Array): Float32Array {
  const channels = wq.view[wq.view.length - 1]!;
  const { z, range } = kernelView(kernel, wq, scale);
  const axis = wq.axis ?? null;
  const qp = computeQParams(range.min, range.max, wq.spec, { name: wq.name, ...(axis !== null ? { axis } : {}) });
  const q = fakeQuantValues(z, wq.view, qp, axis ?? undefined);
  return scale ? q.map((v, i) => f32(v / scale[i % channels]!)) : q;
}

/** s = γ/√(σ² + ε) per channel of a BatchNorm (1/√(σ² + ε) without γ), in float32 as qat/hooks.ts computes it. */
export function foldScale(bn: BatchNormNode): Float32Array {
  const variance = bn.weights.movingVariance.values;
  const gamma = bn.weights.gamma?.values;
  const eps = f32(bn.epsilon);
  return variance.map((v, c) => {
    const root = f32(Math.sqrt(f32(v + eps)));
    return f32((gamma ? gamma[c]! : 1) / root);
  });
}

/** Every planned kernel of the unfolded `graph` (its current weights) as QAT's forward pass uses it, by layer name (Keras layout). */
export function qatSimulatedKernels(graph: Graph, plan: QuantPlan, folded: readonly FoldRecord[]): Map<string, Float32Array> {
  return new Map([...plannedKernels(graph, plan, folded)].map(([layer, k]) => [layer, fakeQuantKernelValues(k.kernel, k.wq, k.scale)]));
}

/** Every planned kernel of the unfolded `graph` as its quantizer sees it (W·s), by layer name. */
export function qatKernelViews(graph: Graph, plan: QuantPlan, folded: readonly FoldRecord[]): Map<string, KernelView> {
  return new Map([...plannedKernels(graph, plan, folded)].map(([layer, k]) => [layer, kernelView(k.kernel, k.wq, k.scale)]));
}

/** Each planned kernel with its quantizer and the fold scale of the BatchNorm folding into its layer, if any. */
function plannedKernels(graph: Graph, plan: QuantPlan, folded: readonly FoldRecord[]): Map<string, { kernel: Float32Array; wq: WeightQuantizer; scale?: Float32Array }> {
  const nodes = new Map(graph.nodes.map((n) => [n.name, n]));
  // The last BN folded into a layer is the one the hooks scale by.
  const foldedInto = new Map(folded.map((f) => [f.layer, nodes.get(f.batchNorm) as BatchNormNode]));
  const out = new Map<string, { kernel: Float32Array; wq: WeightQuantizer; scale?: Float32Array }>();
  for (const wq of plan.weights) {
    const n = nodes.get(wq.layer);
    if (!n || !isWeighted(n)) throw new Error(`weight quantizer ${wq.name} names no weighted layer of ${graph.name}`);
    const bn = foldedInto.get(wq.layer);
    out.set(wq.layer, { kernel: (n as WeightedNode).weights.kernel.values, wq, ...(bn ? { scale: foldScale(bn) } : {}) });
  }
  return out;
}
