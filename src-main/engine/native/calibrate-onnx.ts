/**
 * Native calibration: the float (BatchNorm-folded) model runs in
 * onnxruntime-node's CPU provider (MLAS kernels, native SIMD, its own thread
 * pool), and each planned activation is reduced to its batch min/max right
 * there, inside the ONNX graph (ReduceMin / ReduceMax, over all axes or all
 * but the channel axis). Only those small vectors come back to JS, where the
 * studio's own MinMaxObservers take them (observeBatchRange): the same
 * minmax / lastvalue / movingaverage updates, in the same batch order, as the
 * TensorFlow.js path. Kernels are observed once, as there.
 *
 * Why: tfjs-node (native TensorFlow) often cannot be installed, and the wasm
 * backend is compute-bound (single-threaded XNNPACK, no FMA), so calibration
 * on wasm tops out well below a native peer. onnxruntime-node is already the
 * studio's ONNX runtime for export verification and loads under Node and
 * Electron (N-API).
 *
 * Exactness: float convolutions in MLAS and XNNPACK round differently, so
 * ranges agree with the TensorFlow.js path to float32 rounding (the test
 * checks 1e-5 relative), not bit for bit; the run records which runtime
 * calibrated it. Non-finite values: ORT's reductions do not skip NaN the way
 * the observers must, so each probe also sums its tensor (a NaN or ±Inf makes
 * the sum non-finite), or, for a ReLU output of a convolution or Dense, bounds
 * it from its inputs' probes (finite-bound.ts), and any batch with a
 * non-finite statistic or a bound near overflow is observed again through the
 * TensorFlow.js runtime, which skips those values exactly.
 *
 * Speed: on the CPU provider, ORT runs convolutions in a blocked layout
 * (NCHWc) and copies a tensor back to NCHW for any consumer that cannot read
 * that layout, ReduceMin/Max/Sum among them: a full copy of every probed
 * activation, which at 224x224 cost about as much as the forward pass itself.
 * A per-tensor probe on an image tensor therefore reads it with ops that take
 * the blocked layout (see {@link blockedLayoutProbe}); only [N, C, 1, 1]
 * results are copied out. Same minimum and maximum, bit for bit. A tensor
 * whose channel count is not a multiple of the block is widened first (see
 * widenedProbe). The probes are appended so that ORT runs each one right
 * after its tensor (watched-activations.ts, appendInWatchedOrder). With a
 * one-pass estimator, the output of a ReLU or ReLU6 skips its minimum and
 * records 0 (`zeroFloor`): the minimum's pass is the dearer half of the probe,
 * and a range with 0 ≤ min gives the same scale and zero point whatever min
 * is (the quantized range always holds 0), so the quantization is unchanged;
 * the recorded minimum is then 0 where TensorFlow.js records the smallest
 * output, which is 0 unless every value of the batch was positive. The
 * histogram estimators bin from the minimum, so they keep it.
 *
 * Histogram estimators (percentile, mse, entropy) take two passes, as on
 * TensorFlow.js: this probe graph is their range pass (observeBatchRange of
 * the HistogramObservers, the same update as observe(x, 0)), then
 * ./calibrate-histogram.ts fills their histograms from a second graph that
 * bins every activation in-graph on the observers' grids.
 *
 * What it takes: per-tensor activations or per-channel on the channel axis,
 * and a graph the ONNX builder can express; otherwise
 * {@link nativeCalibrationUnsupported} says why and the caller falls back.
 */
