/**
 * A PTQ run from start to stored result:
 *   read model → check weights → fold BatchNorm → [CLE] → plan → [bias
 *   correction, analytic or on the calibration split | AdaRound on the
 *   calibration split] → calibrate on the
 *   calibration split → simulate the quantized model on the eval split
 *   against the float model → records (tensors, channels, histograms).
 * Everything is checked before the first batch (shapes, labels, NaN weights,
 * empty splits), so a bad input fails fast and nothing is half-written.
 */
import type { Estimator, RunConfig } from '../../api/run-config.js';
import type { Histogram, RunResults, TensorResult } from '../results.js';
import type { JobContext } from '../job-context.js';
import { backendInfo, type BackendName } from '../backend.js';
import { prepare } from '../prepare.js';
import { GraphRuntime } from '../graph/runtime.js';
import { inputNode, type Graph, type WeightedNode } from '../graph/types.js';
import { SqnrAccumulator, ClipCounter, HistogramAccumulator } from '../metrics.js';
import type { QuantPlan } from '../transform/plan.js';
import type { FoldRecord } from '../transform/fold-batchnorm.js';
import { loadDataset, sampleSplit, makeBatches, checkFitsModel, type LoadedDataset } from '../../io/data/dataset.js';
import { calibrate, type Calibration, type CalibrateOptions } from './calibrate.js';
import { calibrateOnnx, calibrationRuntimeChoice, prepareNativeCalibration, type CalibrationRuntimeChoice } from '../native/calibrate-onnx.js';
import { buildsHistograms, HISTOGRAM_SCRATCH_PER_VALUE } from '../native/calibrate-histogram.js';
import { loadOnnxRuntime, type RuntimeChoice } from '../native/session.js';
import { calibrateParallel, calibrationWorkers, canCalibrateInParallel } from '../parallel/calibrate-parallel.js';
import { countsWithEdges, type Comparison } from './evaluate.js';
import { EVALUATION_MEMORY, evaluateOnBestRuntime } from './evaluate-runtime.js';
import { batchSizeFor, cacheBatch, memoryBudget, mib, type MemoryBudget } from '../memory.js';
import type { Observer } from '../quant/observers/index.js';
import type { QParams } from '../quant/qparams.js';
import { fakeQuantValues } from '../quant/fake-quant-values.js';
import { histogramRecord, tensorRecord, finiteOrNull } from './records.js';
import type { RecoveryRecord } from '../transform/recovery.js';
import { empiricalBiasCorrection } from '../transform/empirical-bias-correction.js';
import { adaroundProblem, isEmpirical } from '../../api/run-config.js';
import { adaround } from '../transform/adaround.js';
import { kernelObserver } from '../transform/adaround-grid.js';
import { nativeThreads } from '../native/session.js';
import type { FloatReference } from '../native/float-reference.js';
import { targetOf } from '../targets/index.js';
import { fixedGridQParams } from '../targets/plan.js';

export interface PtqPayload {
  config: RunConfig;
  modelName: string;
  model: Uint8Array;
  /** `sha256`: the dataset's library key (content and preprocessing), which lets the run reuse earlier float figures. */
  dataset: { name?: string; path: string; format: string; preprocessing: Record<string, unknown>; sha256?: string };
  /** Earlier runs' float figures of this model (native/float-reference.ts), newest first. */
  floatReferences?: FloatReference[];
  /**
   * Calibration helper workers (see engine/parallel): default
   * $STUDIO_CALIBRATION_WORKERS, else min(2, cores); 1 = in this thread.
   * Order-dependent estimators (lastvalue, movingaverage) always run here.
   */
  calibrationWorkers?: number;
  /**
   * Which runtime runs the float model during calibration (engine/native):
   * default $STUDIO_CALIBRATION_RUNTIME, else 'auto' = onnxruntime-node when
   * it loads and the plan suits it, else TensorFlow.js.
   */
  calibrationRuntime?: CalibrationRuntimeChoice;
  /** Which runtime evaluates float and simulated models (engine/native/evaluate-onnx): default $STUDIO_EVALUATION_RUNTIME, else $STUDIO_RUNTIME, else 'auto'. */
  evaluationRuntime?: RuntimeChoice;
  /** Bytes the run's native passes may hold (engine/memory.ts): default $STUDIO_MEMORY_BUDGET, else 1 GiB. */
  memoryBudget?: number;
}

