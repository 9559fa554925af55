/**
 * A model's inference-mode accuracy and loss on a split (a QAT run's float
 * baseline, a float run's final evaluation): on onnxruntime-node
 * (native/evaluate-classifier.ts) whenever it loads and the graph has an
 * ONNX form, else on TensorFlow.js (./evaluate.ts) with the reason kept for
 * the run's summary. Asking for onnxruntime ($STUDIO_EVALUATION_RUNTIME or
 * the run's choice) where it cannot run fails naming why.
 */
import type { BatchSource } from '../../io/data/split.js';
import type { GraphRuntime } from '../graph/runtime.js';
import type { JobContext } from '../job-context.js';
import type { MemoryBudget } from '../memory.js';
import { classifierModel, evaluateClassifier } from '../native/evaluate-classifier.js';
import { loadOnnxRuntime, runtimeChoiceFromEnv, type RuntimeChoice } from '../native/session.js';
import { EVALUATION_RUNTIME_ENV } from '../ptq/evaluate-runtime.js';
import { evaluate, type EvaluateResult } from './evaluate.js';

/** Where the evaluation ran, for the run's summary. */
export interface ModelEvaluationHow {
  runtime: 'onnxruntime' | 'tfjs';
  seconds: number;
  batchSize: number;
  /** Why onnxruntime was not used, when it was not asked away. */
  nativeSkipped?: string;
}

export interface ModelEvaluationOptions {
  requested?: RuntimeChoice | undefined;
  budget: MemoryBudget;
  maxBatch: number;
  ctx: JobContext;
  /** Progress phase name. */
  phase: string;
  env?: NodeJS.ProcessEnv;
}

/** Evaluates the runtime's model (its current weights) on `indices` of `part`. */
export async function evaluateModel(runtime: GraphRuntime, part: BatchSource, indices: Int32Array, opts: ModelEvaluationOptions): Promise<EvaluateResult & { how: ModelEvaluationHow }> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const wanted = opts.requested ?? runtimeChoiceFromEnv(EVALUATION_RUNTIME_ENV, opts.env);
  const { ctx, phase } = opts;
  let nativeSkipped: string | undefined;
  if (wanted !== 'tfjs') {
    const graph = runtime.toGraph();
    const ready = await nativeModel(graph);
    if ('reason' in ready) {
      nativeSkipped = ready.reason;
      if (wanted === 'onnxruntime') throw new Error(`evaluation on onnxruntime was asked for, but ${nativeSkipped}`);
    } else {
      const inputShape = graph.nodes.find((n) => n.op === 'input')!.outputShape;
      const r = await evaluateClassifier({
        graph,
        model: ready.model,
        part,
        indices,
        inputShape,
        budget: opts.budget,
        maxBatch: opts.maxBatch,
        onBatch: (done) => {
          ctx.checkCancelled();
          ctx.progress(phase, done, indices.length);
        },
      });
      return { accuracy: r.accuracy, loss: r.loss, count: r.count, how: { runtime: 'onnxruntime', seconds: seconds(), batchSize: r.batchSize } };
    }
  }
  const r = await evaluate(runtime, part, indices, { batchSize: opts.maxBatch, ctx, phase });
  return { ...r, how: { runtime: 'tfjs', seconds: seconds(), batchSize: opts.maxBatch, ...(nativeSkipped ? { nativeSkipped } : {}) } };
}

/** The ONNX model when onnxruntime loads and the graph has an ONNX form, else why not. */
async function nativeModel(graph: Parameters<typeof classifierModel>[0]): Promise<{ model: Uint8Array } | { reason: string }> {
  try {
    await loadOnnxRuntime();
  } catch (e) {
    return { reason: (e as Error).message };
  }
  try {
    return { model: classifierModel(graph) };
  } catch (e) {
    return { reason: `the graph has no ONNX form: ${(e as Error).message}` };
  }
}