import { tf } from '../tfjs.js';
import type { Estimator } from '../../api/run-config.js';
import { encodeOnnx, ONNX_INPUT } from '../onnx/build.js';
import { floats, int64s, node as onnxNode, valueInfo, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import type { GraphRuntime } from '../graph/runtime.js';
import type { Graph } from '../graph/types.js';
import { activationObservers, observePass, observeWeights, type Calibration, type CalibrateOptions } from '../ptq/calibrate.js';
import { HistogramObserver, MinMaxObserver, type Observer } from '../quant/observers/index.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import { histogramPassOnnx } from './calibrate-histogram.js';
import { boundHolds, magnitudeBound, type MagnitudeBound } from './finite-bound.js';
import { appendInWatchedOrder, floatGraphWithWatched } from './watched-activations.js';
import { createSession, loadOnnxRuntime, runtimeChoiceFromEnv, type RuntimeChoice, type SessionPlacement } from './session.js';

export const CALIBRATION_RUNTIME_ENV = 'STUDIO_CALIBRATION_RUNTIME';
export type CalibrationRuntimeChoice = RuntimeChoice;

/** The request (payload), else $STUDIO_CALIBRATION_RUNTIME, else $STUDIO_RUNTIME, else 'auto'. */
export function calibrationRuntimeChoice(requested: CalibrationRuntimeChoice | undefined, env: NodeJS.ProcessEnv = process.env): CalibrationRuntimeChoice {
  return requested ?? runtimeChoiceFromEnv(CALIBRATION_RUNTIME_ENV, env);
}

/** The probed model when the native path can calibrate this plan (with any estimator), else why not (the graph is checked by building it). */
export function prepareNativeCalibration(graph: Graph, plan: QuantPlan, estimator: Estimator): { model: ProbedModel } | { reason: string } {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const a of plan.activations) {
    if (a.spec.granularity !== 'per-channel') continue;
    const rank = (byName.get(a.at)?.outputShape.length ?? 0) + 1;
    const axis = a.spec.axis ?? -1;
    if (axis !== -1 && axis !== rank - 1) return { reason: `activation ${a.name} is per-channel on axis ${axis}, not its channel axis` };
  }
  try {
    return { model: buildProbedModel(graph, plan, { zeroFloor: ONE_PASS.has(estimator.kind) }) };
  } catch (e) {
    return { reason: `the float graph has no ONNX form: ${(e as Error).message}` };
  }
}

/** Why the native path cannot calibrate this plan, or null when it can. */
export function nativeCalibrationUnsupported(graph: Graph, plan: QuantPlan, estimator: Estimator): string | null {
  const r = prepareNativeCalibration(graph, plan, estimator);
  return 'reason' in r ? r.reason : null;
}

/** The estimators that observe batch ranges only (no histogram pass over the minimum's grid). */
const ONE_PASS: ReadonlySet<Estimator['kind']> = new Set(['minmax', 'lastvalue', 'movingaverage']);

/** One reduced activation: the graph node whose output it watches, and its graph outputs (`sum`: a sum or sum of means, read only for finiteness). */
export interface Probe {
  at: string;
  /** NHWC / [batch, features] shape of one sample (what the observer's axis refers to). */
  sampleShape: number[];
  perChannel: boolean;
  /** Null: a ReLU / ReLU6 output whose minimum is recorded as 0 (zeroFloor). */
  min: string | null;
  max: string;
  /** Null: finiteness follows from `bound` (finite-bound.ts), no sum is taken. */
  sum: string | null;
  bound?: MagnitudeBound;
}

/** A probe's batch statistics from a run of the probed model (a −0 read as 0: −max(−x) turns a 0 minimum into −0). */
export function probeStats(out: Record<string, { data: unknown }>, p: Probe): ProbeStats {
  const max = out[p.max]!.data as Float32Array;
  const min = p.min === null ? new Float32Array(max.length) : (out[p.min]!.data as Float32Array);
  for (const v of [min, max]) for (let i = 0; i < v.length; i++) if (v[i] === 0) v[i] = 0;
  return { p, min, max, sum: p.sum === null ? null : (out[p.sum]!.data as Float32Array)[0]! };
}

export interface ProbeStats {
  p: Probe;
  min: Float32Array;
  max: Float32Array;
  sum: number | null;
}

/**
 * True when the batch held no NaN or ±Inf at any probed tensor: every sum,
 * minimum and maximum finite, and every magnitude bound (finite-bound.ts) far
 * from overflow. Otherwise the caller observes the batch through TensorFlow.js.
 */
export function batchIsFinite(stats: readonly ProbeStats[]): boolean {
  if (!stats.every((s) => (s.sum === null || Number.isFinite(s.sum)) && allFinite(s.min) && allFinite(s.max))) return false;
  if (!stats.some((s) => s.p.bound)) return true;
  const largest = new Map<string, number>();
  for (const s of stats) {
    let m = 0;
    for (const v of [s.min, s.max]) for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
    largest.set(s.p.at, m);
  }
  return stats.every((s) => !s.p.bound || boundHolds(s.p.bound, largest));
}

