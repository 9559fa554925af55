/**
 * What in a run's config and graph the target cannot hold, found before the
 * run starts (lint's `target-*` findings; prepare refuses the first) and
 * again by the export before it writes a file for that target. Each
 * violation names the layer (the first one, with how many more, when a
 * config-wide setting is the cause) and says what would change.
 *
 * Rules (profile.ts):
 *  - `target-weight-bits`, `target-weight-symmetric`, `target-weight-narrow`,
 *    `target-weight-granularity`, `target-weight-axis`: the kernels' grids;
 *  - `target-activation-bits`, `target-activation-zero-point`,
 *    `target-activation-narrow`, `target-activation-granularity`: the
 *    activation quantizers' grids (a grid the target fixes is exempt);
 *  - `target-float-layer`: a layer kept float in a full-integer target;
 *  - `target-op`: an op the target's integer form does not have (TFLite:
 *    softmax inside the model, an Add / Multiply of more than two tensors, a
 *    layer the studio does not model, an unfolded BatchNormalization);
 *  - `target-shared-fixed-grid`: a fixed-grid output that must also share a
 *    concatenation's grid.
 */
import type { RunConfig } from '../../api/run-config.js';
import type { Graph } from '../graph/types.js';
import { isWeighted, nodeByName } from '../graph/types.js';
import { outputChannelAxis, resolveKernelAxis } from '../transform/kernel-axis.js';
import { overridesByLayer } from '../transform/overrides.js';
import type { QuantPlan } from '../transform/plan.js';
import type { TargetProfile } from './profile.js';

export interface TargetViolation {
  code: string;
  /** The (first) layer concerned. */
  layer: string;
  message: string;
  /** What would change for the target to hold it. */
  change: string;
}

/** Thrown by prepare (and the export) when a run breaks its target's rules: the first violation. */
export class TargetRuleError extends Error {
  constructor(readonly violation: TargetViolation, readonly target: string) {
    super(`target ${target}: ${violation.message} ${violation.change}`);
    this.name = 'TargetRuleError';
  }
}

/** Layers breaking one rule, grouped by their cause: the config's setting, or one layer's override. */
class Groups {
  private readonly byKey = new Map<string, { layers: string[]; make: (first: string, more: number) => TargetViolation }>();
  add(key: string, layer: string, make: (first: string, more: number) => TargetViolation): void {
    const g = this.byKey.get(key) ?? { layers: [], make };
    g.layers.push(layer);
    this.byKey.set(key, g);
  }
  violations(): TargetViolation[] {
    return [...this.byKey.values()].map((g) => g.make(g.layers[0]!, g.layers.length - 1));
  }
}

const andMore = (more: number) => (more > 0 ? ` (and ${more} more layer${more > 1 ? 's' : ''})` : '');
const list = (xs: readonly (string | number)[]) => xs.join(' or ');

