/**
 * Where a run's float-against-simulated evaluation runs: onnxruntime-node
 * (engine/native/evaluate-onnx.ts) whenever the runtime loads and the
 * folded graph has an ONNX form, else TensorFlow.js (./evaluate.ts) with the
 * reason kept for the run's summary. Never a silent fall to the slower path:
 * asking for onnxruntime where it cannot run fails naming why.
 *
 * Batches come from the memory budget (engine/memory.ts): the evaluation
 * graph holds each activation twice (float and simulated branch) plus the
 * statistics' temporaries of the largest tensor. Per-layer statistics (SQNR,
 * clip rates, histograms) are taken on the first STATS_SAMPLES samples, or
 * fewer when their activations would pass STATS_VALUES (about 20 224x224
 * images of a MobileNetV2, whose every tensor then holds millions of
 * values); accuracy and loss on the whole split. A statistics batch costs
 * about twice a plain one (the float and simulated copies of every probed
 * tensor come back to JS), and a thousand images already give every layer
 * of a Fashion-MNIST CNN tens of millions of values.
 *
 * A run with a target (config.target) simulates the target's arithmetic
 * (engine/targets/simulation.ts), which has only the ONNX form: such a run
 * evaluates on onnxruntime or fails saying why.
 */
import { makeBatches, type BatchSource } from '../../io/data/split.js';
import type { GraphRuntime } from '../graph/runtime.js';
import type { Graph } from '../graph/types.js';
import { activationValuesPerSample, batchSizeFor, type MemoryBudget } from '../memory.js';
import { buildEvaluationModels, evaluateOnnx, type EvaluationModels } from '../native/evaluate-onnx.js';
import { floatKeyBase, type FloatReference } from '../native/float-reference.js';
import { loadOnnxRuntime, runtimeChoiceFromEnv, type RuntimeChoice, type SessionPlacement } from '../native/session.js';
import type { QuantPlan } from '../transform/plan.js';
import type { TargetProfile } from '../targets/profile.js';
import { targetSimulation } from '../targets/simulation.js';
import { compareFloatAndQuant, type Comparison } from './evaluate.js';
import type { QParamsByName } from './sim-hooks.js';

export const EVALUATION_RUNTIME_ENV = 'STUDIO_EVALUATION_RUNTIME';
/** Activation values (all tensors of a sample, times samples) the statistics pass reads at most. */
export const STATS_VALUES = 2e8;
/** Samples the statistics pass reads at most (whole batches: the batch that reaches it is read whole). */
export const STATS_SAMPLES = 1000;
/** How the evaluation graph holds memory per sample (engine/memory.ts batchSizeFor); batches cache-sized. */
export const EVALUATION_MEMORY = { copies: 2, scratchPerValue: 8 * 4, cap: 256, what: 'the evaluation', cacheSized: true } as const;
const TFJS_BATCH = 100;

/** How the evaluation ran, stored in the run summary. */
export interface EvaluationHow {
  runtime: 'onnxruntime' | 'tfjs';
  /** Wall seconds of the evaluation (both models, every statistic). */
  seconds: number;
  batchSize: number;
  /** Samples the per-layer statistics (SQNR, clip rates, histograms) were taken on; accuracy and loss cover every eval sample. */
  statsCount: number;
  threads?: number;
  provider?: string;
  providerFallback?: string;
  memoryBudget: { bytes: number; source: MemoryBudget['source'] };
  /** Why onnxruntime was not used, when it was not asked away. */
  nativeSkipped?: string;
  /** The key of the float figures (native/float-reference.ts): the next run with the same key reuses them. */
  floatKey?: string;
  /** The earlier run whose float figures this run took (its float branch ran on the statistics batches only). */
  floatFrom?: number;
  /** What the simulated branch computes, when a target decides it. */
  simulation?: string;
}

export interface EvaluationInput {
  graph: Graph;
  /** The float reference when it is not `graph` (bias correction shifts only the quantized model's biases), and its runtime for the fallback. */
  floatGraph?: Graph;
  floatRuntime?: GraphRuntime;
  plan: QuantPlan;
  qparams: QParamsByName;
  histogramSpan: ReadonlyMap<string, { lo: number; hi: number }>;
  bins: number;
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  /** The TensorFlow.js runtime of the folded graph, for the fallback. */
  runtime: GraphRuntime;
  /** The run's target: its arithmetic is simulated (native only). */
  target?: TargetProfile | null;
  /**
   * The dataset's library key and earlier runs' float figures (native/float-reference.ts): with both, a
   * run whose float graph, samples and session match an earlier one's takes its float figures.
   */
  floatReuse?: { dataset: string; references: readonly FloatReference[] };
}