export interface ProbedModel {
  /** Serialized ONNX. */
  bytes: Uint8Array;
  probes: Probe[];
}

/** The float model with a minimum, maximum and sum at every planned activation, these its only outputs. */
export function buildProbedModel(graph: Graph, plan: QuantPlan, opts: { zeroFloor?: boolean } = {}): ProbedModel {
  const { model, watched } = floatGraphWithWatched(graph, plan);
  const watchedAt = new Set(watched.map((w) => w.node.name));
  const g = model.graph!;
  const probes: Probe[] = [];
  const groups: NodeProto[][] = [];
  for (const { activation: a, value: v, node: n } of watched) {
    const perChannel = a.spec.granularity === 'per-channel';
    const channelAxis = v.rank === 4 && v.nchw ? 1 : v.rank - 1;
    const axes = perChannel ? Array.from({ length: v.rank }, (_, i) => i).filter((i) => i !== channelAxis) : undefined;
    const p = `probe${probes.length}`;
    const act = 'activation' in n ? n.activation : undefined;
    const floor = opts.zeroFloor === true && !perChannel && (act === 'relu' || act === 'relu6');
    // A ReLU output whose finiteness follows from its inputs' probes takes no sum (finite-bound.ts).
    const bound = floor ? magnitudeBound(graph, a.at, watchedAt) : null;
    const probe: Probe = { at: a.at, sampleShape: n.outputShape, perChannel, min: floor ? null : `${p}/min`, max: `${p}/max`, sum: bound ? null : `${p}/sum`, ...(bound ? { bound } : {}) };
    if (!perChannel && v.rank === 4 && v.nchw) {
      const { nodes, initializers } = blockedLayoutProbe(v.name, n.outputShape.at(-1)!, probe, p);
      groups.push(nodes);
      g.initializer.push(...initializers);
    } else {
      groups.push([
        ...(probe.min !== null ? [onnxNode('ReduceMin', probe.min, [v.name], [probe.min], { keepdims: 0, ...(axes ? { axes } : {}) })] : []),
        onnxNode('ReduceMax', probe.max, [v.name], [probe.max], { keepdims: 0, ...(axes ? { axes } : {}) }),
        ...(probe.sum !== null ? [onnxNode('ReduceSum', probe.sum, [v.name], [probe.sum], { keepdims: 0 })] : []),
      ]);
    }
    probes.push(probe);
  }
  appendInWatchedOrder(g, groups);
  g.output = probes.flatMap((p) => [p.min, p.max, p.sum]).filter((name) => name !== null).map((name) => valueInfo(name));
  return { bytes: encodeOnnx(model), probes };
}

/**
 * A per-tensor probe of an NCHW image tensor `x` of `channels` channels from
 * ops ORT's NCHWc transformer keeps in the blocked layout: the maximum is the
 * largest GlobalMaxPool output; the minimum is −max(GlobalMaxPool(−x)), with
 * −x from a 1×1 depthwise Conv whose weights are −1 (Neg would need NCHW); the
 * finiteness check is the sum of GlobalAveragePool's means (a NaN or ±Inf in
 * x makes it non-finite, as the full sum would).
 */
export function blockedLayoutProbe(x: string, channels: number, out: ProbeOutputs, p: string): { nodes: NodeProto[]; initializers: TensorProto[] } {
  if (channels % CHANNEL_BLOCK !== 0 && channels <= MAX_WIDENED_CHANNELS) return widenedProbe(x, channels, out, p);
  const nodes = [
    onnxNode('GlobalMaxPool', `${p}/channel_max`, [x], [`${p}/channel_max`]),
    onnxNode('ReduceMax', out.max, [`${p}/channel_max`], [out.max], { keepdims: 0 }),
    ...finitenessCheck(x, out.sum, p),
  ];
  if (out.min === null) return { nodes, initializers: [] };
  nodes.push(
    onnxNode('Conv', `${p}/negated`, [x, `${p}/minus_one`], [`${p}/negated`], { group: channels, kernel_shape: [1, 1] }),
    onnxNode('GlobalMaxPool', `${p}/channel_neg_max`, [`${p}/negated`], [`${p}/channel_neg_max`]),
    onnxNode('ReduceMax', `${p}/neg_min`, [`${p}/channel_neg_max`], [`${p}/neg_min`], { keepdims: 0 }),
    onnxNode('Neg', out.min, [`${p}/neg_min`], [out.min]),
  );
  return { nodes, initializers: [floats(`${p}/minus_one`, [channels, 1, 1, 1], new Float32Array(channels).fill(-1))] };
}

