/**
 * A QAT run: start from a float model, train it with fake quantization in the
 * forward pass (STE gradients) and BatchNorm folded as the integer model will
 * compute it, then store the same records as a PTQ run.
 *
 *   1. fold-plan on the folded graph (what gets quantized), train the unfolded
 *      graph with hooks that simulate the folding (hooks.ts); a BN that cannot
 *      fold trains as a BN, its output quantized as the affine it becomes;
 *   2. quantizers with Keras's names: weights LastValue (range of the current,
 *      BN-scaled kernel each step), activations MovingAverage (or AllValues /
 *      LastValue when chosen), all honouring per-axis;
 *   3. activation ranges are initialised by observing the calibration split,
 *      then follow training; the ranges are logged with the curves;
 *   4. after training: fold BN for real, take the final ranges, and compare
 *      the quantized model with its float self on the eval split (records as
 *      PTQ); the starting float model's accuracy is the baseline.
 * The initial ranges, the baseline, training with its validation (the
 * simulation with the current ranges) and the final evaluation run on
 * onnxruntime when the model has an ONNX form; TF.js then only reads the
 * model (and observes a calibration batch holding NaN/±Inf). A model it
 * cannot lower runs on TF.js, and the summary names the layer for each pass
 * (initialRanges, baseline, train, evaluation: nativeSkipped).
 *
 * With config.target, the run obeys the target as a PTQ run does: prepare
 * refuses what the target cannot hold (targets/rules.ts); training runs on
 * the target's graph, so a fused softmax is split off and the logits' own
 * quantizer is in the loss's path (the loss then takes the quantized
 * logits, as the file computes them); outputs on a grid the target fixes
 * train on that grid (fixed-grids.ts); and the final evaluation simulates
 * the target's arithmetic (targets/simulation.ts), the graph the export
 * verifies its file against. The stored trained model has the softmax back
 * in its layer (the user's layers); prepare splits it again.
 */
import { emitBestCheckpoint } from '../train/checkpoint.js';
import { Training, recoveryOn, type Estimator, type RunConfig } from '../../api/run-config.js';
import { checkFitsModel, loadDataset, sampleSplit } from '../../io/data/dataset.js';
import type { JobContext } from '../job-context.js';
import type { RunResults } from '../results.js';
import type { QuantizerRange } from '../results.js';
import { backendInfo } from '../backend.js';
import { GraphRuntime } from '../graph/runtime.js';
import { serializeGraph } from '../graph/serialize.js';
import { inputNode, isWeighted, type Graph } from '../graph/types.js';
import { createObserver, MinMaxObserver, type Observer } from '../quant/observers/index.js';
import { FakeQuantizer } from '../quant/fake-quantizer.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import { outputClasses } from '../train/evaluate.js';
import { evaluateModel } from '../train/evaluate-model.js';
import { valuesMinMax } from '../quant/fake-quant-values.js';
import { holdOut } from '../train/float-run.js';
import { trainLoop } from '../train/loop.js';
import { evaluateOnBestRuntime } from '../ptq/evaluate-runtime.js';
import { memoryBudget } from '../memory.js';
import type { RuntimeChoice } from '../native/session.js';
import { prepare } from '../prepare.js';
import { buildRecords, HISTOGRAM_BINS } from '../ptq/run.js';
import { qatHooks, type QatQuantizers } from './hooks.js';
import { observeInitialRanges } from './initial-ranges.js';
import { chooseStepEngine } from '../native/train/native-trainer.js';
import { targetOf } from '../targets/index.js';
import { fixedGridQParams, joinSplitSoftmaxes, targetGraph } from '../targets/plan.js';
import { fixGridQuantizers } from './fixed-grids.js';

export interface QatPayload {
  config: RunConfig;
  modelName: string;
  model: Uint8Array;
  dataset: { name?: string; path: string; format: string; preprocessing: Record<string, unknown> };
  seed?: number;
  /** As a PTQ run's (engine/ptq/run.ts). */
  evaluationRuntime?: RuntimeChoice;
  memoryBudget?: number;
}

/** Batches used to initialise activation ranges before the first step. */
const INIT_SAMPLES = 512;

/** Activations in QAT follow training: MovingAverage by default; AllValues (minmax) and LastValue on request. */
export function activationEstimator(e: Estimator): Estimator {
  return e.kind === 'minmax' || e.kind === 'lastvalue' || e.kind === 'movingaverage' ? e : { ...e, kind: 'movingaverage' };
}