export interface EvaluationChoice {
  requested?: RuntimeChoice | undefined;
  budget: MemoryBudget;
  /** The batch the caller already derived from the budget (else derived here). */
  batchSize?: number;
  onBatch(done: number): void;
  env?: NodeJS.ProcessEnv;
}

export async function evaluateOnBestRuntime(input: EvaluationInput, choice: EvaluationChoice): Promise<{ comparison: Comparison; how: EvaluationHow }> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const wanted = choice.requested ?? runtimeChoiceFromEnv(EVALUATION_RUNTIME_ENV, choice.env);
  const budget = { bytes: choice.budget.bytes, source: choice.budget.source };
  let nativeSkipped: string | undefined;
  if (wanted !== 'tfjs') {
    const ready = await nativeEvaluation(input);
    if ('reason' in ready) {
      nativeSkipped = ready.reason;
      if (wanted === 'onnxruntime') throw new Error(`evaluation on onnxruntime was asked for, but ${nativeSkipped}`);
      if (input.target) throw new Error(`target ${input.target.name}: its arithmetic is simulated on onnxruntime only, and ${nativeSkipped}`);
    } else {
      // The budget decides the batch; a graph whose single sample does not fit is refused here, before any batch.
      const batchSize = choice.batchSize ?? batchSizeFor(input.graph, choice.budget, EVALUATION_MEMORY).batchSize;
      const perSample = activationValuesPerSample(input.graph);
      const statsSamples = Math.max(batchSize, Math.min(STATS_SAMPLES, Math.floor(STATS_VALUES / perSample)));
      const fromLogits = !input.runtime.logitsOf.appliesSoftmax;
      const { floatReuse, ...rest } = input;
      const reuse = floatReuse
        ? { base: floatKeyBase({ floatModel: ready.models.floatModel(), dataset: floatReuse.dataset, indices: input.indices, inputShape: input.inputShape, batchSize, fromLogits }), references: floatReuse.references }
        : undefined;
      const c = await evaluateOnnx({ ...rest, models: ready.models, batchSize, statsSamples, fromLogits, onBatch: choice.onBatch, ...(reuse ? { floatReuse: reuse } : {}) });
      const simulation = ready.models.simulation ? { simulation: ready.models.simulation } : {};
      const float = { ...(c.floatKey ? { floatKey: c.floatKey } : {}), ...(c.floatFrom !== undefined ? { floatFrom: c.floatFrom } : {}) };
      return { comparison: c, how: { ...nativeHow(c.batchSize, c.statsCount, c.placement, budget), seconds: seconds(), ...simulation, ...float } };
    }
  }
  if (input.target) throw new Error(`target ${input.target.name}: its arithmetic is simulated on onnxruntime only, and ${EVALUATION_RUNTIME_ENV} (or STUDIO_RUNTIME) asks for tfjs`);
  const comparison = await compareFloatAndQuant(input.runtime, input.plan, input.qparams, makeBatches(input.part, input.indices, TFJS_BATCH, input.inputShape), {
    histogramSpan: input.histogramSpan,
    bins: input.bins,
    onBatch: choice.onBatch,
    ...(input.floatRuntime ? { floatRuntime: input.floatRuntime } : {}),
  });
  const how: EvaluationHow = { runtime: 'tfjs', seconds: seconds(), batchSize: TFJS_BATCH, statsCount: comparison.count, memoryBudget: budget };
  if (nativeSkipped) how.nativeSkipped = nativeSkipped;
  return { comparison, how };
}

/** The evaluation models when onnxruntime can run this graph, else why not. */
async function nativeEvaluation(input: EvaluationInput): Promise<{ models: EvaluationModels } | { reason: string }> {
  try {
    await loadOnnxRuntime();
  } catch (e) {
    return { reason: (e as Error).message };
  }
  try {
    const simulation = input.target ? targetSimulation(input.target, input.graph, input.plan, input.qparams) : undefined;
    return { models: buildEvaluationModels({ ...input, ...(simulation ? { simulation } : {}) }) };
  } catch (e) {
    return { reason: `the graph has no ONNX form: ${(e as Error).message}` };
  }
}

function nativeHow(batchSize: number, statsCount: number, placement: SessionPlacement, budget: EvaluationHow['memoryBudget']): Omit<EvaluationHow, 'seconds'> {
  return {
    runtime: 'onnxruntime',
    batchSize,
    statsCount,
    threads: placement.threads,
    provider: placement.provider,
    ...(placement.fallback ? { providerFallback: placement.fallback } : {}),
    memoryBudget: budget,
  };
}
