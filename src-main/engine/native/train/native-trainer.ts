/**
 * Training steps on onnxruntime-node: the step graph (step-graph.ts) computes
 * loss, gradients, the optimizer update and the quantizers' new ranges; this
 * class keeps the weights and optimizer slots between steps (Float32Arrays
 * handed from one run's outputs to the next one's inputs) and draws each
 * step's Dropout keep-masks from the run's seed (mulberry32, one stream).
 * Validation runs here too, on onnxruntime (`evaluate`: the inference graph
 * with the current weights, and for QAT the simulation with the current
 * ranges), and the best checkpoint is a `snapshot()` of the weights (the
 * arrays each step hands over are never written again, so a snapshot is a
 * map of references). The TF.js runtime holds the model between runs only:
 * `sync()` writes the weights, BatchNorm statistics and quantizer ranges
 * into its variables and observers at the end of training (and before a
 * divergence report names a bad weight); `syncRanges()` only the ranges
 * (curve points, validation).
 */
import { tf } from '../../tfjs.js';
import type * as Ort from 'onnxruntime-node';
import type { Estimator, Training } from '../../../api/run-config.js';
import type { GraphRuntime } from '../../graph/runtime.js';
import type { Graph, GraphNode } from '../../graph/types.js';
import { mulberry32, type BatchSource, type RawBatch } from '../../../io/data/split.js';
import { memoryBudget, type MemoryBudget } from '../../memory.js';
import { qatSimulation } from '../../qat/validation.js';
import { evaluateClassifier, type ClassifierEvaluation } from '../evaluate-classifier.js';
import type { QatQuantizers } from '../../qat/hooks.js';
import { MinMaxObserver, type Observer } from '../../quant/observers/index.js';
import { encodeFloats } from '../../quant/observers/common.js';
import type { FoldRecord } from '../../transform/fold-batchnorm.js';
import type { QuantPlan } from '../../transform/plan.js';
import { loadOnnxRuntime, nativeThreads, runtimeChoiceFromEnv } from '../session.js';
import { nchwcBlockSize } from './nchwc.js';
import { ADAM, optimizerSlots, type StepOptimizer } from './optimizer.js';
import { UnsupportedForNativeTraining } from './step-context.js';
import { buildStepGraph, maskDims, type StepGraph } from './step-graph.js';

export const TRAINING_RUNTIME_ENV = 'STUDIO_TRAINING_RUNTIME';
/** $STUDIO_TRAINING_RUNTIME, else 'auto'. */
export function trainingRuntimeChoice(env: NodeJS.ProcessEnv = process.env): 'auto' | 'onnxruntime' | 'tfjs' {
  return runtimeChoiceFromEnv(TRAINING_RUNTIME_ENV, env);
}

/** What the training loop needs from a step engine other than TF.js. */
export interface StepEngine {
  readonly runtimeName: string;
  readonly threads: number;
  /** One optimizer step on the batch (none when the loss is not finite); the batch's mean loss and correct count. */
  step(batch: RawBatch, freezeBatchNorm: boolean): Promise<{ loss: number; correct: number }>;
  /**
   * Inference-mode accuracy and loss of the current weights on the given
   * samples (QAT: the simulated quantized model with the current ranges),
   * in batches of at most `maxBatch`; `onBatch` runs before each batch.
   */
  evaluate(part: BatchSource, indices: Int32Array, opts: { maxBatch: number; onBatch?(done: number): void }): Promise<ClassifierEvaluation>;
  /** The current weights and BatchNorm statistics (cheap: no copy). */
  snapshot(): WeightSnapshot;
  /** Sets the weights back to a snapshot (the optimizer state is left as it is). */
  restore(s: WeightSnapshot): void;
  /** Writes weights, BatchNorm statistics and quantizer ranges into the TF.js runtime and observers. */
  sync(): void;
  /** Writes the quantizer ranges only (what curve points read). */
  syncRanges(): void;
  dispose(): Promise<void>;
}

/** Weights by `<node>/<weight>`. */
export type WeightSnapshot = ReadonlyMap<string, Float32Array>;

export interface NativeTrainerInput {
  /** The unfolded graph `runtime` trains. */
  graph: Graph;
  runtime: GraphRuntime;
  /** QAT: the folded graph's plan, its fold records and the quantizers (activation ranges already initialised); null for float training. */
  qat: { plan: QuantPlan; folded: readonly FoldRecord[]; quantizers: QatQuantizers; activationEstimator: Pick<Estimator, 'kind' | 'decay'> } | null;
  training: Training;
  inputShape: number[];
  threads?: number;
  /** Seed of the Dropout keep-masks (mulberry32, one stream over the whole run); default 0. */
  seed?: number;
  /** Sizes the validation batches; default memoryBudget(). */
  memoryBudget?: MemoryBudget;
}