/** Calibration batch when the memory budget allows it (lastvalue and movingaverage depend on it). */
export const BATCH_SIZE = 100;

export interface RunBatches {
  budget: MemoryBudget;
  calibration: number;
  /** The budget, not the cache (engine/memory.ts cacheBatch), made the calibration batch smaller than BATCH_SIZE. */
  calibrationBudgetLimited: boolean;
  evaluation: number;
}

/**
 * Batch sizes of a run's native passes under the budget: calibration holds
 * each activation once (with a histogram estimator, plus the binning
 * temporaries of the largest one: native/calibrate-histogram.ts), evaluation
 * twice (float and simulated) plus the statistics' temporaries. Throws a
 * MemoryBudgetError (figure and setting) when one sample does not fit.
 */
export function runBatches(graph: Graph, budget: MemoryBudget, estimator?: Estimator): RunBatches {
  const evaluation = batchSizeFor(graph, budget, EVALUATION_MEMORY).batchSize;
  const scratchPerValue = estimator && buildsHistograms(estimator) ? HISTOGRAM_SCRATCH_PER_VALUE : 0;
  const byBudget = batchSizeFor(graph, budget, { copies: 1, scratchPerValue, cap: BATCH_SIZE, what: 'the calibration' }).batchSize;
  // Cache-sized batches only where the batch size does not change the ranges (not lastvalue / movingaverage).
  const cacheSized = !estimator || (estimator.kind !== 'lastvalue' && estimator.kind !== 'movingaverage');
  return { budget, calibration: cacheSized ? Math.min(byBudget, cacheBatch(graph)) : byBudget, calibrationBudgetLimited: byBudget < BATCH_SIZE, evaluation };
}
export const HISTOGRAM_BINS = 256;

export { checkFiniteWeights } from '../prepare.js';

export interface PreparedPtq {
  /** Batch sizes from the memory budget (see engine/memory.ts). */
  batches: RunBatches;
  graph: Graph;
  /** The float reference: graph before bias correction (see prepare.ts). */
  floatGraph: Graph;
  folded: FoldRecord[];
  plan: QuantPlan;
  data: LoadedDataset;
  calibIdx: Int32Array;
  evalIdx: Int32Array;
  notes: string[];
  /** What CLE / analytic bias correction did (empirical: filled in by runPtq); null without config.recovery. */
  recovery: RecoveryRecord | null;
  /**
   * Where the weight ranges come from and what the weight SQNR compares against: the graph before AdaRound
   * (whose rounded kernels' own min/max would move the grid); null: `graph`.
   */
  kernelReference: Graph | null;
}

/** Everything that can fail on bad input, before any work: a model too large for the memory budget too. */
export function preparePtq(payload: PtqPayload): PreparedPtq {
  const { config } = payload;
  const { graph, floatGraph, folded, plan, recovery } = prepare(payload.model, config, { modelName: payload.modelName });
  const batches = runBatches(graph, memoryBudget(payload.memoryBudget), config.estimator);
  const data = loadDataset(payload.dataset);
  const logits = graph.nodes.find((n) => n.name === graph.output)!.outputShape;
  const fit = checkFitsModel(data, inputNode(graph).outputShape, logits[logits.length - 1]!);
  const notes = [...data.notes];
  if (fit.reshape) notes.push(`images [${fit.from.join(',')}] are reshaped to the model input [${fit.to.join(',')}]`);
  const split = (what: string, part: LoadedDataset['parts']['train'], count: number, seed: number) => {
    const idx = sampleSplit(count, part.count, seed, part.imagesFile);
    if (idx.clipped) notes.push(`${what} split asked for ${count} samples; the dataset has ${part.count}, all used`);
    return idx;
  };
  const calibIdx = split('calibration', data.parts.train, config.calibration.count, config.calibration.seed);
  const evalIdx = split('eval', data.parts.test, config.eval.count, config.eval.seed);
  if (batches.calibrationBudgetLimited) {
    notes.push(`calibration in batches of ${batches.calibration} (not ${BATCH_SIZE}) to stay within the memory budget of ${mib(batches.budget.bytes)}; lastvalue and movingaverage ranges depend on the batch size`);
  }
  if (config.recovery?.relu6 === 'as-relu' && recovery?.cle?.relu6Replaced.length) {
    notes.push(`CLE replaced ReLU6 by ReLU at ${recovery.cle.relu6Replaced.join(', ')}: the float reference is that model`);
  }
  const adaroundRefusal = adaroundProblem({ recovery: config.recovery, calibration: { ...config.calibration, count: calibIdx.length } });
  if (adaroundRefusal) throw new Error(adaroundRefusal);
  return { batches, graph, floatGraph, folded, plan, data, calibIdx, evalIdx, notes, recovery, kernelReference: null };
}

