/**
 * The histogram estimators (percentile, mse, entropy) on onnxruntime-node.
 * They take two passes over the calibration split, as in the TensorFlow.js
 * path (engine/ptq/calibrate.ts) and TensorRT's entropy calibrator: range,
 * then histograms.
 *
 * Pass 1 (range) is the native calibration's probe graph (./calibrate-onnx.ts):
 * each batch's per-channel min/max over finite values, reduced in the graph,
 * goes to HistogramObserver.observeBatchRange, the same update as
 * observe(x, 0); batches holding NaN/±Inf go through TensorFlow.js there.
 *
 * Pass 2 (this module): once pass 1 is done, each observer's bins are fixed
 * (histogramGrid(), what its first observe(x, 1) would fix), and a second
 * graph is built: the float model with, at every planned activation, the
 * histogram of that tensor on its observer's grid, computed in the graph
 * (./histogram-nodes.ts: bin index in float64 exactly as
 * ChannelHistograms.fill computes it, edge bins taking the values beyond the
 * range), so only the bin vectors (channels × bins int32) and one sum per
 * activation come back to JS, where observeBatchCounts adds the counts.
 *
 * Non-finite values, the rule of pass 1: a batch holding NaN/±Inf anywhere
 * is observed through TensorFlow.js (observePass, pass 1), whose observers
 * skip those values exactly. Those are the batches pass 1 sent there (not
 * run natively again), and any batch whose activation sums come out
 * non-finite here (its counts are discarded). So such a batch is observed by
 * TensorFlow.js in both passes and gives the TensorFlow.js path's result,
 * whatever onnxruntime's kernels make of NaN (they differ: a Dense fed ±Inf
 * makes NaN in other places than TensorFlow.js does).
 *
 * Agreement with TensorFlow.js: bins are identical for identical values;
 * the values themselves are MLAS's float32 convolutions rather than
 * XNNPACK's, so a value within float32 rounding of a bin edge may land in
 * the neighbouring bin (about 1e-4 of the mass on the bundled CNN), and the
 * chosen ranges agree to float32 rounding — but for the rare channel where
 * such a count tips the mse / entropy search to a neighbouring candidate of
 * all but equal score, one bin away (the test measures both).
 *
 * Cost: the binning (a float64 division per value and a single-threaded
 * ScatterElements) costs several times the forward pass; measured on the
 * sample CNN, still faster than returning the activations and binning them
 * with fill() in JS. It holds {@link HISTOGRAM_SCRATCH_PER_VALUE} bytes per
 * value of the largest activation beside the model's tensors, which the
 * run's calibration batch size allows for (ptq/run.ts runBatches).
 *
 * Data flow as pass 1: batches of `batchSize` gathered from the split one at
 * a time, one session built once for the pass, cancel (onBatch throwing)
 * between batches, progress reported as pass 2 of 2.
 */
import { tf } from '../tfjs.js';
import type { Estimator } from '../../api/run-config.js';
import { encodeOnnx, ONNX_INPUT } from '../onnx/build.js';
import { opsetImport, valueInfo, type NodeProto } from '../onnx/proto.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import type { GraphRuntime } from '../graph/runtime.js';
import type { Graph } from '../graph/types.js';
import { observePass, type CalibrateOptions } from '../ptq/calibrate.js';
import { HistogramObserver, type Observer } from '../quant/observers/index.js';
import type { QuantPlan } from '../transform/plan.js';
import { observerHistogram } from './histogram-nodes.js';
import { createSession, loadOnnxRuntime } from './session.js';
import { appendInWatchedOrder, floatGraphWithWatched } from './watched-activations.js';

/** ScatterElements with reduction needs opset 16; Reduce* keep `axes` as an attribute until 18. */
export const HISTOGRAM_OPSET = 17;

/**
 * Bytes per value of the largest activation that the binning holds beside
 * the model's own tensors (a float64 copy, then int32 indices and ones):
 * measured ≈ 21.5 on MobileNetV2 at 224x224 (peak RSS of pass 2 over pass 1),
 * for engine/memory.ts's batchSizeFor.
 */
export const HISTOGRAM_SCRATCH_PER_VALUE = 24;

/** Whether an estimator builds histograms (two passes, the second one this module's). */
export function buildsHistograms(estimator: Pick<Estimator, 'kind'>): boolean {
  return estimator.kind === 'percentile' || estimator.kind === 'mse' || estimator.kind === 'entropy';
}

