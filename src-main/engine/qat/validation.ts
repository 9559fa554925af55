/**
 * What QAT's validation evaluates, for the native inference graph: the
 * unfolded model in inference mode (BatchNorm with its moving statistics)
 * with the simulation qat/hooks.ts puts on the TF.js forward pass — kernels
 * fq(W·s)/s with their current range (qat/simulated-kernels.ts), each
 * activation fake-quantized with its quantizer's current range where the
 * folded plan puts it (moved to the BatchNorm's output when the layer
 * absorbed one). The ranges are read, not updated: validation observes
 * nothing, as on TF.js, where the loop turns the activation observers off.
 */
import type { Graph } from '../graph/types.js';
import type { ClassifierSimulation } from '../native/evaluate-classifier.js';
import type { QParams } from '../quant/qparams.js';
import type { FoldRecord } from '../transform/fold-batchnorm.js';
import type { QuantPlan } from '../transform/plan.js';
import { unfoldedPlan, type QatQuantizers } from './hooks.js';
import { qatSimulatedKernels } from './simulated-kernels.js';

/** `graph` is the unfolded model with the weights to validate; `plan` the folded graph's plan. */
export function qatSimulation(graph: Graph, plan: QuantPlan, folded: readonly FoldRecord[], q: QatQuantizers): ClassifierSimulation {
  const qparams = new Map<string, QParams>();
  for (const [name, fq] of q.activations) qparams.set(name, fq.observer.qparams());
  return {
    plan: unfoldedPlan(plan, folded),
    qparams,
    kernels: qatSimulatedKernels(graph, plan, folded),
  };
}
