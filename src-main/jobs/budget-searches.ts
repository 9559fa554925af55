/**
 * Accuracy-budget searches (engine/budget/search.ts) over real runs: every
 * evaluation the search asks for is a PTQ run with per-layer overrides,
 * started through the RunManager as a child of the search's first run, so
 * each step is stored, shown in Compare and exportable like any run. The
 * search itself is held here while it works (steps as events); what it found
 * is in the runs: the best one is renamed "… · budget result".
 */
import type { EventBus } from '../api/events.js';
import { ApiError } from '../api/dispatch.js';
import type { BudgetState as BudgetStateRecord, RunDetail } from '../api/contract.js';
import type { RunConfigInput } from '../api/run-config.js';
import { overridesFor, parseMenu, type Rung } from '../engine/budget/menu.js';
import { BudgetCancelledError, searchBudget, type BudgetEvaluation } from '../engine/budget/search.js';
import type { Store } from '../store/index.js';
import type { RunManager } from './run-manager.js';

/** The request as the contract has validated it (config with its defaults; overrides are replaced by the search's). */
export type BudgetRequest = BudgetStateRecord['request'];
/** A search as budget.get returns it. */
export type BudgetState = BudgetStateRecord;

export class BudgetSearches {
  private readonly searches = new Map<number, BudgetState>();
  private readonly cancelled = new Set<number>();
  private readonly running = new Map<number, Promise<void>>();
  private currentRun = new Map<number, number>();
  private nextId = 1;

  constructor(
    private readonly store: Store,
    private readonly runs: RunManager,
    private readonly events: EventBus,
  ) {}

  /** Checks the request and starts the search with its first run; a bad model, dataset or config fails here, before anything is stored. */
  async start(req: BudgetRequest): Promise<BudgetState> {
    let ladder: Rung[];
    try {
      ladder = parseMenu(req.menu);
    } catch (err) {
      throw new ApiError('invalid_input', (err as Error).message);
    }
    if (!(req.maxDropPoints >= 0 && req.maxDropPoints <= 100)) throw new ApiError('invalid_input', `the accuracy budget is a drop in points between 0 and 100, got ${req.maxDropPoints}`);
    if (!Number.isInteger(req.maxSteps) || req.maxSteps < 2) throw new ApiError('invalid_input', `the step limit must be an integer of at least 2, got ${req.maxSteps}`);
    const order = req.sensitivityRunId === undefined ? null : this.sensitivityScores(req.sensitivityRunId, req.config.modelId);
    const id = this.nextId++;
    const state: BudgetState = { id, status: 'running', request: req, ladder, steps: [], rootRunId: null, result: null, error: null };
    const first = await this.launch(state, null, `${budgetLabel(req)} · start · all ${ladder[0]!.label}`);
    this.searches.set(id, state);
    const work = this.work(state, first, order).finally(() => this.running.delete(id));
    this.running.set(id, work);
    return state;
  }

  get(id: number): BudgetState {
    const s = this.searches.get(id);
    if (!s) throw new ApiError('not_found', `accuracy-budget search ${id} does not exist (searches live while the studio runs; their steps are runs)`);
    return s;
  }

  /** Stops the search: the step running is cancelled (stored as cancelled), the steps done stay. */
  cancel(id: number): boolean {
    const s = this.get(id);
    if (s.status !== 'running') return false;
    this.cancelled.add(id);
    const run = this.currentRun.get(id);
    if (run !== undefined) this.runs.cancel(run);
    return true;
  }

  async settled(id: number): Promise<void> {
    await this.running.get(id);
  }

  /** Cancels every search working (the studio is closing). */
  async shutdown(): Promise<void> {
    for (const [id, s] of this.searches) if (s.status === 'running') this.cancel(id);
    await Promise.allSettled([...this.running.values()]);
  }

  /**
   * A sensitivity run's order: each layer's output SQNR with only it quantized
   * (lower = more sensitive; a layer whose output stays exact sorts last).
   */
  private sensitivityScores(runId: number, modelId: number): Map<string, number | null> {
    const run = this.store.runs.get(runId);
    if (!run || run.kind !== 'sensitivity' || run.status !== 'done') throw new ApiError('invalid_input', `run ${runId} is not a finished sensitivity analysis`);
    if (run.config.modelId !== modelId) throw new ApiError('invalid_input', `sensitivity run ${runId} analysed model ${run.config.modelId}, not model ${modelId}`);
    return new Map(this.store.sensitivity.list(runId).map((l) => [l.layer, l.quantizedAlone.sqnr]));
  }