export function targetViolations(profile: TargetProfile, graph: Graph, plan: QuantPlan, config: RunConfig): TargetViolation[] {
  const t = profile.name;
  const overrides = overridesByLayer(config);
  const groups = new Groups();
  const cause = (layer: string, field: 'weightBits' | 'activationBits') => (overrides.get(layer)?.[field] !== undefined ? `override:${layer}` : 'config');

  for (const wq of plan.weights) {
    const w = profile.weights;
    const node = nodeByName(graph, wq.layer);
    if (!w.bits.includes(wq.spec.bits)) {
      const src = cause(wq.layer, 'weightBits');
      groups.add(`weight-bits:${src}`, wq.layer, (first, more) => ({
        code: 'target-weight-bits',
        layer: first,
        message: `layer ${first}${andMore(more)}: weight ${first}/kernel has ${wq.spec.bits} bits; ${t} stores ${list(w.bits)}-bit weights.`,
        change: src === 'config' ? `Set weights.bits to ${w.bits[0]} (--bits ${w.bits[0]}), or choose no target.` : `Set the override's weightBits of ${first} to ${w.bits[0]}, or remove it.`,
      }));
    }
    if (w.symmetric && !config.weights.symmetric) {
      groups.add('weight-symmetric', wq.layer, (first, more) => ({
        code: 'target-weight-symmetric',
        layer: first,
        message: `layer ${first}${andMore(more)}: asymmetric weights (a zero point other than 0); ${t} takes symmetric weights, zero point 0.`,
        change: 'Set weights.symmetric to true.',
      }));
    }
    if (w.narrowRange && !config.weights.narrowRange) {
      groups.add('weight-narrow', wq.layer, (first, more) => ({
        code: 'target-weight-narrow',
        layer: first,
        message: `layer ${first}${andMore(more)}: full-range weights ([-2^(b-1), 2^(b-1) - 1]); ${t} takes weights in [-127, 127] (narrow range).`,
        change: 'Set weights.narrowRange to true.',
      }));
    }
    if (isWeighted(node)) {
      const allowed = w.granularity[node.op];
      if (!allowed.includes(config.weights.granularity)) {
        groups.add(`weight-granularity:${node.op}`, wq.layer, (first, more) => ({
          code: 'target-weight-granularity',
          layer: first,
          message: `layer ${first}${andMore(more)}: ${config.weights.granularity} weights; ${t} takes ${list(allowed)} weights for ${node.op}.`,
          change: `Set weights.granularity to ${allowed[0]}.`,
        }));
      } else if (config.weights.granularity === 'per-channel') {
        const r = resolveKernelAxis(node, config.weights.axis);
        if (r.ok && r.axis !== outputChannelAxis(node)) {
          groups.add('weight-axis', wq.layer, (first, more) => ({
            code: 'target-weight-axis',
            layer: first,
            message: `layer ${first}${andMore(more)}: per-channel weights on axis ${r.axis}, not the output channels; ${t} takes per-channel scales on the output channels only.`,
            change: 'Leave weights.axis unset (the output channels).',
          }));
        }
      }
    }
  }

  for (const a of plan.activations) {
    if (a.fixed) {
      if (a.sharedWith) {
        groups.add(`shared-fixed:${a.name}`, a.layers[0]!, (first) => ({
          code: 'target-shared-fixed-grid',
          layer: first,
          message: `layer ${first}: ${t} fixes its output grid (${a.fixed!.why}), but it also feeds a concatenation whose inputs share one grid.`,
          change: `Keep ${first} or the concatenation float with an override, or choose another target.`,
        }));
      }
      continue;
    }
    const v = profile.activations;
    const layer = a.layers[0]!;
    if (!v.bits.includes(a.spec.bits)) {
      const src = a.layers.some((l) => overrides.get(l)?.activationBits !== undefined) ? `override:${layer}` : 'config';
      groups.add(`activation-bits:${src}`, layer, (first, more) => ({
        code: 'target-activation-bits',
        layer: first,
        message: `layer ${first}${andMore(more)}: activation of ${a.spec.bits} bits; ${t} computes ${list(v.bits)}-bit activations.`,
        change: src === 'config' ? `Set activations.bits to ${v.bits[0]} (--act-bits ${v.bits[0]}).` : `Set the override's activationBits of ${first} to ${v.bits[0]}, or remove it.`,
      }));
    }
    if (v.zeroPoint === 'zero' && !a.spec.symmetric) {
      groups.add('activation-zero-point', layer, (first, more) => ({
        code: 'target-activation-zero-point',
        layer: first,
        message: `layer ${first}${andMore(more)}: asymmetric activations (a zero point other than 0); ${t} quantizes activations symmetrically, zero point 0.`,
        change: 'Set activations.symmetric to true (--symmetric-activations).',
      }));
    }
    if (a.spec.narrowRange) {
      groups.add('activation-narrow', layer, (first, more) => ({
        code: 'target-activation-narrow',
        layer: first,
        message: `layer ${first}${andMore(more)}: narrow-range activations; ${t} stores activations on the type's full range.`,
        change: 'Set activations.narrowRange to false.',
      }));
    }
    if (a.spec.granularity !== v.granularity) {
      groups.add('activation-granularity', layer, (first, more) => ({
        code: 'target-activation-granularity',
        layer: first,
        message: `layer ${first}${andMore(more)}: per-channel activations; ${t} quantizes activations per tensor.`,
        change: 'Set activations.granularity to per-tensor.',
      }));
    }
  }

  if (profile.fullInteger) {
    for (const f of plan.float) {
      if (f.reason === 'unsupported' && config.unsupported === 'stop') continue; // the run stops there anyway (lint's unsupported-layer)
      groups.add(`float:${f.layer}`, f.layer, (first) => ({
        code: 'target-float-layer',
        layer: first,
        message: `layer ${first} stays float (${f.reason}${f.fusedWith ? `, with ${f.fusedWith}` : ''}); ${t} is full integer: no layer can stay float.`,
        change: f.reason === 'override' ? `Remove the float override of ${f.fusedWith ?? first}.` : f.reason === 'unsupported' ? `Replace ${first} with supported layers.` : `Make ${first} foldable (see its bn-not-foldable finding).`,
      }));
    }
  }
  const out = groups.violations();
  if (profile.format === 'tflite') out.push(...tfliteOps(graph, t));
  return out;
}

/** Ops a TFLite int8 model has no form for (the TFLite writer refuses the same: export/tflite/build.ts assertExpressible). */
function tfliteOps(graph: Graph, t: string): TargetViolation[] {
  const out: TargetViolation[] = [];
  for (const n of graph.nodes) {
    const softmax = (n.op === 'activation' && n.activation === 'softmax') || (isWeighted(n) && n.activation === 'softmax');
    if (softmax && n.name !== graph.output) {
      out.push({ code: 'target-op', layer: n.name, message: `layer ${n.name} applies softmax inside the model; ${t} takes softmax only as the model output.`, change: `Move the softmax to the end of the model, or choose an ONNX target.` });
    }
    if ((n.op === 'add' || n.op === 'multiply') && n.inputs.length !== 2) {
      out.push({ code: 'target-op', layer: n.name, message: `layer ${n.name}: ${n.op} of ${n.inputs.length} tensors; ${t}'s ${n.op === 'add' ? 'ADD' : 'MUL'} takes two.`, change: `Split ${n.name} into ${n.op}s of two tensors.` });
    }
  }
  return out;
}
