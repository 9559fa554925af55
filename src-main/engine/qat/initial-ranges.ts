/**
 * QAT's ranges before the first step: the calibration samples observed at
 * each activation quantizer's hook point of the unfolded model in inference
 * mode (BatchNorm with its moving statistics; the output's quantizer on the
 * probabilities), which is what the TF.js forward pass with the hooks in
 * calibrate mode observes. It runs on onnxruntime: native/calibrate-onnx.ts's
 * probe graph (a ReduceMin / ReduceMax at every hook point) on the unfolded
 * graph, in batches from the memory budget, the batch ranges handed to the
 * quantizers' observers in graph order (a shared Concatenate range is
 * updated at each of its points, as on TF.js). Kernels are observed in JS
 * (W·s, LastValue: qat/simulated-kernels.ts). A batch holding NaN/±Inf goes
 * through the TF.js forward pass, whose observers skip those values exactly;
 * a graph without an ONNX form is observed on TF.js, the reason returned.
 */
import { tf } from '../tfjs.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import { ONNX_INPUT } from '../onnx/build.js';
import type { ForwardHooks, GraphRuntime } from '../graph/runtime.js';
import type { Graph } from '../graph/types.js';
import type { JobContext } from '../job-context.js';
import { batchSizeFor, type MemoryBudget } from '../memory.js';
import { batchIsFinite, buildProbedModel, calibrationRuntimeChoice, probeStats, type ProbedModel } from '../native/calibrate-onnx.js';
import { createSession, loadOnnxRuntime, type RuntimeChoice } from '../native/session.js';
import { MinMaxObserver } from '../quant/observers/index.js';
import type { FoldRecord } from '../transform/fold-batchnorm.js';
import type { QuantPlan } from '../transform/plan.js';
import { unfoldedPlan, type QatQuantizers } from './hooks.js';
import { qatKernelViews } from './simulated-kernels.js';

export interface InitialRangesInput {
  /** The unfolded model `runtime` runs. */
  graph: Graph;
  runtime: GraphRuntime;
  /** The folded graph's plan and its fold records. */
  plan: QuantPlan;
  folded: readonly FoldRecord[];
  quantizers: QatQuantizers;
  /** qatHooks of the run (the TF.js path, and NaN batches). */
  hooks: ForwardHooks;
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  budget: MemoryBudget;
  /** Largest batch (the TF.js path's batch). */
  maxBatch: number;
  ctx: JobContext;
  /** 'tfjs' observes on TF.js ($STUDIO_CALIBRATION_RUNTIME / $STUDIO_RUNTIME by default). */
  requested?: RuntimeChoice;
  env?: NodeJS.ProcessEnv;
}

/** Where the ranges were observed, for the run's summary. */
export interface InitialRangesHow {
  runtime: 'onnxruntime' | 'tfjs';
  samples: number;
  batchSize: number;
  seconds: number;
  /** Batches that held NaN/±Inf and went through TF.js. */
  tfjsBatches?: number;
  nativeSkipped?: string;
}

/** Observes the initial ranges into the quantizers (which must be in calibrate mode). */
export async function observeInitialRanges(input: InitialRangesInput): Promise<InitialRangesHow> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  if (calibrationRuntimeChoice(input.requested, input.env) === 'tfjs') {
    await observeOnTfjs(input, input.indices);
    return { runtime: 'tfjs', samples: input.indices.length, batchSize: input.maxBatch, seconds: seconds() };
  }
  let model: ProbedModel;
  try {
    await loadOnnxRuntime();
    model = buildProbedModel(input.graph, unfoldedPlan(input.plan, input.folded));
  } catch (e) {
    await observeOnTfjs(input, input.indices);
    return { runtime: 'tfjs', samples: input.indices.length, batchSize: input.maxBatch, seconds: seconds(), nativeSkipped: `the graph has no ONNX form: ${(e as Error).message}` };
  }
  const { graph, quantizers: q, part, indices, inputShape } = input;
  observeKernels(input);
  const batchSize = batchSizeFor(graph, input.budget, { copies: 1, cap: input.maxBatch, what: 'the observation of the initial ranges' }).batchSize;
  const hookAt = new Map<string, MinMaxObserver>();
  for (const a of unfoldedPlan(input.plan, input.folded).activations) {
    const obs = q.activations.get(a.sharedWith ?? a.name)!.observer;
    if (!(obs instanceof MinMaxObserver)) throw new Error(`activation quantizer ${a.name} does not keep a min/max range`);
    hookAt.set(a.at, obs);
  }
  // Graph order, as the forward pass observes.
  const order = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const probes = [...model.probes].sort((a, b) => order.get(a.at)! - order.get(b.at)!);
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(model.bytes);
  let tfjsBatches = 0;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      input.ctx.checkCancelled();
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const xs = gatherSamples(part, idx);
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', xs, [idx.length, ...inputShape]) });
      const stats = probes.map((p) => probeStats(out, p));
      if (batchIsFinite(stats)) {
        for (const s of stats) hookAt.get(s.p.at)!.observeBatchRange([idx.length, ...s.p.sampleShape], { min: s.min, max: s.max, nonFinite: false });
      } else {
        tfjsBatches++;
        await observeOnTfjs(input, idx);
      }
    }
  } finally {
    await session.release();
  }
  return { runtime: 'onnxruntime', samples: indices.length, batchSize, seconds: seconds(), ...(tfjsBatches ? { tfjsBatches } : {}) };
}

/** The kernel quantizers take W·s (LastValue), as the kernel hook observes in calibrate mode. */
function observeKernels(input: InitialRangesInput): void {
  const views = qatKernelViews(input.graph, input.plan, input.folded);
  for (const { wq, fq } of input.quantizers.weights.values()) {
    const obs = fq.observer;
    if (!(obs instanceof MinMaxObserver)) throw new Error(`kernel quantizer ${wq.name} does not keep a min/max range`);
    obs.observeBatchRange(wq.view, views.get(wq.layer)!.range);
  }
}

async function observeOnTfjs(input: InitialRangesInput, indices: Int32Array): Promise<void> {
  for (let start = 0; start < indices.length; start += input.maxBatch) {
    input.ctx.checkCancelled();
    const idx = indices.subarray(start, Math.min(indices.length, start + input.maxBatch));
    const x = tf.tensor(gatherSamples(input.part, idx), [idx.length, ...input.inputShape], 'float32');
    input.runtime.apply(x, { hooks: input.hooks }).dispose();
    x.dispose();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
