/**
 * The verification of an exported file: its runtime's outputs against the
 * studio's simulation of the same export on the same eval samples, compared
 * by engine/eval-samples.ts (accuracy of both, top-1 agreement, largest
 * output difference).
 *
 * The simulation runs on onnxruntime-node (runSimulation): each format
 * builds, once per export, an ONNX graph computing its simulation in float
 * ops (engine/onnx/build.ts with the format's rounding, int32 biases and the
 * target's fixed grids and kernels), and one session of it runs over the
 * samples in batches from the memory budget (engine/native/simulate-onnx.ts).
 * TensorFlow.js (`simulate`, the wasm backend: single-threaded, 4 GB) runs
 * it only where onnxruntime cannot — its binding does not load, or the graph
 * has a layer without an ONNX form (an opaque Keras layer in a TF.js
 * export) — or where STUDIO_EXPORT_SIMULATION_RUNTIME (else STUDIO_RUNTIME)
 * asks for it; the verification records which runtime simulated and why
 * (Verification.simulation). Asking for onnxruntime where it cannot run
 * fails naming why.
 */
import { tf } from '../engine/tfjs.js';
import { GraphRuntime, type ForwardHooks } from '../engine/graph/runtime.js';
import type { Graph } from '../engine/graph/types.js';
import { inputNode } from '../engine/graph/types.js';
import { joinBatches, type EvalSamples } from '../engine/eval-samples.js';
import { memoryBudget } from '../engine/memory.js';
import { NativeSimulationUnavailable, simulateOnnx } from '../engine/native/simulate-onnx.js';
import { runtimeChoiceFromEnv, type RuntimeChoice } from '../engine/native/session.js';
import type { ExportOptions } from './types.js';
import type { SimulationRecord, Verification } from './verification.js';

export type { SimulationRecord, Verification } from './verification.js';

export const SIMULATION_RUNTIME_ENV = 'STUDIO_EXPORT_SIMULATION_RUNTIME';
/** TF.js simulation batches (the wasm backend gains nothing from larger ones). */
const TFJS_BATCH = 100;

/** Runs `graph` with `hooks` over the samples in batches on TensorFlow.js; returns the outputs back to back (with `logits`, a softmax output layer's logits: GraphRuntime's). */
export function simulate(graph: Graph, hooks: ForwardHooks | undefined, samples: EvalSamples, batchSize = TFJS_BATCH, opts: { logits?: boolean } = {}): Float32Array {
  const runtime = new GraphRuntime(graph, { trainable: false });
  const per = samples.inputShape.reduce((a, b) => a * b, 1);
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  try {
    const expected = inputNode(graph).outputShape;
    if (expected.reduce((a, b) => a * b, 1) !== per) throw new Error(`samples of ${per} values do not fit the model input [${expected.join(',')}]`);
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const x = tf.tensor(samples.batch(start, size), [size, ...expected], 'float32');
      const y = runtime.apply(x, { ...(hooks ? { hooks } : {}), ...(opts.logits ? { logits: true } : {}) });
      parts.push(new Float32Array(y.dataSync() as Float32Array));
      x.dispose();
      y.dispose();
      samples.onBatch?.('studio simulation', start + size, n);
    }
  } finally {
    runtime.dispose();
  }
  return joinBatches(parts);
}

/** A simulation's outputs on the samples, back to back, and how it ran. */
export interface SimulatedOutputs {
  outputs: Float32Array;
  record: SimulationRecord;
}

/** A format's simulation of its file, in both runtimes. */
export interface SimulationPlan {
  description: string;
  /**
   * The simulation graph for onnxruntime (built once, for every batch) and the
   * graph its batch size derives from. Throws where the simulation has no ONNX
   * form (a LoweringError naming the layer).
   */
  native(): { model: Uint8Array; graph: Graph };
  /** The same simulation on TensorFlow.js, when onnxruntime cannot run it. */
  tfjs(samples: EvalSamples): Float32Array;
}

export interface SimulationChoice {
  /** Default: $STUDIO_EXPORT_SIMULATION_RUNTIME, else $STUDIO_RUNTIME, else 'auto' (onnxruntime where it can run). */
  runtime?: RuntimeChoice;
  /** Bytes; default $STUDIO_MEMORY_BUDGET, else 1 GiB. */
  memoryBudget?: number;
  env?: NodeJS.ProcessEnv;
}

/** The simulation settings of an export's options. */
export function simulationChoice(opts: ExportOptions): SimulationChoice {
  return { ...(opts.simulationRuntime ? { runtime: opts.simulationRuntime } : {}), ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}) };
}

/**
 * The simulation's outputs on the samples, back to back, and its record:
 * onnxruntime unless it cannot run it (or TF.js is asked for), see the
 * module comment. Progress and cancel go through samples.onBatch
 * ('studio simulation'), on either runtime.
 */
export async function runSimulation(plan: SimulationPlan, samples: EvalSamples, choice: SimulationChoice = {}): Promise<SimulatedOutputs> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const wanted = choice.runtime ?? runtimeChoiceFromEnv(SIMULATION_RUNTIME_ENV, choice.env);
  let reason = `${SIMULATION_RUNTIME_ENV} (or STUDIO_RUNTIME) asks for tfjs`;
  if (wanted !== 'tfjs') {
    try {
      let built: { model: Uint8Array; graph: Graph };
      try {
        built = plan.native();
      } catch (e) {
        throw new NativeSimulationUnavailable(`the simulation has no ONNX form: ${(e as Error).message}`, { cause: e });
      }
      const budget = memoryBudget(choice.memoryBudget, choice.env);
      const run = await simulateOnnx(built.model, samples, { graph: built.graph, budget });
      const record: SimulationRecord = { runtime: 'onnxruntime', description: plan.description, batchSize: run.batchSize, seconds: seconds(), threads: run.placement.threads, provider: run.placement.provider };
      return { outputs: run.outputs, record };
    } catch (e) {
      if (!(e instanceof NativeSimulationUnavailable)) throw e;
      if (wanted === 'onnxruntime') throw new Error(`the export simulation on onnxruntime was asked for, but ${e.message}`, { cause: e });
      reason = e.message;
    }
  }
  const outputs = plan.tfjs(samples);
  return { outputs, record: { runtime: 'tfjs', description: plan.description, reason, batchSize: TFJS_BATCH, seconds: seconds() } };
}
