/**
 * The one way from a stored model to what every run kind works on:
 *
 *   bytes → deserialize → check weights → fold BatchNorm → [CLE] → plan → [bias correction] → [stored AdaRound]
 *
 * PTQ, QAT (before training, and again on the trained model), explain,
 * lint and export call it, so they agree on the folded graph and on what is
 * quantized. `prepare` fails on bad input before any batch is read: a NaN
 * weight names its layer, an unsupported layer stops the plan as
 * config.unsupported says. `inspect` takes the same steps and reports those
 * instead of throwing, for lint, which says everything a run would meet
 * before it starts.
 *
 * With config.target, the graph and plan follow the target's profile
 * (engine/targets/plan.ts: a fused softmax split off, fixed output grids)
 * and a config the target cannot hold is refused (targets/rules.ts).
 */
import type { RunConfig } from '../api/run-config.js';
import { deserializeGraph } from './graph/serialize.js';
import type { Graph } from './graph/types.js';
import { foldBatchNorm, type FoldRecord, type KeptBatchNorm } from './transform/fold-batchnorm.js';
import { planQuantization, type PlanOptions, type QuantPlan } from './transform/plan.js';
import { biasCorrectionStep, equalizeStep, type RecoveryRecord } from './transform/recovery.js';
import { applyBiasShifts, type BiasShift } from './transform/bias-correction.js';
import { applyRoundings } from './transform/adaround-grid.js';
import { targetOf } from './targets/index.js';
import { targetGraph, targetPlan } from './targets/plan.js';
import { TargetRuleError, targetViolations, type TargetViolation } from './targets/rules.js';

export interface Prepared {
  /** The model as stored (BatchNorm unfolded): what QAT trains. */
  source: Graph;
  /** BatchNorm folded into the convolutions before it: what the plan, simulation and export describe. */
  graph: Graph;
  /** The float model a run compares against: `graph` before bias correction and AdaRound (the same graph without them). */
  floatGraph: Graph;
  folded: FoldRecord[];
  /** The BatchNorms the fold could not take, with why. */
  kept: KeptBatchNorm[];
  plan: QuantPlan;
  /** What CLE and analytic bias correction did (config.recovery); null when the run asks for neither. */
  recovery: RecoveryRecord | null;
}

/** A weight value that is NaN or ±Inf: the first one of a weight tensor. */
export interface NonFiniteWeight {
  layer: string;
  weight: string;
  index: number;
  value: number;
}

export interface PrepareOptions {
  modelName?: string;
  plan?: PlanOptions;
  /** Bias shifts an empirical bias correction found (a stored run's summary): subtracted after the data-free steps. */
  biasShifts?: readonly Pick<BiasShift, 'layer' | 'shift'>[];
  /** AdaRound's choices (a stored run's summary): the kernels rounded as the run rounded them, last. */
  adaround?: readonly { layer: string; rounding: string }[];
}

/** What `prepare` finds, reported: the weights it would refuse, and the plan or the planner's refusal. */
export interface Inspection extends Omit<Prepared, 'plan'> {
  nonFinite: NonFiniteWeight[];
  plan: QuantPlan | null;
  /** Why the planner refused the graph (plan is null). */
  planError: Error | null;
  /** What config.target cannot hold (empty without a target). */
  targetViolations: TargetViolation[];
}

/** Each weight tensor's first NaN or ±Inf, in graph order. */
export function nonFiniteWeights(graph: Graph): NonFiniteWeight[] {
  const out: NonFiniteWeight[] = [];
  for (const node of graph.nodes) {
    if (!('weights' in node)) continue;
    for (const [key, w] of Object.entries(node.weights)) {
      if (!w) continue;
      const bad = w.values.findIndex((v: number) => !Number.isFinite(v));
      if (bad >= 0) out.push({ layer: node.name, weight: key, index: bad, value: w.values[bad]! });
    }
  }
  return out;
}

function nonFiniteMessage(modelName: string, w: NonFiniteWeight): string {
  return `model ${modelName}: weight ${w.layer}/${w.weight} holds ${w.value} at index ${w.index}; fix or retrain the model`;
}

/** Throws naming the layer when a weight holds NaN or ±Inf. */
export function checkFiniteWeights(graph: Graph, modelName: string): void {
  const bad = nonFiniteWeights(graph)[0];
  if (bad) throw new Error(nonFiniteMessage(modelName, bad));
}

export function inspect(model: Uint8Array | Graph, config: RunConfig, opts: PrepareOptions = {}): Inspection {
  const source = model instanceof Uint8Array ? deserializeGraph(model, opts.modelName) : model;
  const nonFinite = nonFiniteWeights(source);
  const { graph: foldedGraph, folded, kept } = foldBatchNorm(source);
  // CLE before the plan (ReLU6 treated as ReLU changes activations), bias correction after it (it quantizes as planned).
  const equalized = config.recovery && nonFinite.length === 0 ? equalizeStep(source, folded, foldedGraph, config.recovery) : null;
  const target = targetOf(config);
  let graph = targetGraph(equalized?.graph ?? foldedGraph, target);
  try {
    const plan = targetPlan(planQuantization(graph, config, opts.plan), graph, target);
    const violations = target ? targetViolations(target, graph, plan, config) : [];
    const floatGraph = graph;
    let recovery: RecoveryRecord | null = null;
    if (equalized) ({ graph, record: recovery } = biasCorrectionStep(graph, plan, config, equalized));
    if (opts.biasShifts?.length) graph = applyBiasShifts(graph, opts.biasShifts);
    if (opts.adaround?.length) graph = applyRoundings(graph, plan, config.estimator, opts.adaround);
    return { source, graph, floatGraph, folded, kept, nonFinite, plan, planError: null, recovery, targetViolations: violations };
  } catch (e) {
    return { source, graph, floatGraph: graph, folded, kept, nonFinite, plan: null, planError: e instanceof Error ? e : new Error(String(e)), recovery: null, targetViolations: [] };
  }
}

export function prepare(model: Uint8Array | Graph, config: RunConfig, opts: PrepareOptions = {}): Prepared {
  const { nonFinite, plan, planError, targetViolations: violations, ...rest } = inspect(model, config, opts);
  if (nonFinite[0]) throw new Error(nonFiniteMessage(opts.modelName ?? rest.source.name, nonFinite[0]));
  if (!plan) throw planError!;
  if (violations[0]) throw new TargetRuleError(violations[0], config.target!);
  return { ...rest, plan };
}