type ProbeOutputs = { min: string | null; max: string; sum: string | null };

/** The sum of GlobalAveragePool's means of `x` (non-finite exactly when x holds a NaN or ±Inf), or nothing when the probe takes no sum. */
function finitenessCheck(x: string, sum: string | null, p: string): NodeProto[] {
  if (sum === null) return [];
  return [onnxNode('GlobalAveragePool', `${p}/channel_mean`, [x], [`${p}/channel_mean`]), onnxNode('ReduceSum', sum, [`${p}/channel_mean`], [sum], { keepdims: 0 })];
}

/**
 * MLAS's blocked layout packs channels by 8 (AVX2, NEON) or 16 (AVX-512); ORT
 * runs a pool on it only when the channel count is a multiple of the block,
 * else it copies the whole tensor back to NCHW first.
 */
const CHANNEL_BLOCK = 16;
/** Above this, widening by a dense 1×1 convolution (channels² multiply-adds per pixel) would cost more than the copy it saves. */
const MAX_WIDENED_CHANNELS = 128;

/**
 * The probe of a tensor whose channel count is not a multiple of the block
 * (MobileNetV2's 8-, 24- and 56-channel bottlenecks): a dense 1×1 Conv widens
 * it to a multiple of 16 channels, x's channels then, when the minimum is
 * wanted, −x's (plus copies of channel 0 to fill the block), which the pools
 * read in the blocked layout. Each output channel is one input channel times
 * ±1 plus zeros, so the maximum and minimum are x's bit for bit (a −0 read as
 * 0); the means' sum is non-finite exactly when x holds a NaN or ±Inf.
 */
function widenedProbe(x: string, channels: number, out: ProbeOutputs, p: string): { nodes: NodeProto[]; initializers: TensorProto[] } {
  const negated = out.min === null ? 0 : channels;
  const width = Math.ceil((channels + negated) / CHANNEL_BLOCK) * CHANNEL_BLOCK;
  const positive = width - negated;
  const w = new Float32Array(width * channels);
  for (let r = 0; r < width; r++) {
    if (r < positive) w[r * channels + (r < channels ? r : 0)] = 1;
    else w[r * channels + (r - positive)] = -1;
  }
  const nodes = [
    onnxNode('Conv', `${p}/widened`, [x, `${p}/widen`], [`${p}/widened`], { kernel_shape: [1, 1] }),
    onnxNode('GlobalMaxPool', `${p}/channel_max`, [`${p}/widened`], [`${p}/channel_max`]),
    ...finitenessCheck(`${p}/widened`, out.sum, p),
  ];
  const initializers = [floats(`${p}/widen`, [width, channels, 1, 1], w)];
  if (out.min === null) {
    nodes.push(onnxNode('ReduceMax', out.max, [`${p}/channel_max`], [out.max], { keepdims: 0 }));
    return { nodes, initializers };
  }
  const slice = (name: string, from: number, to: number) => {
    initializers.push(int64s(`${name}/starts`, [from]), int64s(`${name}/ends`, [to]), int64s(`${name}/axes`, [1]));
    return onnxNode('Slice', name, [`${p}/channel_max`, `${name}/starts`, `${name}/ends`, `${name}/axes`], [name]);
  };
  nodes.push(
    slice(`${p}/positive_max`, 0, positive),
    onnxNode('ReduceMax', out.max, [`${p}/positive_max`], [out.max], { keepdims: 0 }),
    slice(`${p}/negated_max`, positive, width),
    onnxNode('ReduceMax', `${p}/neg_min`, [`${p}/negated_max`], [`${p}/neg_min`], { keepdims: 0 }),
    onnxNode('Neg', out.min, [`${p}/neg_min`], [out.min]),
  );
  return { nodes, initializers };
}

