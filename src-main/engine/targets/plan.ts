/**
 * What a target changes in a run's plan (prepare.ts applies it when
 * config.target is set), so the simulation has the tensors and grids the
 * exported file has:
 *  - a softmax fused into a Dense / convolution is split off as its own node
 *    `<layer>/softmax` (profile.splitFusedSoftmax): the layer's logits then
 *    get a quantizer calibrated like every other tensor, as TFLite's
 *    converter and onnxruntime's quantizer range the SOFTMAX input;
 *  - an output the target puts on a fixed grid (softmax, sigmoid, tanh) gets
 *    that grid (ActivationQuantizer.fixed): fixedGridQParams gives the qparams
 *    the run uses instead of the calibrated ones.
 * Shared scales (pools, reshapes, padding, concatenation inputs) and fused
 * ReLU / ReLU6 are already the plan's own rules for every target.
 */
import type { QuantSpec } from '../../api/run-config.js';
import type { ActivationNode, Graph, GraphNode } from '../graph/types.js';
import { isWeighted, nodeByName } from '../graph/types.js';
import { computeQParams, type QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import type { FixedGrid, TargetProfile } from './profile.js';

/** TF's asymmetric 8-bit spec: the int8 grids TFLite fixes. */
const INT8: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' };

/** The graph with every softmax fused into a Dense / convolution split off (`<layer>/softmax`, the output when the layer was). */
export function splitFusedSoftmaxes(graph: Graph): Graph {
  if (!graph.nodes.some((n) => isWeighted(n) && n.activation === 'softmax')) return graph;
  let output = graph.output;
  const renamed = new Map<string, string>();
  const nodes = graph.nodes.flatMap((n): GraphNode[] => {
    const inputs = n.inputs.map((i) => renamed.get(i) ?? i);
    if (!isWeighted(n) || n.activation !== 'softmax') return [{ ...n, inputs }];
    const act: ActivationNode = { name: `${n.name}/softmax`, inputs: [n.name], outputShape: [...n.outputShape], op: 'activation', activation: 'softmax' };
    renamed.set(n.name, act.name);
    if (output === n.name) output = act.name;
    return [{ ...n, inputs, activation: 'linear' } as GraphNode, act];
  });
  return { ...graph, nodes, output };
}

/**
 * The inverse of splitFusedSoftmaxes: every `<layer>/softmax` it made folded
 * back into its layer. A QAT run with a target trains the split graph (the
 * logits' quantizer in the loss's path) and stores the model as the user's
 * layers, which prepare splits again for the run's records and the export.
 * `only`: the softmax nodes to join (those the split made; a model's own
 * Activation named like one stays).
 */
export function joinSplitSoftmaxes(graph: Graph, only?: ReadonlySet<string>): Graph {
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const joined = new Map<string, string>();
  for (const n of graph.nodes) {
    if (n.op !== 'activation' || n.activation !== 'softmax' || n.inputs.length !== 1 || (only && !only.has(n.name))) continue;
    const layer = graph.nodes.find((m) => m.name === n.inputs[0]);
    if (layer && isWeighted(layer) && layer.activation === 'linear' && n.name === `${layer.name}/softmax` && readers.get(layer.name) === 1) joined.set(n.name, layer.name);
  }
  if (joined.size === 0) return graph;
  const layers = new Set(joined.values());
  const nodes = graph.nodes.flatMap((n): GraphNode[] => {
    if (joined.has(n.name)) return [];
    const inputs = n.inputs.map((i) => joined.get(i) ?? i);
    return [layers.has(n.name) ? ({ ...n, inputs, activation: 'softmax' } as GraphNode) : { ...n, inputs }];
  });
  return { ...graph, nodes, output: joined.get(graph.output) ?? graph.output };
}

/** The graph a target's run works on (see the module comment). */
export function targetGraph(graph: Graph, profile: TargetProfile | null): Graph {
  return profile?.splitFusedSoftmax ? splitFusedSoftmaxes(graph) : graph;
}

/** The grid a target fixes at node `at`, if any. */
function fixedGridAt(graph: Graph, profile: TargetProfile, at: string): FixedGrid | undefined {
  const n = nodeByName(graph, at);
  const activation = n.op === 'activation' ? n.activation : isWeighted(n) ? n.activation : null;
  return profile.fixedGrids.find((g) => g.activation === activation);
}

/** The plan with the target's fixed grids marked on their quantizers (a copy; `plan` is not changed). */
export function targetPlan(plan: QuantPlan, graph: Graph, profile: TargetProfile | null): QuantPlan {
  if (!profile || profile.fixedGrids.length === 0) return plan;
  const activations = plan.activations.map((a) => {
    const grid = fixedGridAt(graph, profile, a.at);
    if (!grid) return a;
    const spec = grid.spec === 'int8' ? INT8 : a.spec;
    const [min, max] = grid.spec === 'own' && spec.symmetric && grid.symmetricRange ? grid.symmetricRange : [grid.min, grid.max];
    return { ...a, spec, fixed: { min, max, why: grid.why } };
  });
  return { ...plan, activations };
}

/** Qparams of the quantizers the target fixes, by name: what a run uses instead of the calibrated ones. */
export function fixedGridQParams(plan: QuantPlan): Map<string, QParams> {
  const out = new Map<string, QParams>();
  for (const a of plan.activations) if (a.fixed) out.set(a.name, computeQParams([a.fixed.min], [a.fixed.max], { ...a.spec, granularity: 'per-tensor' }, { name: a.name }));
  return out;
}