export async function runPtq(payload: PtqPayload, ctx: JobContext): Promise<RunResults> {
  const { config } = payload;
  const prep = preparePtq(payload);
  if (isEmpirical(config.recovery?.biasCorrection)) await correctBiasesOnCalibration(prep, config, ctx);
  if (config.recovery?.adaround) await adaroundOnCalibration(prep, config, ctx);
  const { graph, plan, data } = prep;
  const inputShape = inputNode(graph).outputShape;
  const runtime = new GraphRuntime(graph, { trainable: false });
  // Bias correction changes only the quantized model: the float reference keeps the model's own biases.
  const floatRuntime = prep.floatGraph !== graph ? new GraphRuntime(prep.floatGraph, { trainable: false }) : undefined;
  try {
    const calibTotal = prep.calibIdx.length;
    const backend = backendInfo();
    const calibrateOpts = {
      onBatch(pass: number, passes: number, done: number) {
        ctx.checkCancelled();
        ctx.progress('calibrate', pass * calibTotal + done, passes * calibTotal, passes > 1 ? `pass ${pass + 1} of ${passes}` : undefined);
      },
    };
    const { calibration, how } = await calibrateOnBestRuntime(payload, prep, runtime, backend.name, calibrateOpts);
    if (prep.kernelReference) pinWeightRanges(prep.kernelReference, plan, config.estimator, calibration);
    // A target's fixed output grids (TFLite's softmax / logistic / tanh…) replace what calibration saw (targets/plan.ts).
    for (const [name, qp] of fixedGridQParams(plan)) calibration.qparams.set(name, qp);

    // Histogram span per activation: the calibration envelope of its observer.
    const span = new Map<string, { lo: number; hi: number }>();
    for (const [name, obs] of calibration.observers) {
      const r = obs.range();
      span.set(name, { lo: Math.min(...r.min), hi: Math.max(...r.max) });
    }
    const evalTotal = prep.evalIdx.length;
    const onBatch = (done: number) => {
      ctx.checkCancelled();
      ctx.progress('evaluate', done, evalTotal);
    };
    const { comparison, how: evaluationHow } = await evaluateOnBestRuntime(
      {
        graph,
        plan,
        qparams: calibration.qparams,
        histogramSpan: span,
        bins: HISTOGRAM_BINS,
        part: data.parts.test,
        indices: prep.evalIdx,
        inputShape,
        runtime,
        target: targetOf(config),
        ...(floatRuntime ? { floatGraph: prep.floatGraph, floatRuntime } : {}),
        ...(payload.dataset.sha256 ? { floatReuse: { dataset: payload.dataset.sha256, references: payload.floatReferences ?? [] } } : {}),
      },
      { requested: payload.evaluationRuntime, budget: prep.batches.budget, batchSize: prep.batches.evaluation, onBatch },
    );
    ctx.progress('evaluate', evalTotal, evalTotal);

    const { tensors, histograms, layers } = buildRecords(runtime, graph, plan, calibration.qparams, calibration.weightObservers, calibration.observers, comparison, prep.kernelReference ?? undefined);
    return {
      floatAccuracy: comparison.float.accuracy,
      floatLoss: comparison.float.loss,
      quantAccuracy: comparison.quant.accuracy,
      quantLoss: comparison.quant.loss,
      tensors,
      histograms,
      summary: {
        backend: backend.name,
        calibration: {
          count: calibration.samples,
          seconds: calibration.seconds,
          samplesPerSecond: calibration.samples / Math.max(calibration.seconds, 1e-9),
          ...(calibration.loopSeconds !== undefined ? { loopSeconds: calibration.loopSeconds, loopSamplesPerSecond: calibration.samples / Math.max(calibration.loopSeconds, 1e-9) } : {}),
          estimator: config.estimator.kind,
          ...how,
        },
        eval: { count: comparison.count },
        evaluation: evaluationHow,
        folded: prep.folded,
        float: plan.float,
        layers,
        notes: prep.notes,
        ...(prep.recovery ? { recovery: prep.recovery } : {}),
        nonFinite: [...calibration.observers.entries()].filter(([, o]) => o.sawNonFinite).map(([n]) => n),
      },
    };
  } finally {
    runtime.dispose();
    floatRuntime?.dispose();
  }
}

