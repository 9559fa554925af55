/**
 * Accuracy and loss of one model on onnxruntime-node: the inference graph of
 * onnx/build.ts (the float model, or the studio's fake-quant simulation with
 * the kernels and activation qparams given), its final softmax left out so
 * the loss is taken on logits, as train/evaluate.ts does on TensorFlow.js
 * (and without the output's quantizer, which was calibrated on
 * probabilities). Training's validation, a QAT run's float baseline and a
 * float run's final evaluation run here; native/evaluate-onnx.ts is the
 * side-by-side float/simulated comparison with per-layer statistics.
 *
 * The graph is built and its session opened per call, with the weights as
 * initializers: a validation pass streams hundreds of samples, and building
 * costs a few samples' time (224x224 MobileNetV2 0.35, 2 cores: 0.1 s to
 * build, 0.4 s to open, 0.11 s a sample), while weights fed as graph inputs
 * would keep onnxruntime from folding its constants (kernel layouts).
 * Batches come from the memory budget (one copy of every activation); the
 * callback before each batch is where a cancel lands.
 */
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../onnx/build.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import { logitsOf } from '../graph/runtime.js';
import type { Graph, GraphNode } from '../graph/types.js';
import { batchSizeFor, type MemoryBudget } from '../memory.js';
import { ClassificationAccumulator } from '../metrics.js';
import type { QParamsByName } from '../ptq/sim-hooks.js';
import type { QuantPlan } from '../transform/plan.js';
import { createSession, loadOnnxRuntime } from './session.js';

/** The simulated model: activation quantizers at nodes of the evaluated graph, kernels already fake-quantized (Keras layout, by layer). */
export interface ClassifierSimulation {
  plan: Pick<QuantPlan, 'activations'>;
  qparams: QParamsByName;
  kernels: ReadonlyMap<string, Float32Array>;
}

export interface ClassifierEvaluationInput {
  /** The model with the weights to evaluate. */
  graph: Graph;
  simulation?: ClassifierSimulation;
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  budget: MemoryBudget;
  /** Largest batch wanted (the budget may allow less). */
  maxBatch: number;
  threads?: number;
  /** From {@link classifierModel}, when the caller built it already. */
  model?: Uint8Array;
  /** Called before each batch with the samples done (check for cancel there) and after the last. */
  onBatch?(done: number): void;
}

export interface ClassifierEvaluation {
  accuracy: number;
  /** Mean cross-entropy of the logits per sample. */
  loss: number;
  count: number;
  batchSize: number;
}

/** `graph` giving logits: an output softmax (the output layer's own, or a softmax Activation) becomes linear. */
export function logitsGraph(graph: Graph): Graph {
  if (!logitsOf(graph).appliesSoftmax) return graph;
  const nodes = graph.nodes.map((n) => (n.name === graph.output ? ({ ...n, activation: 'linear' } as GraphNode) : n));
  return { ...graph, nodes };
}

/** The ONNX model evaluateClassifier runs (logits out; the output node's quantizer left out with its softmax). */
export function classifierModel(graph: Graph, simulation?: ClassifierSimulation): Uint8Array {
  const logits = logitsGraph(graph);
  const dropsOutputQuantizer = logits !== graph;
  const activations = (simulation?.plan.activations ?? []).filter((a) => !(dropsOutputQuantizer && a.at === graph.output));
  const plan: QuantPlan = { graph: graph.name, weights: [], activations, float: [], tensors: [] };
  const { model } = buildOnnxGraph({
    graph: logits,
    plan,
    qparams: simulation?.qparams ?? new Map(),
    ...(simulation ? { simulate: { kernels: simulation.kernels } } : {}),
  });
  return encodeOnnx(model);
}

export async function evaluateClassifier(input: ClassifierEvaluationInput): Promise<ClassifierEvaluation> {
  const { part, indices, inputShape } = input;
  if (indices.length === 0) throw new Error('nothing to evaluate: no samples');
  const batchSize = batchSizeFor(input.graph, input.budget, { copies: 1, cap: input.maxBatch, what: 'the evaluation' }).batchSize;
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(input.model ?? classifierModel(input.graph, input.simulation), input.threads ? { threads: input.threads } : {});
  const acc = new ClassificationAccumulator();
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      input.onBatch?.(start);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(part, idx), [idx.length, ...inputShape]) });
      const z = out[ONNX_OUTPUT]!;
      const labels = Int32Array.from(idx, (i) => part.labels[i]!);
      acc.addRows(z.data as Float32Array, idx.length, Number(z.dims[z.dims.length - 1]), labels, { fromLogits: true });
      for (const t of Object.values(out)) t.dispose?.();
    }
  } finally {
    await session.release();
  }
  input.onBatch?.(indices.length);
  return { accuracy: acc.accuracy(), loss: acc.loss(), count: acc.count, batchSize };
}