/** The step graphs when onnxruntime can train this model, else why not. */
export function prepareNativeTraining(input: Pick<NativeTrainerInput, 'graph' | 'qat' | 'training'>, nchwcBlock: number | null = null): { unfrozen: StepGraph } | { reason: string } {
  try {
    return { unfrozen: buildStepGraph(stepSpec(input, false, nchwcBlock)) };
  } catch (e) {
    if (e instanceof UnsupportedForNativeTraining) return { reason: e.message };
    throw e;
  }
}

function stepOptimizer(t: Training): StepOptimizer {
  if (t.optimizer === 'adam') return { kind: 'adam' };
  return t.momentum > 0 ? { kind: 'momentum', momentum: t.momentum } : { kind: 'sgd' };
}

function stepSpec(input: Pick<NativeTrainerInput, 'graph' | 'qat' | 'training'>, freezeBatchNorm: boolean, nchwcBlock: number | null): Parameters<typeof buildStepGraph>[0] {
  const { graph, qat, training } = input;
  return {
    graph,
    plan: qat?.plan ?? null,
    folded: qat?.folded ?? [],
    activationEstimator: qat?.activationEstimator ?? { kind: 'movingaverage', decay: 0.999 },
    freezeBatchNorm,
    optimizer: stepOptimizer(training),
    nchwcBlock,
  };
}

const f32 = Math.fround;

export class NativeTrainer implements StepEngine {
  readonly runtimeName = 'onnxruntime';
  private frozen: { graph: StepGraph; session: Ort.InferenceSession } | null = null;
  private readonly weights = new Map<string, Float32Array>();
  private readonly ranges = new Map<string, { min: Float32Array; max: Float32Array }>();
  private readonly kernelRanges = new Map<string, { min: Float32Array; max: Float32Array }>();
  /** Optimizer slots by graph input name (`m/<node>/<weight>`), with their weight's shape. */
  private readonly slots = new Map<string, { values: Float32Array; shape: number[] }>();
  private readonly optimizer: StepOptimizer;
  /** Adam's β1ᵗ and β2ᵗ, float32 as tf.train.adam keeps them. */
  private accBeta = { b1: f32(ADAM.beta1), b2: f32(ADAM.beta2) };
  /** Steps whose range updates the observers have not counted yet. */
  private unsynced = 0;
  /** Draws the Dropout keep-masks. */
  private readonly random: () => number;

  private constructor(
    private readonly input: NativeTrainerInput,
    private readonly ort: typeof Ort,
    private readonly unfrozen: { graph: StepGraph; session: Ort.InferenceSession },
    readonly threads: number,
    private readonly nchwcBlock: number | null,
  ) {
    this.optimizer = stepOptimizer(input.training);
    this.random = mulberry32(((input.seed ?? 0) ^ DROPOUT_STREAM) >>> 0);
    for (const w of input.runtime.weightVariables()) this.weights.set(`${w.node}/${w.weight}`, Float32Array.from(w.variable.dataSync() as Float32Array));
    for (const w of unfrozen.graph.weights.filter((x) => x.trainable)) {
      for (const slot of optimizerSlots(this.optimizer)) this.slots.set(`${slot}/${w.node}/${w.weight}`, { values: new Float32Array(w.shape.reduce((a, c) => a * c, 1)), shape: w.shape });
    }
    for (const a of unfrozen.graph.activationRanges) {
      const fq = input.qat!.quantizers.activations.get(a.name)!;
      if (fq.observer.batches === 0) throw new Error(`activation ${a.name} has no range yet: observe a batch before training`);
      const r = fq.observer.range();
      this.ranges.set(a.name, { min: Float32Array.from(r.min), max: Float32Array.from(r.max) });
    }
  }

  static async create(input: NativeTrainerInput): Promise<NativeTrainer> {
    const ort = await loadOnnxRuntime();
    const nchwcBlock = await nchwcBlockSize(ort);
    const prepared = prepareNativeTraining(input, nchwcBlock);
    if ('reason' in prepared) throw new Error(`training on onnxruntime is not possible: ${prepared.reason}`);
    const threads = input.threads ?? nativeThreads();
    const session = await openSession(ort, prepared.unfrozen.bytes, threads);
    return new NativeTrainer(input, ort, { graph: prepared.unfrozen, session }, threads, nchwcBlock);
  }

