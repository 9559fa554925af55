/**
 * The float (BatchNorm-folded) model as an ONNX graph, with each value a
 * planned activation watches found in it once: what both calibration graphs
 * (range probes, histogram pass) hang their reductions on.
 */
import { buildOnnxGraph, type OnnxValue } from '../onnx/build.js';
import type { ModelProto } from '../onnx/proto.js';
import type { Graph, GraphNode } from '../graph/types.js';
import type { ActivationQuantizer, QuantPlan } from '../transform/plan.js';

export interface WatchedActivation {
  /** The first planned activation at this node (quantizers sharing a node share its statistics). */
  activation: ActivationQuantizer;
  /** The watched tensor in the ONNX graph (NCHW for rank 4 when `value.nchw`). */
  value: OnnxValue;
  node: GraphNode;
}

export function floatGraphWithWatched(graph: Graph, plan: QuantPlan): { model: ModelProto; watched: WatchedActivation[] } {
  // An empty plan: every weight stays a float initializer, no QDQ pairs.
  const { model, values } = buildOnnxGraph({ graph, plan: { ...plan, weights: [], activations: [] }, qparams: new Map() });
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const watched: WatchedActivation[] = [];
  const seen = new Set<string>();
  for (const a of plan.activations) {
    if (seen.has(a.at)) continue;
    seen.add(a.at);
    const value = values.get(a.at);
    const node = byName.get(a.at);
    if (!value || !node) throw new Error(`activation ${a.name} watches ${a.at}, which the ONNX graph does not compute`);
    watched.push({ activation: a, value, node });
  }
  return { model, watched };
}
