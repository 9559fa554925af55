/**
 * The simulation of an exported file on onnxruntime-node: one session of the
 * simulation graph (built once per export by the format's simulation,
 * engine/onnx/build.ts with SimulationLowering), run over the eval samples
 * batch by batch, read from the dataset as they go (EvalSamples), the
 * outputs back to back.
 *
 * Session: the CPU provider always (a verification compares numbers, so no
 * GPU provider's arithmetic stands in for the simulation), the native
 * threads (engine/native/session.ts), graph optimization 'extended':
 * constant folding and fusions of plain float ops, which keep each
 * convolution's sums as MLAS's NCHW kernels compute them. 'all' adds the
 * NCHWc layout, whose blocked convolutions sum in another order: measured on
 * a MobileNetV2 at 224x224 (2 cores) it ran the simulations 10-20% faster,
 * but on a seeded MobileNetV3Small (32x32) it moved 0.2% of the TFLite
 * simulation's outputs a step away from the TF.js simulation and cost a
 * point of top-1 agreement with the TFLite interpreter, where 'extended'
 * gave the TF.js simulation's outputs bit for bit. The same
 * kernels are what the verification's onnxruntime pass runs on an ONNX file
 * (optimization 'disabled' or 'basic'), so the QDQ simulation equals it
 * wherever the float ops do.
 *
 * Batches come from the memory budget (engine/memory.ts batchSizeFor): each
 * activation of the simulated graph once per sample, plus the fake quant's
 * temporaries of the largest one, at most SIMULATION_MEMORY.cap (100, the
 * block the runtimes' passes read, so the progress of both passes moves in
 * the same steps). After each batch EvalSamples.onBatch hears the progress
 * and may throw to stop (an export job's cancel); the session is released
 * either way.
 */
import type { EvalSamples } from '../eval-samples.js';
import { joinBatches } from '../eval-samples.js';
import type { Graph } from '../graph/types.js';
import { batchSizeFor, memoryBudget, type MemoryBudget } from '../memory.js';
import { ONNX_INPUT, ONNX_OUTPUT } from '../onnx/build.js';
import { createSession, loadOnnxRuntime, type SessionPlacement } from './session.js';

/** See the module comment. */
export const SIMULATION_OPTIMIZATION = 'extended' as const;

/** Per sample: every activation once, and the fake quant's temporaries (about four more float copies) of the largest one; past 100 samples a batch no longer runs faster on a CPU. */
export const SIMULATION_MEMORY = { copies: 1, scratchPerValue: 4 * 4, cap: 100, what: 'the export simulation' } as const;

export interface NativeSimulationOptions {
  /** The graph the batch size is derived from (the simulated one: lowered for the target where the format lowers it). */
  graph: Graph;
  budget?: MemoryBudget;
  /** Progress stage named to EvalSamples.onBatch. */
  stage?: string;
  threads?: number;
  /** onnxruntime's graph optimization level (default SIMULATION_OPTIMIZATION). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface NativeSimulation {
  outputs: Float32Array;
  batchSize: number;
  placement: SessionPlacement;
  seconds: number;
}

/** onnxruntime could not take the simulation (its binding did not load, or it refused the model): another runtime may. */
export class NativeSimulationUnavailable extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NativeSimulationUnavailable';
  }
}

/**
 * Runs the simulation model (input `input` [batch, …sample shape], output
 * `output`) over every sample. Throws NativeSimulationUnavailable when
 * onnxruntime does not load or refuses the model (the caller decides whether
 * another runtime may take over); a MemoryBudgetError when one sample does
 * not fit the budget; and whatever a batch or onBatch (a cancel) throws.
 */
export async function simulateOnnx(model: Uint8Array, samples: EvalSamples, opts: NativeSimulationOptions): Promise<NativeSimulation> {
  const started = performance.now();
  const per = samples.inputShape.reduce((a, b) => a * b, 1);
  const expected = opts.graph.nodes.find((n) => n.op === 'input')?.outputShape ?? [];
  if (expected.reduce((a, b) => a * b, 1) !== per) throw new Error(`samples of ${per} values do not fit the model input [${expected.join(',')}]`);
  const { batchSize } = batchSizeFor(opts.graph, opts.budget ?? memoryBudget(), SIMULATION_MEMORY);
  let ort: Awaited<ReturnType<typeof loadOnnxRuntime>>;
  let created: Awaited<ReturnType<typeof createSession>>;
  try {
    ort = await loadOnnxRuntime();
    created = await createSession(model, { provider: 'cpu', optimization: opts.optimization ?? SIMULATION_OPTIMIZATION, ...(opts.threads ? { threads: opts.threads } : {}) });
  } catch (e) {
    throw new NativeSimulationUnavailable(`onnxruntime cannot run the simulation: ${String((e as Error)?.message ?? e).split('\n')[0]}`, { cause: e });
  }
  const { session, placement } = created;
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      let x = samples.batch(start, size);
      // The binding reads the whole buffer of a view: hand it a fresh array when the batch is a window of a larger one.
      if (x.byteOffset !== 0 || x.byteLength !== x.buffer.byteLength) x = x.slice();
      if (x.length !== size * per) throw new Error(`batch ${start}..${start + size} holds ${x.length} values, ${size * per} expected`);
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [size, ...expected]) });
      const y = out[ONNX_OUTPUT]!;
      parts.push(Float32Array.from(y.data as Float32Array));
      for (const t of Object.values(out)) t.dispose?.();
      samples.onBatch?.(opts.stage ?? 'studio simulation', start + size, n);
    }
  } finally {
    await session.release();
  }
  return { outputs: joinBatches(parts), batchSize, placement, seconds: (performance.now() - started) / 1000 };
}