  async step(batch: RawBatch, freezeBatchNorm: boolean): Promise<{ loss: number; correct: number }> {
    const { graph, session } = freezeBatchNorm && this.unfrozen.graph.movingOutputs.length > 0 ? await this.frozenStep() : this.unfrozen;
    const T = this.ort.Tensor;
    const onehot = new Float32Array(batch.size * graph.classes);
    for (let i = 0; i < batch.size; i++) onehot[i * graph.classes + batch.ys[i]!] = 1;
    const feeds: Record<string, Ort.Tensor> = {
      x: new T('float32', batch.xs, [batch.size, ...this.input.inputShape]),
      onehot: new T('float32', onehot, [batch.size, graph.classes]),
      invBatch: new T('float32', Float32Array.of(1 / batch.size), []),
      negLr: new T('float32', Float32Array.of(-this.input.training.learningRate), []),
    };
    if (this.optimizer.kind === 'adam') {
      feeds['oneMinusAcc1'] = new T('float32', Float32Array.of(1 - this.accBeta.b1), []);
      feeds['oneMinusAcc2'] = new T('float32', Float32Array.of(1 - this.accBeta.b2), []);
    }
    for (const w of graph.weights) feeds[`w/${w.node}/${w.weight}`] = new T('float32', this.weights.get(`${w.node}/${w.weight}`)!, w.shape);
    for (const [key, slot] of this.slots) feeds[key] = new T('float32', slot.values, slot.shape);
    for (const a of graph.activationRanges) {
      const r = this.ranges.get(a.name)!;
      feeds[`range/${a.name}/min`] = new T('float32', r.min, [a.channels]);
      feeds[`range/${a.name}/max`] = new T('float32', r.max, [a.channels]);
    }
    for (const d of graph.dropouts) {
      const dims = maskDims(d, batch.size);
      feeds[`mask/${d.node}`] = new T('float32', keepMask(this.random, dims.reduce((a, c) => a * c, 1), d.rate), dims);
    }
    const out = await session.run(feeds);
    const loss = (out['loss']!.data as Float32Array)[0]!;
    const correct = (out['correct']!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) return { loss, correct };
    for (const w of graph.weights.filter((x) => x.trainable)) {
      const key = `${w.node}/${w.weight}`;
      this.weights.set(key, out[`next/w/${key}`]!.data as Float32Array);
      for (const slot of optimizerSlots(this.optimizer)) this.slots.set(`${slot}/${key}`, { values: out[`next/${slot}/${key}`]!.data as Float32Array, shape: w.shape });
    }
    if (this.optimizer.kind === 'adam') this.accBeta = { b1: f32(this.accBeta.b1 * f32(ADAM.beta1)), b2: f32(this.accBeta.b2 * f32(ADAM.beta2)) };
    for (const key of graph.movingOutputs) this.weights.set(key, out[`next/${key}`]!.data as Float32Array);
    for (const a of graph.activationRanges) this.ranges.set(a.name, { min: out[`next/${a.name}/min`]!.data as Float32Array, max: out[`next/${a.name}/max`]!.data as Float32Array });
    for (const k of graph.weightRanges) this.kernelRanges.set(k.layer, { min: out[`wrange/${k.layer}/min`]!.data as Float32Array, max: out[`wrange/${k.layer}/max`]!.data as Float32Array });
    this.unsynced++;
    return { loss, correct };
  }

  async evaluate(part: BatchSource, indices: Int32Array, opts: { maxBatch: number; onBatch?(done: number): void }): Promise<ClassifierEvaluation> {
    this.syncRanges();
    const graph = this.currentGraph();
    const qat = this.input.qat;
    return evaluateClassifier({
      graph,
      ...(qat ? { simulation: qatSimulation(graph, qat.plan, qat.folded, qat.quantizers) } : {}),
      part,
      indices,
      inputShape: this.input.inputShape,
      budget: this.input.memoryBudget ?? memoryBudget(),
      maxBatch: opts.maxBatch,
      threads: this.threads,
      ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
    });
  }

