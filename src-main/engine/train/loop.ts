/**
 * The training loop for float training and, with forward hooks, QAT.
 *
 * Per epoch the training indices are shuffled with a seeded PRNG (seed +
 * epoch), cut into batches (the last may be short), and each batch takes one
 * optimizer step on the mean sparse softmax cross-entropy of the logits.
 * Validation runs at each epoch end, at evenly spaced points inside long
 * epochs (at most VALIDATE_EVERY_MAX steps apart) and after the last step.
 * The best weights by validation accuracy (ties: lower validation loss) are
 * copied, and restored when training ends; without validation samples the
 * final weights are kept.
 *
 * Steps are counted from 1: "step k" is the k-th optimizer update; beforeStep
 * receives the number of steps done before the coming one.
 */
import { tf } from '../tfjs.js';
import type { Training } from '../../api/run-config.js';
import type { LoadedDataset } from '../../io/data/dataset.js';
import { DatasetError } from '../../io/data/errors.js';
import { makeRawBatches, shuffled, toTensors, type RawBatch } from '../../io/data/split.js';
import type { JobContext } from '../job-context.js';
import type { CurvePoint, QuantizerRange } from '../results.js';
import type { ForwardHooks, GraphRuntime } from '../graph/runtime.js';
import type { StepEngine, WeightSnapshot } from '../native/train/native-trainer.js';
import { inputNode } from '../graph/types.js';
import { countCorrect, crossEntropy, evaluate, outputClasses, yieldToEventLoop } from './evaluate.js';

/** Longest stretch of steps between two validations. */
export const VALIDATE_EVERY_MAX = 500;
/** Train curve points per epoch (each the mean of the steps since the last). */
const TRAIN_POINTS_PER_EPOCH = 50;
/** Curve points are sent in chunks of at most this many. */
const EMIT_CHUNK = 20;

/** A training's length: batches per epoch (the last may be short), steps in all (a fraction of an epoch rounds up), epochs begun. */
export function trainingSchedule(samples: number, training: Pick<Training, 'epochs' | 'batchSize'>): { stepsPerEpoch: number; totalSteps: number; epochs: number } {
  const stepsPerEpoch = Math.ceil(samples / training.batchSize);
  const totalSteps = Math.max(1, Math.ceil(training.epochs * stepsPerEpoch));
  return { stepsPerEpoch, totalSteps, epochs: Math.ceil(totalSteps / stepsPerEpoch) };
}

/** The order an epoch visits the training indices in: its own shuffle, seeded by the run's seed and the epoch. */
export function epochOrder(trainIdx: Int32Array, seed: number, epoch: number): Int32Array {
  return shuffled(trainIdx, (seed + epoch * 0x9e3779b1) >>> 0);
}

/** The best checkpoint a failed training had reached; the runtime's weights were set back to it. */
export interface CheckpointInfo {
  step: number;
  valAccuracy: number;
  valLoss: number;
}

export class TrainingError extends Error {
  /** Set when training diverged after a validation: the runtime then holds that best checkpoint. */
  checkpoint: CheckpointInfo | null = null;

  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
    this.name = 'TrainingError';
  }
}

export interface StepReport {
  step: number;
  /** Fractional: step / steps per epoch. */
  epoch: number;
  loss: number;
  accuracy: number;
}

export interface EvalReport {
  step: number;
  epoch: number;
  valLoss: number;
  valAccuracy: number;
}

export interface TrainLoopOptions {
  runtime: GraphRuntime;
  data: LoadedDataset;
  /** Indices into data.parts.train. */
  trainIdx: Int32Array;
  /** Indices into data.parts[valPart]; may be empty (no validation, final weights kept). */
  valIdx: Int32Array;
  /** Which part valIdx indexes; default 'train' (a held-out slice of it). */
  valPart?: 'train' | 'test';
  training: Training;
  /** Forward hooks for the coming step (and for validation); called once per step. */
  hooks?: () => ForwardHooks;
  /** Called before each step with the number of steps done so far. */
  beforeStep?(step: number): void;
  /** From which step BatchNorm uses its moving statistics (QAT's BN freeze); default never. */
  freezeBatchNorm?(step: number): boolean;
  /** More variables to train beside the runtime's (e.g. learned quantizer ranges). */
  extraTrainable?: tf.Variable[];
  /** More variables to save with the best checkpoint. */
  extraState?: tf.Variable[];
  /** Quantizer ranges to log with each train curve point. */
  curveRanges?(): Record<string, QuantizerRange> | null;
  ctx: JobContext;
  onStep?(p: StepReport): void;
  onEval?(p: EvalReport): void;
  /** Shuffling seed; default 0. */
  seed?: number;
  /** Validate every this many steps inside an epoch (epoch ends always validate). */
  validateEvery?: number;
  /** Batch size for validation; default max(training.batchSize, 256). */
  evalBatchSize?: number;
  /**
   * Runs the steps instead of TF.js (native/train): forward, gradients, the
   * optimizer and validation live there; the best checkpoint is its
   * snapshot, and the loop asks it to sync the runtime before divergence
   * reports and at the end (the ranges before curve points).
   */
  engine?: StepEngine;
}

