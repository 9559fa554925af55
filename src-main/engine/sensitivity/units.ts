/**
 * The layers a sensitivity analysis switches: one per activation quantizer
 * of the plan (the model input, each weighted layer with its fused
 * activation, each Add / Concatenate / standalone activation…), carrying the
 * kernel quantizer of its head layer when it has one. That is the unit a
 * `LAYER:float` override keeps float (one integer op is all-float or
 * all-int), and the layer the PTQ records name.
 */
import type { Graph } from '../graph/types.js';
import type { QuantPlan } from '../transform/plan.js';

export interface SensitivityUnit {
  /** The head layer (the model input's quantizer: the node it sits at). */
  layer: string;
  op: string;
  /** Graph order of `layer`. */
  position: number;
  /** `<layer>/kernel`, or null. */
  weight: string | null;
  /** The activation quantizer's name, or null (a kernel whose output has no quantizer of its own). */
  activation: string | null;
}

export function sensitivityUnits(graph: Graph, plan: QuantPlan): SensitivityUnit[] {
  const position = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const opOf = new Map(graph.nodes.map((n) => [n.name, n.op as string]));
  const weightOf = new Map(plan.weights.map((w) => [w.layer, w.name]));
  const units: SensitivityUnit[] = [];
  const seen = new Set<string>();
  for (const a of plan.activations) {
    const layer = a.role === 'input' ? a.at : a.layers[0]!;
    units.push({ layer, op: opOf.get(layer) ?? 'input', position: position.get(layer) ?? 0, weight: weightOf.get(layer) ?? null, activation: a.name });
    seen.add(layer);
  }
  for (const w of plan.weights) {
    if (!seen.has(w.layer)) units.push({ layer: w.layer, op: opOf.get(w.layer)!, position: position.get(w.layer)!, weight: w.name, activation: null });
  }
  return units.sort((a, b) => a.position - b.position);
}