/**
 * Empirical bias correction on the calibration split (transform/empirical-bias-correction.ts):
 * prep's graph gets the corrected biases and its recovery record the shifts.
 */
async function correctBiasesOnCalibration(prep: PreparedPtq, config: RunConfig, ctx: JobContext): Promise<void> {
  const inputShape = inputNode(prep.graph).outputShape;
  const total = prep.calibIdx.length;
  function* batches() {
    for (const b of makeBatches(prep.data.parts.train, prep.calibIdx, prep.batches.calibration, inputShape)) {
      b.y.dispose();
      yield { x: b.x, size: b.size };
    }
  }
  let done = 0;
  let current = '';
  const kind = config.recovery!.biasCorrection === 'empirical-float' ? 'empirical-float' : 'empirical';
  const corrected = await empiricalBiasCorrection(prep.graph, prep.plan, config.estimator, batches, {
    reference: kind === 'empirical-float' ? 'float-model' : 'layer',
    // 'empirical-float' reads the float model's means in one pass first: one pass more than layers.
    onBatch(layer, passesDone, passes) {
      ctx.checkCancelled();
      if (layer !== current) [current, done] = [layer, 0];
      ctx.progress('bias-correction', passesDone * total + done, passes * total, `${kind === 'empirical-float' ? 'pass' : 'layer'} ${passesDone + 1} of ${passes}: ${layer}`);
      done += prep.batches.calibration;
    },
  });
  prep.graph = corrected.graph;
  prep.recovery = { cle: prep.recovery?.cle ?? null, highBiasAbsorption: prep.recovery?.highBiasAbsorption ?? null, biasCorrection: { kind, layers: corrected.shifts, skipped: [] } };
}

/**
 * AdaRound on the calibration split (transform/adaround.ts): prep's graph gets
 * the rounded kernels, its recovery record what AdaRound did, and
 * kernelReference the graph before it (the weight grid's source).
 */
async function adaroundOnCalibration(prep: PreparedPtq, config: RunConfig, ctx: JobContext): Promise<void> {
  const options = config.recovery!.adaround!;
  const data = { part: prep.data.parts.train, indices: prep.calibIdx, readBatch: prep.batches.calibration, seed: config.calibration.seed, budgetBytes: prep.batches.budget.bytes };
  const steps = prep.plan.weights.length * options.iterations;
  let last = 0;
  const r = await adaround(prep.graph, prep.plan, config.estimator, options, data, {
    onStep(layer, layersDone, layers, step, iterations) {
      ctx.checkCancelled();
      // Progress at most every 100 ms (a step of a small layer takes well under a millisecond).
      const now = performance.now();
      if (now - last < 100 && step > 0) return;
      last = now;
      ctx.progress('adaround', layersDone * iterations + step, steps, `layer ${layersDone + 1} of ${layers}: ${layer}`);
    },
    threads: nativeThreads(),
  });
  prep.kernelReference = prep.graph;
  prep.graph = r.graph;
  prep.recovery = { cle: prep.recovery?.cle ?? null, highBiasAbsorption: prep.recovery?.highBiasAbsorption ?? null, biasCorrection: prep.recovery?.biasCorrection ?? null, adaround: r.record };
}