export interface NativeCalibrationInput {
  /** The float (BatchNorm-folded) graph that `runtime` runs. */
  graph: Graph;
  runtime: GraphRuntime;
  plan: QuantPlan;
  estimator: Estimator;
  part: BatchSource;
  indices: Int32Array;
  batchSize: number;
  inputShape: number[];
  threads?: number;
  /** From {@link prepareNativeCalibration}, when the caller already built it. */
  model?: ProbedModel;
  /** Execution provider (default $STUDIO_EXECUTION_PROVIDER, else cpu). */
  provider?: string;
}

export async function calibrateOnnx(input: NativeCalibrationInput, opts: CalibrateOptions = {}): Promise<Calibration & { threads: number; fallbackBatches: number; placement: SessionPlacement }> {
  const started = performance.now();
  const { graph, runtime, plan, estimator, part, indices, batchSize, inputShape } = input;
  const prepared = input.model ? { model: input.model } : prepareNativeCalibration(graph, plan, estimator);
  if ('reason' in prepared) throw new Error(`native calibration is not possible: ${prepared.reason}`);
  if (indices.length === 0) throw new Error('the calibration split is empty: nothing to calibrate on');
  const { observers, atNode, passes } = activationObservers(plan, estimator);
  const { bytes, probes } = prepared.model;
  const ort = await loadOnnxRuntime();
  const { session, placement } = await createSession(bytes, { ...(input.threads ? { threads: input.threads } : {}), ...(input.provider ? { provider: input.provider } : {}) });
  const threads = placement.threads;
  let samples = 0;
  let fallbackBatches = 0;
  const tfjsBatches = new Set<number>();
  const loopStarted = performance.now();
  let loopSeconds = 0;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      opts.onBatch?.(0, passes, samples);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const xs = gatherSamples(part, idx);
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', xs, [idx.length, ...inputShape]) });
      const stats = probes.map((p) => probeStats(out, p));
      if (batchIsFinite(stats)) {
        for (const s of stats) {
          const obs = atNode.get(s.p.at);
          if (!(obs instanceof MinMaxObserver || obs instanceof HistogramObserver)) throw new Error(`activation at ${s.p.at} has no observer that takes batch ranges`);
          obs.observeBatchRange([idx.length, ...s.p.sampleShape], { min: s.min, max: s.max, nonFinite: false });
        }
      } else {
        // NaN/±Inf somewhere: this batch goes through the TensorFlow.js runtime, whose observers skip them exactly.
        fallbackBatches++;
        tfjsBatches.add(start);
        await observePass(runtime, atNode, 0, [{ x: tf.tensor(xs, [idx.length, ...inputShape], 'float32'), size: idx.length }], undefined, { yieldEachBatch: false });
      }
      samples += idx.length;
    }
    loopSeconds = (performance.now() - loopStarted) / 1000;
  } finally {
    await session.release();
  }
  if (passes > 1) {
    // Histogram estimators: pass 2 fills the histograms on the ranges just observed (the batches above that went to TensorFlow.js go there again).
    const pass2 = { graph, runtime, plan, atNode, part, indices, batchSize, inputShape, passes, tfjsBatches, ...(input.threads ? { threads: input.threads } : {}), ...(input.provider ? { provider: input.provider } : {}) };
    const second = await histogramPassOnnx(pass2, opts);
    fallbackBatches += second.fallbackBatches;
    loopSeconds += second.loopSeconds;
  }
  opts.onBatch?.(passes - 1, passes, samples);
  const qparams = new Map<string, QParams>();
  for (const a of plan.activations) qparams.set(a.name, observers.get(a.name)!.qparams());
  const weightObservers: Map<string, Observer> = observeWeights(runtime, plan, estimator, qparams);
  return { qparams, observers, weightObservers, samples, seconds: (performance.now() - started) / 1000, loopSeconds, threads, fallbackBatches, placement };
}

function allFinite(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return false;
  return true;
}