export interface TrainLoopResult {
  steps: number;
  stepsPerEpoch: number;
  /** Null without validation samples. */
  bestValAccuracy: number | null;
  bestValLoss: number | null;
  /** Step whose weights were restored (the last step without validation). */
  bestStep: number;
  /** Mean training loss over the last epoch's steps (or all steps when under one epoch). */
  finalTrainLoss: number;
  curves: CurvePoint[];
  seconds: number;
  samplesPerSecond: number;
}

/** The best checkpoint: TF.js clones of the state variables, or the step engine's snapshot. */
interface Checkpoint {
  accuracy: number;
  loss: number;
  step: number;
  weights: tf.Tensor[];
  snapshot: WeightSnapshot | null;
}

function makeOptimizer(t: Training): tf.Optimizer {
  if (t.optimizer === 'adam') return tf.train.adam(t.learningRate);
  return t.momentum > 0 ? tf.train.momentum(t.learningRate, t.momentum) : tf.train.sgd(t.learningRate);
}

/** Evenly spaced validation points inside an epoch, at most `max` steps apart. */
function validationSteps(stepsPerEpoch: number, max: number): Set<number> {
  const chunks = Math.ceil(stepsPerEpoch / max);
  const at = new Set<number>();
  for (let k = 1; k <= chunks; k++) at.add(Math.round((k * stepsPerEpoch) / chunks));
  return at;
}

/** Says why a step's loss is not finite: bad inputs (named by sample), bad weights, or divergence. */
function explainNonFinite(step: number, epoch: number, loss: number, batch: RawBatch, indices: Int32Array, offset: number, opts: TrainLoopOptions): TrainingError {
  const part = opts.data.parts.train;
  const xs = batch.xs;
  const per = part.sampleSize;
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i]!)) {
      const sample = indices[offset + Math.floor(i / per)]!;
      return new TrainingError(`training stopped at step ${step} (epoch ${epoch + 1}): the loss is ${loss} because training sample ${sample} of ${part.imagesFile} holds ${xs[i]}`, step);
    }
  }
  for (const w of opts.runtime.weightVariables()) {
    const v = w.variable.dataSync();
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) {
      return new TrainingError(`training stopped at step ${step} (epoch ${epoch + 1}): the loss is ${loss} and weight ${w.node}/${w.weight} holds ${v[bad]}; training diverged, try a lower learning rate (now ${opts.training.learningRate})`, step);
    }
  }
  return new TrainingError(`training stopped at step ${step} (epoch ${epoch + 1}): the loss is ${loss}; training diverged, try a lower learning rate (now ${opts.training.learningRate})`, step);
}