  private async work(state: BudgetState, firstRun: number, order: ReadonlyMap<string, number | null> | null): Promise<void> {
    const { request: req, ladder } = state;
    const label = budgetLabel(req);
    try {
      // The start (every layer on the lowest rung, through the base config itself) names the layers: those its run quantized.
      const first = await this.finish(state, firstRun);
      const layers = quantizedLayers(first.detail);
      let firstUsed = false;
      const result = await searchBudget({
        layers,
        ladder,
        params: layerParams(this.store, first.detail),
        maxDrop: req.maxDropPoints / 100,
        maxSteps: req.maxSteps,
        cancelled: () => this.cancelled.has(state.id),
        onStep: (step) => {
          state.steps.push(step);
          this.events.emit('budget.step', { searchId: state.id, step });
        },
        evaluate: async (levels, change) => {
          const name = `${label} · step ${state.steps.length} · ${change ? `${change.layer} ${change.from.label}→${change.to.label}` : ''}`;
          const e = firstUsed ? (await this.finish(state, await this.launch(state, levels, name))).evaluation : first.evaluation;
          firstUsed = true;
          return order ? { ...e, scores: order } : e;
        },
      });
      const choices = [...result.bestLevels].map(([layer, level]) => ({ layer, choice: ladder[level]!.label }));
      const { bestLevels: _levels, ...rest } = result;
      state.result = { ...rest, choices };
      const best = this.store.runs.get(result.best.ref);
      if (best) {
        this.store.runs.rename(best.id, `${best.name} · budget result${result.met ? '' : ' (budget not met)'}`.slice(0, 200));
        this.events.emit('runs.changed', { id: best.id, status: best.status });
      }
      state.status = 'done';
    } catch (err) {
      if (err instanceof BudgetCancelledError || this.cancelled.has(state.id)) state.status = 'cancelled';
      else {
        state.status = 'failed';
        state.error = err instanceof Error ? err.message : String(err);
      }
    } finally {
      this.cancelled.delete(state.id);
      this.events.emit('budget.finished', { searchId: state.id, status: state.status as 'done' | 'failed' | 'cancelled', error: state.error });
    }
  }

  /** Starts one step as a PTQ run with the overrides of `levels` (null: the start, every layer on the lowest rung); its run id. */
  private async launch(state: BudgetState, levels: ReadonlyMap<string, number> | null, name: string): Promise<number> {
    const { request: req, ladder } = state;
    const low = ladder[0]!;
    // The base config at the lowest rung; each layer elsewhere gets an override.
    const base: RunConfigInput = { ...req.config, weights: { ...req.config.weights, bits: low.weightBits ?? req.config.weights.bits }, activations: { ...req.config.activations, bits: low.activationBits ?? req.config.activations.bits } };
    const overrides = levels ? overridesFor(levels, ladder).filter((o) => o.float || o.weightBits !== low.weightBits || o.activationBits !== low.activationBits) : [];
    const summary = await this.runs.start({ kind: 'ptq', name: name.slice(0, 200), config: { ...base, overrides }, ...(state.rootRunId ? { parentId: state.rootRunId } : {}) });
    state.rootRunId ??= summary.id;
    return summary.id;
  }

  /** Waits for a step's run and reads what the search needs from it. */
  private async finish(state: BudgetState, runId: number): Promise<{ detail: RunDetail; evaluation: BudgetEvaluation }> {
    this.currentRun.set(state.id, runId);
    try {
      await this.runs.settled(runId);
    } finally {
      this.currentRun.delete(state.id);
    }
    const detail = this.store.runs.detail(runId)!;
    if (detail.status === 'cancelled' || this.cancelled.has(state.id)) throw new BudgetCancelledError();
    if (detail.status !== 'done' || detail.quantAccuracy === null || detail.floatAccuracy === null) {
      throw new Error(`step run ${detail.id} ${detail.status}${detail.error ? `: ${detail.error}` : ''}`);
    }
    return { detail, evaluation: { accuracy: detail.quantAccuracy, floatAccuracy: detail.floatAccuracy, scores: layerScores(detail), ref: detail.id } };
  }
}

function budgetLabel(req: BudgetRequest): string {
  return `budget ≤${req.maxDropPoints} pt`;
}

interface LayerLine {
  name: string;
  op: string;
  weightSqnr: number | null;
  activationSqnr: number | null;
}

function lines(detail: RunDetail): LayerLine[] {
  return ((detail.summary as { layers?: LayerLine[] }).layers ?? []).filter((l) => l.op !== 'input');
}

/** The layers a run quantized (the model input's quantizer is not a layer choice). */
export function quantizedLayers(detail: RunDetail): string[] {
  return [...new Set(lines(detail).map((l) => l.name))];
}

/**
 * Sensitivity of each layer in a run: its lowest SQNR (weights or output) in
 * dB, lower = more sensitive. Output SQNR carries the noise of the layers
 * before it, so the greedy tends to raise late layers first; the refinement
 * lowers again those that did not need it.
 */
export function layerScores(detail: RunDetail): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const l of lines(detail)) {
    const xs = [l.weightSqnr, l.activationSqnr].filter((x): x is number => x !== null && Number.isFinite(x));
    const score = xs.length ? Math.min(...xs) : null;
    const prev = out.get(l.name);
    out.set(l.name, prev === undefined || prev === null ? score : score === null ? prev : Math.min(prev, score));
  }
  return out;
}

/** Kernel and bias parameter counts per layer, from the model's stored layers. */
function layerParams(store: Store, detail: RunDetail): Map<string, { kernel: number; bias: number }> {
  const model = store.models.getDetail(detail.config.modelId);
  const size = (shape: number[] | undefined) => (shape ? shape.reduce((a, b) => a * b, 1) : 0);
  const out = new Map<string, { kernel: number; bias: number }>();
  for (const l of model?.layers ?? []) {
    const kernel = size(l.weightShapes['kernel']);
    if (kernel > 0) out.set(l.name, { kernel, bias: size(l.weightShapes['bias']) });
  }
  return out;
}