export function makeQuantizers(plan: QuantPlan, config: RunConfig): QatQuantizers {
  const weights = new Map<string, { wq: QuantPlan['weights'][number]; fq: FakeQuantizer }>();
  for (const wq of plan.weights) {
    const obs = createObserver({ ...config.estimator, kind: 'lastvalue' }, wq.spec, { name: wq.name, ...(wq.axis !== null ? { axis: wq.axis } : {}) });
    weights.set(wq.layer, { wq, fq: new FakeQuantizer(obs) });
  }
  const activations = new Map<string, FakeQuantizer>();
  const est = activationEstimator(config.estimator);
  for (const a of plan.activations) {
    if (a.sharedWith) continue;
    const axis = a.spec.granularity === 'per-channel' ? (a.spec.axis ?? -1) : undefined;
    activations.set(a.name, new FakeQuantizer(createObserver(est, a.spec, { name: a.name, ...(axis !== undefined ? { axis } : {}) })));
  }
  for (const a of plan.activations) if (a.sharedWith) activations.set(a.name, activations.get(a.sharedWith)!);
  return { weights, activations };
}

function envelope(obs: Observer): QuantizerRange | null {
  if (obs.batches === 0) return null;
  const r = obs.range();
  return { min: Math.min(...r.min), max: Math.max(...r.max) };
}

/** Quantizer ranges for the curves: input and activations as they are, per-channel kernels as their envelope. */
export function currentRanges(q: QatQuantizers): Record<string, QuantizerRange> {
  const out: Record<string, QuantizerRange> = {};
  for (const [name, fq] of q.activations) {
    const r = envelope(fq.observer);
    if (r) out[name] = r;
  }
  for (const { wq, fq } of q.weights.values()) {
    const r = envelope(fq.observer);
    if (r) out[wq.name] = r;
  }
  return out;
}

/** Bad training setups, refused before any work. */
export function checkTrainable(runtime: GraphRuntime, modelName: string, batchSize: number, samples: number, file: string): void {
  if (runtime.trainableVariables().length === 0) throw new Error(`model ${modelName} has no trainable layers (Dense, Conv2D, DepthwiseConv2D, BatchNormalization): nothing for QAT to train`);
  if (batchSize > samples) throw new Error(`batch size ${batchSize} is larger than the ${samples} training samples of ${file}; lower the batch size or the validation split`);
}