export async function trainLoop(opts: TrainLoopOptions): Promise<TrainLoopResult> {
  const { runtime, data, training, ctx } = opts;
  const part = data.parts.train;
  const valPart = data.parts[opts.valPart ?? 'train'];
  if (opts.trainIdx.length === 0) throw new DatasetError(part.imagesFile, 'the training split is empty: nothing to train on');
  const inputShape = inputNode(runtime.graph).outputShape;
  const classes = outputClasses(runtime);
  const batchSize = training.batchSize;
  const { stepsPerEpoch, totalSteps, epochs } = trainingSchedule(opts.trainIdx.length, training);
  const validateAt = validationSteps(stepsPerEpoch, Math.max(1, opts.validateEvery ?? VALIDATE_EVERY_MAX));
  const logEvery = Math.max(1, Math.floor(stepsPerEpoch / TRAIN_POINTS_PER_EPOCH));
  const evalBatchSize = opts.evalBatchSize ?? Math.max(batchSize, 256);
  const seed = opts.seed ?? 0;

  const vars = [...runtime.trainableVariables(), ...(opts.extraTrainable ?? [])];
  if (vars.length === 0) throw new Error(`model ${runtime.graph.name} has no trainable variables (was its runtime built with trainable: false?)`);
  const stateVars = [...runtime.weightVariables().map((w) => w.variable), ...(opts.extraState ?? [])];
  const optimizer = makeOptimizer(training);

  const curves: CurvePoint[] = [];
  let pending: CurvePoint[] = [];
  const record = (p: CurvePoint, flush = false) => {
    curves.push(p);
    pending.push(p);
    if (flush || pending.length >= EMIT_CHUNK) {
      ctx.emit('curves', pending);
      pending = [];
    }
  };

  let best: Checkpoint | null = null;
  const validate = async (step: number) => {
    if (opts.valIdx.length === 0) return;
    const r = opts.engine
      ? await opts.engine.evaluate(valPart, opts.valIdx, { maxBatch: evalBatchSize, onBatch: () => ctx.checkCancelled() })
      : await evaluateOnTfjs();
    const epoch = step / stepsPerEpoch;
    record({ step, epoch, split: 'val', loss: r.loss, accuracy: r.accuracy }, true);
    opts.onEval?.({ step, epoch, valLoss: r.loss, valAccuracy: r.accuracy });
    if (!best || r.accuracy > best.accuracy || (r.accuracy === best.accuracy && r.loss < best.loss)) {
      if (best) tf.dispose(best.weights);
      best = opts.engine
        ? { accuracy: r.accuracy, loss: r.loss, step, weights: [], snapshot: opts.engine.snapshot() }
        : { accuracy: r.accuracy, loss: r.loss, step, weights: stateVars.map((v) => tf.clone(v)), snapshot: null };
    }
  };
  const evaluateOnTfjs = () => {
    const hooks = opts.hooks?.();
    return evaluate(runtime, valPart, opts.valIdx, { batchSize: evalBatchSize, ctx, ...(hooks ? { hooks } : {}) });
  };
  /** Puts the best checkpoint's weights in the runtime (through the engine when it trains). */
  const restoreBest = (b: Checkpoint) => {
    if (b.snapshot) {
      opts.engine!.restore(b.snapshot);
      opts.engine!.sync();
    } else stateVars.forEach((v, i) => v.assign(b.weights[i]!));
  };

  /** One TF.js optimizer step on the batch. */
  const tfjsStep = async (raw: RawBatch, freeze: boolean): Promise<{ loss: number; correct: number }> => {
    const batch = toTensors(raw, inputShape);
    try {
      const hooks = opts.hooks?.();
      let correct: tf.Scalar | null = null;
      const cost = optimizer.minimize(
        () => {
          const logits = runtime.apply(batch.x, { training: true, logits: true, freezeBatchNorm: freeze, ...(hooks ? { hooks } : {}) });
          correct = tf.keep(countCorrect(logits, batch.y));
          return crossEntropy(logits, batch.y, classes);
        },
        true,
        vars,
      )!;
      const loss = (await cost.data())[0]!;
      const hits = (await correct!.data())[0]!;
      tf.dispose([cost, correct!]);
      return { loss, correct: hits };
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
  };

  const started = performance.now();
  let step = 0;
  let window = { loss: 0, correct: 0, samples: 0, steps: 0 };
  let epochLoss = { sum: 0, steps: 0 };
  let lastEpochLoss = NaN;
  let samplesSeen = 0;
  try {
    for (let epoch = 0; epoch < epochs && step < totalSteps; epoch++) {
      const order = epochOrder(opts.trainIdx, seed, epoch);
      let offset = 0;
      epochLoss = { sum: 0, steps: 0 };
      for (const batch of makeRawBatches(part, order, batchSize, inputShape)) {
        if (step >= totalSteps) break;
        ctx.checkCancelled();
        opts.beforeStep?.(step);
        const freeze = opts.freezeBatchNorm?.(step) ?? false;
        const { loss: lossValue, correct: correctValue } = opts.engine ? await opts.engine.step(batch, freeze) : await tfjsStep(batch, freeze);
        step++;
        if (!Number.isFinite(lossValue)) {
          opts.engine?.sync();
          const err = explainNonFinite(step, epoch, lossValue, batch, order, offset, opts);
          // The weights may be ruined now; hand back the best ones so the run can keep them.
          const b = best as Checkpoint | null;
          if (b) {
            restoreBest(b);
            err.checkpoint = { step: b.step, valAccuracy: b.accuracy, valLoss: b.loss };
          }
          throw err;
        }
        offset += batch.size;
        samplesSeen += batch.size;
        const epochAt = step / stepsPerEpoch;
        opts.onStep?.({ step, epoch: epochAt, loss: lossValue, accuracy: correctValue / batch.size });
        ctx.progress('train', step, totalSteps, `epoch ${epoch + 1} of ${epochs}`);
        window.loss += lossValue;
        window.correct += correctValue;
        window.samples += batch.size;
        window.steps++;
        epochLoss.sum += lossValue;
        epochLoss.steps++;
        const inEpoch = step - epoch * stepsPerEpoch;
        const last = step === totalSteps;
        if (window.steps >= logEvery || inEpoch === stepsPerEpoch || last) {
          opts.engine?.syncRanges();
          const ranges = opts.curveRanges?.() ?? null;
          record({ step, epoch: epochAt, split: 'train', loss: window.loss / window.steps, accuracy: window.correct / window.samples, ...(ranges ? { ranges } : {}) });
          window = { loss: 0, correct: 0, samples: 0, steps: 0 };
        }
        if (validateAt.has(inEpoch) || last) await validate(step);
        await yieldToEventLoop();
      }
      if (epochLoss.steps > 0) lastEpochLoss = epochLoss.sum / epochLoss.steps;
    }
    const b = best as Checkpoint | null;
    if (b) restoreBest(b);
    else opts.engine?.sync();
    const seconds = (performance.now() - started) / 1000;
    return {
      steps: step,
      stepsPerEpoch,
      bestValAccuracy: b?.accuracy ?? null,
      bestValLoss: b?.loss ?? null,
      bestStep: b?.step ?? step,
      finalTrainLoss: lastEpochLoss,
      curves,
      seconds,
      samplesPerSecond: samplesSeen / Math.max(seconds, 1e-9),
    };
  } finally {
    // Points logged before a failure or cancellation still reach the store.
    if (pending.length > 0) ctx.emit('curves', pending);
    const b = best as Checkpoint | null;
    if (b) tf.dispose(b.weights);
    optimizer.dispose();
  }
}