  /** The trained graph with the current weights and BatchNorm statistics. */
  currentGraph(): Graph {
    const graph = this.input.graph;
    const nodes = graph.nodes.map((n): GraphNode => {
      if (!('weights' in n)) return n;
      const weights = Object.fromEntries(Object.entries(n.weights as Record<string, { values: Float32Array; shape: number[] }>).map(([name, w]) => [name, { ...w, values: this.weights.get(`${n.name}/${name}`) ?? w.values }]));
      return { ...n, weights } as GraphNode;
    });
    return { ...graph, nodes };
  }

  snapshot(): WeightSnapshot {
    return new Map(this.weights);
  }

  restore(s: WeightSnapshot): void {
    for (const [key, values] of s) this.weights.set(key, values);
  }

  sync(): void {
    for (const w of this.input.runtime.weightVariables()) {
      const values = this.weights.get(`${w.node}/${w.weight}`)!;
      tf.tidy(() => w.variable.assign(tf.tensor(values, w.variable.shape, 'float32')));
    }
    this.syncRanges();
  }

  syncRanges(): void {
    const q = this.input.qat?.quantizers;
    if (q && this.unsynced > 0) {
      const uses = new Map(this.unfrozen.graph.activationRanges.map((a) => [a.name, a.uses]));
      for (const [name, r] of this.ranges) setRange(q.activations.get(name)!.observer, r, this.unsynced * (uses.get(name) ?? 1));
      for (const [layer, r] of this.kernelRanges) setRange(q.weights.get(layer)!.fq.observer, r, this.unsynced);
    }
    this.unsynced = 0;
  }

  async dispose(): Promise<void> {
    await this.unfrozen.session.release();
    await this.frozen?.session.release();
  }

  private async frozenStep(): Promise<{ graph: StepGraph; session: Ort.InferenceSession }> {
    if (!this.frozen) {
      const built = buildStepGraph(stepSpec(this.input, true, this.nchwcBlock));
      this.frozen = { graph: built, session: await openSession(this.ort, built.bytes, this.threads) };
    }
    return this.frozen;
  }
}

/** Mixed into the run's seed so the keep-masks are not the shuffling's stream. */
const DROPOUT_STREAM = 0x0d50_7a5c;

/**
 * A Dropout keep-mask: 1 where u ≥ rate (u uniform in [0, 1)), as tf.dropout
 * keeps where floor(u + keep) = 1.
 */
export function keepMask(random: () => number, size: number, rate: number): Float32Array {
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) mask[i] = random() >= rate ? 1 : 0;
  return mask;
}

/**
 * The step's session. No memory pattern: with it onnxruntime plans one block
 * for the whole step after the first run and allocates it on the second,
 * beside the arena the first run filled (gigabytes more at 224×224, and a
 * second step as slow as the first); the arena alone reuses its blocks from
 * the second step on.
 */
function openSession(ort: typeof Ort, bytes: Uint8Array, threads: number): Promise<Ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, enableMemPattern: false });
}

/** Puts a range computed in the step graph into an observer, counting the steps it took. */
function setRange(obs: Observer, r: { min: Float32Array; max: Float32Array }, steps: number): void {
  if (!(obs instanceof MinMaxObserver)) throw new Error("native training keeps min/max ranges only");
  const s = obs.state();
  if (s.type !== 'minmax') throw new Error(`native training keeps min/max ranges, not ${s.type}`);
  obs.restore({ ...s, batches: s.batches + steps, channels: r.min.length, min: encodeFloats(r.min), max: encodeFloats(r.max) });
}

/** Which runtime trained a run, as its summary records it. */
export interface TrainingRuntimeInfo {
  runtime: 'onnxruntime' | 'tfjs';
  threads?: number;
  /** Why onnxruntime did not train it, when it was not asked away. */
  nativeSkipped?: string;
}

/**
 * onnxruntime when it can train this model (and $STUDIO_TRAINING_RUNTIME does
 * not say tfjs), else TF.js (engine null) with the reason; asking for
 * onnxruntime where it cannot train fails naming why.
 */
export async function chooseStepEngine(input: NativeTrainerInput, env: NodeJS.ProcessEnv = process.env): Promise<{ engine: NativeTrainer | null; info: TrainingRuntimeInfo }> {
  const choice = trainingRuntimeChoice(env);
  if (choice === 'tfjs') return { engine: null, info: { runtime: 'tfjs' } };
  try {
    const engine = await NativeTrainer.create(input);
    return { engine, info: { runtime: 'onnxruntime', threads: engine.threads } };
  } catch (e) {
    if (choice === 'onnxruntime') throw e;
    return { engine: null, info: { runtime: 'tfjs', nativeSkipped: (e as Error).message } };
  }
}
