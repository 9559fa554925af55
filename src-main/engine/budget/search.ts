/**
 * The accuracy-budget search: the smallest model (weight bytes) whose
 * accuracy stays within `maxDrop` of float, over a ladder of per-layer
 * choices (menu.ts). Sensitivity-ordered greedy, then refinement:
 *
 *  1. every layer on the lowest rung; evaluate;
 *  2. while the budget is missed: raise by one rung, among the layers on
 *     the lowest rung still below the top, the most sensitive one (lowest
 *     score in the latest evaluation: the caller's scores, e.g. the layer's
 *     lowest SQNR in dB, or a sensitivity run's); evaluate. So every layer
 *     goes up one rung before any goes up two (float costs 4x 8-bit);
 *  3. once met: try each raised layer one rung lower, least sensitive first,
 *     keeping each change that still meets the budget.
 *
 * Every evaluation is a step the caller stores (the studio: a child PTQ
 * run, shown in Compare). A budget that cannot be met even with every layer
 * at the top rung ends with met = false and the most accurate model found.
 * The evaluator is injected, so this file holds only the search.
 */
import type { Rung } from './menu.js';
import { modelBytes } from './menu.js';

export interface BudgetEvaluation {
  accuracy: number;
  floatAccuracy: number;
  /** Per layer, lower = more sensitive (e.g. lowest SQNR in dB); absent or null: no figure (float, or not measured). */
  scores: ReadonlyMap<string, number | null>;
  /** The caller's handle of this evaluation (the studio: the child run's id). */
  ref: number;
}

export interface BudgetStep {
  index: number;
  phase: 'start' | 'raise' | 'lower';
  /** The layer this step moved, and its rungs (null for the start). */
  layer: string | null;
  from: string | null;
  to: string | null;
  accuracy: number;
  /** floatAccuracy − accuracy, in points of 1 (0.005 = 0.5 pt). */
  drop: number;
  bytes: number;
  meets: boolean;
  /** For a 'lower' step: whether the change was kept. */
  kept: boolean;
  ref: number;
}

export interface BudgetSearchInput {
  /** The layers with a choice, in model order. */
  layers: readonly string[];
  ladder: readonly Rung[];
  /** Kernel and bias parameter counts per layer (for the size). */
  params: ReadonlyMap<string, { kernel: number; bias: number }>;
  /** Largest accepted accuracy drop, as a fraction (0.005 = 0.5 pt). */
  maxDrop: number;
  /** Evaluations at most (the start included). */
  maxSteps: number;
  evaluate(levels: ReadonlyMap<string, number>, change: { layer: string; from: Rung; to: Rung } | null): Promise<BudgetEvaluation>;
  onStep?(step: BudgetStep): void;
  /** Checked between steps; true ends the search (the evaluator cancels its own work). */
  cancelled?(): boolean;
}

export interface BudgetSearchResult {
  met: boolean;
  /** The smallest model meeting the budget, or when none does the most accurate one. */
  best: BudgetStep;
  bestLevels: Map<string, number>;
  steps: BudgetStep[];
  floatAccuracy: number;
  /** Why the search stopped before meeting the budget (null when met). */
  reason: string | null;
}

export class BudgetCancelledError extends Error {
  constructor() {
    super('the accuracy-budget search was cancelled');
    this.name = 'BudgetCancelledError';
  }
}

export async function searchBudget(input: BudgetSearchInput): Promise<BudgetSearchResult> {
  const { ladder, maxDrop } = input;
  if (input.layers.length === 0) throw new Error('no layer to search over: the model has no quantized layer');
  if (!(maxDrop >= 0)) throw new Error(`the accuracy budget must be a drop of 0 or more, got ${maxDrop}`);
  const top = ladder.length - 1;
  const levels = new Map(input.layers.map((l) => [l, 0]));
  const steps: BudgetStep[] = [];
  let floatAccuracy = NaN;
  let best: { step: BudgetStep; levels: Map<string, number> } | null = null;

  const better = (a: BudgetStep, b: BudgetStep) => (a.meets !== b.meets ? a.meets : a.meets ? a.bytes < b.bytes || (a.bytes === b.bytes && a.accuracy > b.accuracy) : a.accuracy > b.accuracy);
  const run = async (phase: BudgetStep['phase'], change: { layer: string; from: number; to: number } | null): Promise<{ step: BudgetStep; scores: ReadonlyMap<string, number | null> }> => {
    if (input.cancelled?.()) throw new BudgetCancelledError();
    const e = await input.evaluate(levels, change && { layer: change.layer, from: ladder[change.from]!, to: ladder[change.to]! });
    if (Number.isNaN(floatAccuracy)) floatAccuracy = e.floatAccuracy;
    const drop = floatAccuracy - e.accuracy;
    // A hair of tolerance: accuracies are counts over a split, the budget a decimal.
    const meets = drop <= maxDrop + 1e-9;
    const step: BudgetStep = {
      index: steps.length,
      phase,
      layer: change?.layer ?? null,
      from: change ? ladder[change.from]!.label : null,
      to: change ? ladder[change.to]!.label : null,
      accuracy: e.accuracy,
      drop,
      bytes: modelBytes(levels, ladder, input.params),
      meets,
      kept: phase !== 'lower' || meets,
      ref: e.ref,
    };
    steps.push(step);
    if (!best || better(step, best.step)) best = { step, levels: new Map(levels) };
    input.onStep?.(step);
    return { step, scores: e.scores };
  };

  let latest = await run('start', null);
  let reason: string | null = null;
  const raised: string[] = [];
  while (!latest.step.meets) {
    if (steps.length >= input.maxSteps) {
      reason = `stopped after ${steps.length} evaluations (the step limit) without meeting the budget`;
      break;
    }
    const score = (l: string) => latest.scores.get(l) ?? Infinity;
    // Lowest rung first, then most sensitive: every layer goes up one rung before any goes up two.
    const candidates = input.layers.filter((l) => levels.get(l)! < top).sort((a, b) => levels.get(a)! - levels.get(b)! || score(a) - score(b));
    const layer = candidates[0];
    if (layer === undefined) {
      reason = `cannot be met: with every layer ${ladder[top]!.label} the drop is still ${(latest.step.drop * 100).toFixed(2)} pt (the model input's quantizer stays)`;
      break;
    }
    const from = levels.get(layer)!;
    levels.set(layer, from + 1);
    if (!raised.includes(layer)) raised.push(layer);
    latest = await run('raise', { layer, from, to: from + 1 });
  }

  if (latest.step.meets) {
    // Refinement: least sensitive first (highest score in the evaluation that met the budget).
    const metScores = latest.scores;
    const order = [...raised].sort((a, b) => (metScores.get(b) ?? Infinity) - (metScores.get(a) ?? Infinity));
    for (const layer of order) {
      if (steps.length >= input.maxSteps) break;
      const from = levels.get(layer)!;
      if (from === 0) continue;
      levels.set(layer, from - 1);
      const tried = await run('lower', { layer, from, to: from - 1 });
      if (!tried.step.meets) levels.set(layer, from);
    }
  }

  const found = best as { step: BudgetStep; levels: Map<string, number> } | null;
  return { met: found!.step.meets, best: found!.step, bestLevels: found!.levels, steps, floatAccuracy, reason: found!.step.meets ? null : reason };
}
