/**
 * The one way from a stored model to what every run kind works on:
 *
 *   bytes → deserialize → check weights → fold BatchNorm → plan
 *
 * PTQ, QAT, explain and export call it, so they agree on the folded graph
 * and on what is quantized. Everything here fails on bad input before any
 * batch is read: a NaN weight names its layer, an unsupported layer stops
 * the plan as config.unsupported says.
 */
import type { RunConfig } from '../api/run-config.js';
import { deserializeGraph } from './graph/serialize.js';
import type { Graph } from './graph/types.js';
import { foldBatchNorm, type FoldRecord } from './transform/fold-batchnorm.js';
import { planQuantization, type PlanOptions, type QuantPlan } from './transform/plan.js';

export interface Prepared {
  /** The model as stored (BatchNorm unfolded): what QAT trains. */
  source: Graph;
  /** BatchNorm folded into the convolutions before it: what the plan, simulation and export describe. */
  graph: Graph;
  folded: FoldRecord[];
  plan: QuantPlan;
}

/** Throws naming the layer when a weight holds NaN or ±Inf. */
export function checkFiniteWeights(graph: Graph, modelName: string): void {
  for (const node of graph.nodes) {
    if (!('weights' in node)) continue;
    for (const [key, w] of Object.entries(node.weights)) {
      if (!w) continue;
      const bad = w.values.findIndex((v: number) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`model ${modelName}: weight ${node.name}/${key} holds ${w.values[bad]} at index ${bad}; fix or retrain the model`);
    }
  }
}

export function prepare(model: Uint8Array | Graph, config: RunConfig, opts: { modelName?: string; plan?: PlanOptions } = {}): Prepared {
  const source = model instanceof Uint8Array ? deserializeGraph(model, opts.modelName) : model;
  checkFiniteWeights(source, opts.modelName ?? source.name);
  const { graph, folded } = foldBatchNorm(source);
  return { source, graph, folded, plan: planQuantization(graph, config, opts.plan) };
}
