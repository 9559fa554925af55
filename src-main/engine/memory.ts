/**
 * The memory budget of a run, and the batch sizes it allows.
 *
 * A native forward pass holds, per sample, at most every node's output of its
 * graph (onnxruntime's planner reuses buffers, so the sum over nodes is an
 * upper bound), once per branch: the evaluation graph has a float and a
 * simulated branch. Batches are as large as the budget allows, up to a cap
 * past which a larger batch no longer runs faster; a run whose single
 * sample does not fit is refused before it starts, naming the figure and
 * the setting to change.
 */
import type { Graph } from './graph/types.js';
import { parameterCount } from './graph/types.js';

export const MEMORY_BUDGET_ENV = 'STUDIO_MEMORY_BUDGET';
/** 1 GiB: a 224x224 MobileNetV2 evaluates in batches of 8 within it, and its process stays under 2 GB. */
export const DEFAULT_MEMORY_BUDGET = 2 ** 30;

export class MemoryBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemoryBudgetError';
  }
}

/** "1.5G", "800M", "2GiB", "65536" (bytes) → bytes; throws naming the text. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) throw new Error(`"${text}" is not a size (e.g. 1.5G, 800M, 65536)`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 2 ** 20) throw new Error(`a memory budget of ${text} is under 1 MiB`);
  return bytes;
}

export interface MemoryBudget {
  bytes: number;
  /** Where it came from: the run's request, $STUDIO_MEMORY_BUDGET, or the default. */
  source: 'request' | 'env' | 'default';
}

export function memoryBudget(requested?: number, env: NodeJS.ProcessEnv = process.env): MemoryBudget {
  if (requested !== undefined) return { bytes: requested, source: 'request' };
  const raw = env[MEMORY_BUDGET_ENV]?.trim();
  if (raw) {
    try {
      return { bytes: parseBytes(raw), source: 'env' };
    } catch (e) {
      throw new Error(`${MEMORY_BUDGET_ENV}=${raw}: ${(e as Error).message}`);
    }
  }
  return { bytes: DEFAULT_MEMORY_BUDGET, source: 'default' };
}

/** Float values one sample produces across every node of the graph (the input included). */
export function activationValuesPerSample(graph: Graph): number {
  return graph.nodes.reduce((sum, n) => sum + n.outputShape.reduce((a, b) => a * b, 1), 0);
}

/** The largest single node output of one sample. */
export function largestActivation(graph: Graph): number {
  return graph.nodes.reduce((m, n) => Math.max(m, n.outputShape.reduce((a, b) => a * b, 1)), 0);
}

export function weightBytes(graph: Graph): number {
  return graph.nodes.reduce((sum, n) => sum + parameterCount(n), 0) * 4;
}

/**
 * Bytes of the largest activation a batch should hold to run fastest: each
 * op of a native pass streams its tensors through memory, and past the
 * caches a larger batch runs slower, not faster. Measured (2 cores, 1 MiB L2
 * each, 16 MiB L3): MobileNetV2 0.35 at 224 (4.8 MB a sample) evaluated 12%
 * faster in batches of 4 than of 14 and calibrated 9% faster in 8 or 4 than
 * in 40; the bundled CNN (0.1 MB) evaluated 8-10% faster in 64 than in 256.
 */
export const CACHE_BATCH_BYTES = 16 * 2 ** 20;
/** Never fewer samples a batch than this for the cache (a batch's fixed costs). */
const CACHE_BATCH_MIN = 4;

/** The batch whose largest activation fills about CACHE_BATCH_BYTES (at least CACHE_BATCH_MIN). */
export function cacheBatch(graph: Graph): number {
  return Math.max(CACHE_BATCH_MIN, Math.floor(CACHE_BATCH_BYTES / (largestActivation(graph) * 4)));
}

export interface BatchPlan {
  batchSize: number;
  bytesPerSample: number;
}

/**
 * The batch size for a graph under a budget: `copies` float copies of every
 * activation per sample (branches), plus `scratch` bytes per sample for the
 * largest tensor's temporaries; the weights (`weightCopies` times) come off
 * the budget first. At most `cap`. `what` names the pass in the refusal.
 */
export function batchSizeFor(
  graph: Graph,
  budget: MemoryBudget,
  opts: { copies: number; scratchPerValue?: number; weightCopies?: number; cap: number; what: string; cacheSized?: boolean },
): BatchPlan {
  const bytesPerSample = activationValuesPerSample(graph) * 4 * opts.copies + largestActivation(graph) * (opts.scratchPerValue ?? 0);
  const free = budget.bytes - weightBytes(graph) * (opts.weightCopies ?? 2);
  const fits = Math.floor(free / bytesPerSample);
  if (fits < 1) {
    throw new MemoryBudgetError(
      `${opts.what} of ${graph.name} needs about ${mib(bytesPerSample)} per sample plus ${mib(weightBytes(graph) * (opts.weightCopies ?? 2))} of weights, ` +
        `more than the memory budget of ${mib(budget.bytes)}; raise it with ${MEMORY_BUDGET_ENV} (e.g. ${MEMORY_BUDGET_ENV}=${Math.ceil((bytesPerSample + budget.bytes - free) / 2 ** 30)}G) or --memory-budget`,
    );
  }
  const cap = opts.cacheSized ? Math.min(opts.cap, cacheBatch(graph)) : opts.cap;
  return { batchSize: Math.min(cap, fits), bytesPerSample };
}

export function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