/** The weight qparams and observers of the kernels before AdaRound in place of those the calibration took from the rounded ones. */
function pinWeightRanges(reference: Graph, plan: QuantPlan, estimator: Estimator, calibration: Calibration): void {
  for (const wq of plan.weights) {
    const node = reference.nodes.find((n) => n.name === wq.layer) as WeightedNode;
    const obs = kernelObserver(node, wq, estimator);
    calibration.weightObservers.set(wq.name, obs);
    calibration.qparams.set(wq.name, obs.qparams());
  }
}

/** How the calibration ran, stored in the run summary. */
export interface CalibrationHow {
  /** 'onnxruntime' (native, engine/native) or 'tfjs' (the TensorFlow.js backend). */
  runtime: 'onnxruntime' | 'tfjs';
  /** TensorFlow.js worker threads (tfjs) or onnxruntime intra-op threads. */
  workers: number;
  batchSize: number;
  /** Why the native runtime was not used, when it was not asked away. */
  nativeSkipped?: string;
  /** Batches with NaN/±Inf that the native path handed to TensorFlow.js (in both passes, for the histogram estimators). */
  fallbackBatches?: number;
}

/**
 * Native onnxruntime calibration when chosen (or 'auto') and possible, else
 * TensorFlow.js: data-parallel workers for order-free estimators, serial otherwise.
 */
export async function calibrateOnBestRuntime(
  payload: PtqPayload,
  prep: PreparedPtq,
  runtime: GraphRuntime,
  backend: BackendName,
  opts: CalibrateOptions,
): Promise<{ calibration: Calibration; how: CalibrationHow }> {
  const { config } = payload;
  const { graph, plan, data } = prep;
  const inputShape = inputNode(graph).outputShape;
  const choice = calibrationRuntimeChoice(payload.calibrationRuntime);
  let nativeSkipped: string | undefined;
  if (choice !== 'tfjs') {
    const prepared = prepareNativeCalibration(graph, plan, config.estimator);
    if ('reason' in prepared) nativeSkipped = prepared.reason;
    else {
      try {
        await loadOnnxRuntime();
      } catch (e) {
        nativeSkipped = (e as Error).message;
      }
    }
    if (nativeSkipped && choice === 'onnxruntime') throw new Error(`calibration on onnxruntime was asked for, but ${nativeSkipped}`);
    if ('model' in prepared && !nativeSkipped) {
      const input = { graph, runtime, plan, estimator: config.estimator, part: data.parts.train, indices: prep.calibIdx, batchSize: prep.batches.calibration, inputShape, model: prepared.model };
      const c = await calibrateOnnx(input, opts);
      return { calibration: c, how: { runtime: 'onnxruntime', workers: c.threads, batchSize: prep.batches.calibration, fallbackBatches: c.fallbackBatches } };
    }
  }
  const calibTotal = prep.calibIdx.length;
  const workers = calibrationWorkers(payload.calibrationWorkers, backend);
  const parallel = workers > 1 && canCalibrateInParallel(config.estimator) && calibTotal > prep.batches.calibration;
  const calibration = parallel
    ? await calibrateParallel(
        { graph, runtime, plan, estimator: config.estimator, part: data.parts.train, indices: prep.calibIdx, batchSize: prep.batches.calibration, inputShape, workers, backend },
        opts,
      )
    : await calibrate(runtime, plan, config.estimator, () => makeBatches(data.parts.train, prep.calibIdx, prep.batches.calibration, inputShape), opts);
  const how: CalibrationHow = { runtime: 'tfjs', workers: parallel ? Math.min(workers, Math.ceil(calibTotal / prep.batches.calibration)) : 1, batchSize: prep.batches.calibration };
  if (nativeSkipped) how.nativeSkipped = nativeSkipped;
  return { calibration, how };
}