export async function runQat(payload: QatPayload, ctx: JobContext): Promise<RunResults & { trainedModel: Uint8Array }> {
  const { config } = payload;
  const training = config.training ?? Training.parse({});
  const seed = payload.seed ?? 0;
  if (recoveryOn(config.recovery)) throw new Error('accuracy recovery (CLE, bias correction) applies to PTQ runs only: QAT trains the unequalized model');
  if (config.estimator.weights) throw new Error(`the kernels' range estimator (estimator.weights ${config.estimator.weights}) applies to PTQ runs only: QAT's kernels take their LastValue range every step`);
  const target = targetOf(config);
  const { source: stored, folded, plan } = prepare(payload.model, config, { modelName: payload.modelName });
  // The unfolded graph training runs: the target's (a fused softmax split off), so every planned tensor has its hook point.
  const source = targetGraph(stored, target);
  const storedNames = new Set(stored.nodes.map((n) => n.name));
  const splitOff = new Set(source.nodes.filter((n) => !storedNames.has(n.name)).map((n) => n.name));
  const asStored = (g: Graph) => (splitOff.size ? joinSplitSoftmaxes(g, splitOff) : g);
  const data = loadDataset(payload.dataset);
  const inputShape = inputNode(source).outputShape;
  const runtime = new GraphRuntime(source, { trainable: true });
  try {
    checkFitsModel(data, inputShape, outputClasses(runtime));
    const notes = [...data.notes];
    const train = data.parts.train;
    const test = data.parts.test;
    const { trainIdx, valIdx } = holdOut(train.count, training.validationSplit, seed, train.imagesFile);
    checkTrainable(runtime, payload.modelName, training.batchSize, trainIdx.length, train.imagesFile);
    const evalIdx = sampleSplit(config.eval.count, test.count, config.eval.seed, test.imagesFile);
    if (evalIdx.clipped) notes.push(`eval split asked for ${config.eval.count} samples; the test part has ${test.count}, all used`);
    const budget = memoryBudget(payload.memoryBudget);
    const baseline = await evaluateModel(runtime, test, evalIdx, { requested: payload.evaluationRuntime, budget, maxBatch: 256, ctx, phase: 'float baseline' });

    // Quantizers; activation ranges start from the calibration split.
    const q = makeQuantizers(plan, config);
    const all = [...new Set([...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)])];
    for (const fq of all) fq.setMode('calibrate');
    const hooks = qatHooks(source, runtime, plan, folded, q);
    const initIdx = sampleSplit(Math.min(config.calibration.count, INIT_SAMPLES), trainIdx.length, config.calibration.seed, train.imagesFile).map((i) => trainIdx[i]!);
    // Probabilities, not logits: the output quantizer (softmax output in the integer model) is set here;
    // training steps compute the loss on logits and leave it alone.
    const initialRanges = await observeInitialRanges({ graph: source, runtime, plan, folded, quantizers: q, hooks, part: train, indices: initIdx, inputShape, budget, maxBatch: 128, ctx });
    for (const fq of all) fq.setMode('qat');
    const fixedGrids = fixGridQuantizers(plan, q, config.estimator);

    // Train: on onnxruntime when it can, else TF.js. Validation passes (hooks() not preceded by
    // beforeStep) leave the activation ranges alone.
    const { engine, info: trainedOn } = await chooseStepEngine({
      graph: source,
      runtime,
      qat: { plan, folded, quantizers: q, activationEstimator: activationEstimator(config.estimator) },
      training,
      inputShape,
      seed,
      memoryBudget: budget,
    });
    let stepComing = false;
    const loop = await trainLoop({
      runtime,
      data,
      trainIdx,
      valIdx,
      training,
      ctx,
      seed,
      ...(engine ? { engine } : {}),
      beforeStep: () => {
        stepComing = !engine;
      },
      hooks: () => {
        for (const [name, fq] of q.activations) fq.observerEnabled = stepComing && !fixedGrids.has(name);
        stepComing = false;
        return hooks;
      },
      freezeBatchNorm: (step) => step >= training.bnFreezeStep,
      curveRanges: () => currentRanges(q),
    })
      .catch((e: unknown) => {
        throw emitBestCheckpoint(e, runtime, ctx, asStored);
      })
      .finally(() => engine?.dispose());

    // The trained model (as the user's layers), folded for real, with its final ranges.
    const trainedGraph = asStored(runtime.toGraph());
    const { graph: foldedTrained, plan: finalPlan } = prepare(trainedGraph, config, { modelName: payload.modelName });
    const quantRuntime = new GraphRuntime(foldedTrained, { trainable: false });
    try {
      const qparams = new Map<string, QParams>();
      const activationObservers = new Map<string, Observer>();
      for (const [name, fq] of q.activations) {
        activationObservers.set(name, fq.observer);
        qparams.set(name, fq.observer.qparams());
      }
      const weightObservers = new Map<string, Observer>();
      const kernels = new Map(foldedTrained.nodes.filter(isWeighted).map((n) => [n.name, n.weights.kernel.values]));
      for (const wq of finalPlan.weights) {
        const obs = new MinMaxObserver({ ...config.estimator, kind: 'lastvalue' }, wq.spec, wq.axis ?? undefined, wq.name);
        obs.observeBatchRange(wq.view, valuesMinMax(kernels.get(wq.layer)!, wq.view, wq.axis));
        weightObservers.set(wq.name, obs);
        qparams.set(wq.name, obs.qparams());
      }
      // A target's fixed output grids, exactly as a PTQ run sets them (targets/plan.ts).
      for (const [name, qp] of fixedGridQParams(finalPlan)) qparams.set(name, qp);
      const span = new Map<string, { lo: number; hi: number }>();
      for (const [name, obs] of activationObservers) {
        const r = envelope(obs);
        if (r) span.set(name, { lo: r.min, hi: r.max });
      }
      // The trained model's float and simulated evaluation: onnxruntime when it can, as a PTQ run's.
      const onBatch = (done: number) => {
        ctx.checkCancelled();
        ctx.progress('evaluate', done, evalIdx.length);
      };
      const { comparison, how: evaluation } = await evaluateOnBestRuntime(
        { graph: foldedTrained, plan: finalPlan, qparams, histogramSpan: span, bins: HISTOGRAM_BINS, part: test, indices: evalIdx, inputShape, runtime: quantRuntime, target },
        { requested: payload.evaluationRuntime, budget, onBatch },
      );
      const { tensors, histograms, layers } = buildRecords(quantRuntime, foldedTrained, finalPlan, qparams, weightObservers, activationObservers, comparison);
      return {
        floatAccuracy: baseline.accuracy,
        floatLoss: baseline.loss,
        quantAccuracy: comparison.quant.accuracy,
        quantLoss: comparison.quant.loss,
        tensors,
        histograms,
        summary: {
          backend: backendInfo().name,
          training: { ...training, seed },
          train: {
            count: trainIdx.length,
            validationCount: valIdx.length,
            steps: loop.steps,
            seconds: loop.seconds,
            samplesPerSecond: loop.samplesPerSecond,
            ...trainedOn,
            bestStep: loop.bestStep,
            bestValAccuracy: loop.bestValAccuracy,
          },
          qatFloatAccuracy: comparison.float.accuracy,
          baseline: baseline.how,
          initialRanges,
          eval: { count: comparison.count },
          evaluation,
          folded,
          float: finalPlan.float,
          layers,
          quantizers: { weights: 'lastvalue', activations: activationEstimator(config.estimator).kind },
          notes,
        },
        trainedModel: serializeGraph(trainedGraph),
      };
    } finally {
      quantRuntime.dispose();
    }
  } finally {
    runtime.dispose();
  }
}