/** One histogrammed activation: the graph node it watches, its observer, and its outputs (channels · bins int32 counts, Σ). */
export interface HistogramProbe {
  at: string;
  observer: HistogramObserver;
  /** NHWC / [batch, features] shape of one sample (what the observer's axis refers to). */
  sampleShape: number[];
  channels: number;
  bins: number;
  counts: string;
  sum: string;
}

export interface HistogramModel {
  bytes: Uint8Array;
  probes: HistogramProbe[];
}

/**
 * The float model with, at every planned activation, its histogram on the
 * grid of its observer (which must have finished pass 0) as its only outputs.
 */
export function buildHistogramModel(graph: Graph, plan: QuantPlan, atNode: ReadonlyMap<string, Observer>): HistogramModel {
  const { model, watched } = floatGraphWithWatched(graph, plan);
  const g = model.graph!;
  const probes: HistogramProbe[] = [];
  const groups: NodeProto[][] = [];
  for (const { activation: a, value: v, node: n } of watched) {
    const observer = atNode.get(a.at);
    if (!(observer instanceof HistogramObserver)) throw new Error(`activation at ${a.at} has no histogram observer`);
    const grid = observer.histogramGrid([1, ...n.outputShape]);
    // Per-channel observers take the channel axis (prepareNativeCalibration checks it): ONNX's axis 1 of NCHW values.
    const channelAxis = observer.axis === undefined ? null : v.rank === 4 && v.nchw ? 1 : v.rank - 1;
    const nodes: NodeProto[] = [];
    const out = observerHistogram({ nodes, inits: g.initializer, prefix: `hist${probes.length}` }, v.name, v.rank, channelAxis, grid);
    groups.push(nodes);
    probes.push({ at: a.at, observer, sampleShape: n.outputShape, channels: grid.lo.length, bins: grid.bins, ...out });
  }
  appendInWatchedOrder(g, groups);
  g.output = probes.flatMap((p) => [p.counts, p.sum]).map((name) => valueInfo(name));
  model.opsetImport = [opsetImport(HISTOGRAM_OPSET)];
  return { bytes: encodeOnnx(model), probes };
}

export interface HistogramPassInput {
  graph: Graph;
  /** The TensorFlow.js runtime of `graph`, for the batches in `tfjsBatches`. */
  runtime: GraphRuntime;
  plan: QuantPlan;
  /** The activation observers at their hook nodes, pass 0 done. */
  atNode: ReadonlyMap<string, Observer>;
  part: BatchSource;
  indices: Int32Array;
  batchSize: number;
  inputShape: number[];
  /** Passes in the progress reports (pass 2 is reported as index 1). */
  passes: number;
  /** Offsets into `indices` of the batches pass 1 observed through TensorFlow.js. */
  tfjsBatches: ReadonlySet<number>;
  threads?: number;
  provider?: string;
}

/**
 * Pass 2: fills every histogram observer from onnxruntime, batch by batch.
 * Returns the batches that went to TensorFlow.js here and not in pass 1, and
 * the seconds of the batch loop (the session's creation not counted).
 */
export async function histogramPassOnnx(input: HistogramPassInput, opts: CalibrateOptions = {}): Promise<{ fallbackBatches: number; loopSeconds: number }> {
  const { part, indices, batchSize, inputShape, passes } = input;
  const { bytes, probes } = buildHistogramModel(input.graph, input.plan, input.atNode);
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(bytes, { ...(input.threads ? { threads: input.threads } : {}), ...(input.provider ? { provider: input.provider } : {}) });
  let samples = 0;
  let fallbackBatches = 0;
  const loopStarted = performance.now();
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      opts.onBatch?.(1, passes, samples);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const xs = gatherSamples(part, idx);
      let finite = false;
      if (!input.tfjsBatches.has(start)) {
        const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', xs, [idx.length, ...inputShape]) });
        finite = probes.every((p) => Number.isFinite((out[p.sum]!.data as Float32Array)[0]!));
        if (finite) for (const p of probes) p.observer.observeBatchCounts([idx.length, ...p.sampleShape], out[p.counts]!.data as Int32Array, false);
        else fallbackBatches++;
        for (const t of Object.values(out)) t.dispose?.();
      }
      if (!finite) await observePass(input.runtime, input.atNode, 1, [{ x: tf.tensor(xs, [idx.length, ...inputShape], 'float32'), size: idx.length }], undefined, { yieldEachBatch: false });
      samples += idx.length;
    }
  } finally {
    await session.release();
  }
  return { fallbackBatches, loopSeconds: (performance.now() - loopStarted) / 1000 };
}