export interface LayerLine {
  name: string;
  op: string;
  weightSqnr: number | null;
  activationSqnr: number | null;
  clipRate: number | null;
  channels: number;
}

/**
 * The stored records of a quantized model (PTQ or after QAT): weight rows with
 * SQNR of the fake-quantized kernel against the float one, activation rows
 * from the float-vs-quantized comparison, histograms, and one line per layer.
 */
export function buildRecords(
  runtime: GraphRuntime,
  graph: Graph,
  plan: QuantPlan,
  qparams: ReadonlyMap<string, QParams>,
  weightObservers: ReadonlyMap<string, Observer>,
  activationObservers: ReadonlyMap<string, Observer>,
  comparison: Comparison,
  /** The graph whose kernels the weight SQNR, clip rate and histogram measure (before AdaRound); default the runtime's. */
  kernelReference?: Graph,
): { tensors: TensorResult[]; histograms: Histogram[]; layers: LayerLine[] } {
    const tensors: TensorResult[] = [];
    const histograms: Histogram[] = [];
    const layers: LayerLine[] = [];
    const kernels = new Map(runtime.weightVariables().filter((w) => w.weight === 'kernel').map((w) => [w.node, w.variable]));
    const weightStats = new Map<string, { sqnr: number; perChannelSqnr: Float32Array | null; clipRate: number }>();
    for (const wq of plan.weights) {
      const kernel = kernels.get(wq.layer)!;
      const qp = qparams.get(wq.name)!;
      const obs = weightObservers.get(wq.name)!;
      // The kernel on its quantization view and its fake quant, in plain JS (the TF.js op's bits).
      const own = kernel.dataSync() as Float32Array;
      const reference = kernelReference?.nodes.find((n) => n.name === wq.layer) as WeightedNode | undefined;
      const view = { shape: wq.view, data: reference ? reference.weights.kernel.values : own };
      const q = { shape: wq.view, data: fakeQuantValues(own, wq.view, qp, wq.axis ?? undefined) };
      const sqnr = new SqnrAccumulator(wq.axis !== null ? { axis: wq.axis } : {});
      const clip = new ClipCounter(qp, wq.axis ?? undefined);
      const range = obs.range();
      const hist = new HistogramAccumulator(Math.min(...range.min, ...qp.nudgedMin), Math.max(...range.max, ...qp.nudgedMax), HISTOGRAM_BINS);
      sqnr.add(view, q);
      clip.add(view);
      hist.add(view.data);
      const stats = { sqnr: sqnr.value(), perChannelSqnr: sqnr.perChannel(), clipRate: clip.rate() };
      weightStats.set(wq.layer, stats);
      tensors.push(tensorRecord(wq.layer, 'weight', wq.spec, obs, qp, stats));
      histograms.push(histogramRecord(wq.layer, 'weight', { lo: hist.lo, hi: hist.hi, counts: countsWithEdges(hist) }, qp));
    }
    for (const a of plan.activations) {
      const stats = comparison.activations.get(a.name)!;
      const obs = activationObservers.get(a.name)!;
      const qp = qparams.get(a.sharedWith ?? a.name)!;
      const layer = a.role === 'input' ? a.at : a.layers[0]!;
      const role = a.role === 'input' ? 'input' : 'activation';
      tensors.push(tensorRecord(layer, role, a.spec, obs, qp, stats));
      histograms.push(histogramRecord(layer, role, stats.histogram, qp));
      const w = weightStats.get(layer);
      layers.push({
        name: layer,
        op: graph.nodes.find((n) => n.name === layer)!.op,
        weightSqnr: w ? finiteOrNull(w.sqnr) : null,
        activationSqnr: finiteOrNull(stats.sqnr),
        clipRate: stats.clipRate,
        channels: w ? (plan.weights.find((x) => x.layer === layer)?.channels ?? 1) : obs.range().min.length,
      });
    }
  return { tensors, histograms, layers };
}
