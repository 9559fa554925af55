/**
 * One training step both ways, compared (no test cases here): the ONNX step
 * graph on onnxruntime-node against TF.js's autodiff of the same forward
 * pass (the QAT hooks of qat/hooks.ts on the TF.js GraphRuntime in training
 * mode). From the same weights, quantizer ranges, batch and Dropout
 * keep-masks, both must give the same loss, the same gradient for every
 * trainable weight, the same moving statistics and quantizer ranges; with an
 * optimizer, the graph's update must equal tf.train's on the graph's own
 * gradients. MLAS and XNNPACK round float sums differently, so values agree
 * to float32 rounding relative to each tensor's scale, not bit for bit.
 *
 * Dropout: the runtime's tf.dropout draws its own mask, so the reference
 * replaces each Dropout's output (through the output hook) by its input
 * times mask·(1/(1 − rate)), the multiplier tf.dropout itself would use for
 * that mask, and the graph gets the same mask as `mask/<node>`.
 *
 * Lockstep: TF.js's forward is checked against the graph's node by node,
 * each node's value before and after its activation quantizer within
 * FORWARD (1e-5) of the node's scale, and then moved onto the graph's value
 * (a constant offset, so TF.js's own gradients apply), so that both
 * differentiate at the same point. Without that, float rounding differences
 * pile up through deep nets, and wherever a value sits within rounding of a
 * discontinuity (a quantizer's rounding tie or range boundary, ReLU at 0, a
 * BatchNorm of a near-constant channel amplifying it) the two would take
 * different branches; TF.js's own cpu and wasm backends then disagree with
 * each other by far more than the tolerance on ResNet50 (measured).
 *
 * Gradients that sum a node's output gradient over batch and positions (a
 * bias, β, γ) may be zero in exact arithmetic and float noise on both sides
 * (summedNoise); they are compared within that noise.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime, type ForwardHooks } from '../../../../../src-main/engine/graph/runtime.js';
import type { Graph } from '../../../../../src-main/engine/graph/types.js';
import { loadOnnxRuntime } from '../../../../../src-main/engine/native/session.js';
import { keepMask } from '../../../../../src-main/engine/native/train/native-trainer.js';
import { dropoutScale } from '../../../../../src-main/engine/native/train/ops/shape.js';
import { buildStepGraph, maskDims, optimizerSlots, type StepGraph, type StepOptimizer } from '../../../../../src-main/engine/native/train/step-graph.js';
import { qatHooks } from '../../../../../src-main/engine/qat/hooks.js';
import { activationEstimator, makeQuantizers } from '../../../../../src-main/engine/qat/run.js';
import { foldBatchNorm } from '../../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../../src-main/engine/transform/plan.js';
import { crossEntropy } from '../../../../../src-main/engine/train/evaluate.js';
import { rng } from '../../graph/fixtures.js';
import { config } from '../../transform/graphs.js';

export interface StepCase {
  graph: Graph;
  quantized: boolean;
  freeze: boolean;
  extra?: Parameters<typeof config>[0];
  /** Also build the graph with this update and compare its new weights with tf.train's on the graph's own gradients. */
  optimizer?: StepOptimizer;
  /** Batch size; default 16. */
  batch?: number;
  /** Input values uniform in [lo, hi); default [-0.5, 1.5). */
  inputRange?: [number, number];
  /** Gradient tolerance relative to each gradient's scale; default GRADIENT_TOLERANCE. */
  tolerance?: number;
}

export interface StepReport {
  step: StepGraph;
  /** Largest gradient difference relative to the gradient's scale, over all weights. */
  worstGradient: number;
  /** Each trainable weight's gradient difference relative to its scale. */
  gradients: Map<string, number>;
  /** Largest forward difference of a node's value, relative to the node's scale (see lock). */
  worstForward: number;
  loss: number;
}

/** Gradients agree within this fraction of each gradient's largest value (plus 1e-6 absolute). */
export const GRADIENT_TOLERANCE = 2e-4;

/** max |got − ref| ≤ rel · max |ref| + abs (gradients that are zero in exact arithmetic, e.g. a bias before BatchNorm, are float noise on both sides); returns the difference relative to the scale (or to abs/rel where that is larger). */
export function assertClose(got: ArrayLike<number>, ref: ArrayLike<number>, rel: number, what: string, abs = 1e-6): number {
  assert.equal(got.length, ref.length, `${what}: ${got.length} values vs ${ref.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  assert.ok(diff <= rel * scale + abs, `${what}: max difference ${diff.toExponential(2)} at scale ${scale.toExponential(2)}`);
  return diff / Math.max(scale, abs / rel);
}

function batch(graph: Graph, n: number, seed: number, [lo, hi]: [number, number]): { xs: Float32Array; ys: Int32Array } {
  const shape = graph.nodes[0]!.outputShape;
  const next = rng(seed);
  const xs = Float32Array.from({ length: n * shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next());
  const out = graph.nodes.find((x) => x.name === graph.output)!;
  const classes = out.outputShape[out.outputShape.length - 1]!;
  const ys = Int32Array.from({ length: n }, () => Math.floor(next() * classes));
  return { xs, ys };
}

const LR = 0.01;

/**
 * The float noise of a gradient that sums a node's output gradient over
 * batch and positions (a bias, β, γ): 1e-6 of the largest per-channel
 * Σ|dy|. A gradient that is zero in exact arithmetic (the β of a BatchNorm
 * feeding a linear 1×1 conv and another BatchNorm with batch statistics) is
 * that noise on both sides.
 */
function summedNoise(dy: { data: unknown; dims: readonly number[] } | undefined): number {
  if (!dy) return 0;
  const data = dy.data as Float32Array;
  const dims = dy.dims;
  const axis = dims.length === 4 ? 1 : dims.length - 1;
  const c = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
  const sums = new Float64Array(c);
  for (let i = 0; i < data.length; i++) sums[Math.floor(i / inner) % c] += Math.abs(data[i]!);
  return 1e-6 * Math.max(...sums);
}

function tfOptimizer(opt: StepOptimizer): tf.Optimizer {
  return opt.kind === 'adam' ? tf.train.adam(LR) : opt.kind === 'momentum' ? tf.train.momentum(LR, opt.momentum) : tf.train.sgd(LR);
}

/** A graph-layout tensor (NCHW for rank 4) in TF.js's NHWC order. */
function nhwcOrder(data: Float32Array, dims: readonly number[]): Float32Array {
  if (dims.length !== 4) return data;
  const [n, c, h, w] = dims as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x]!;
  return out;
}

/** Forward values of one node may differ by this fraction of the node's largest value (float rounding of one op). */
const FORWARD = 1e-5;

/** The graph's values of every node (`prevalue/<node>`, `value/<node>`) and how far the reference's were from them. */
interface Lockstep {
  values: Record<string, { data: unknown; dims: readonly number[] }>;
  /** Largest difference seen, relative to its node's scale. */
  worst: number;
}

/**
 * `t`, TF.js's value of `key` (`prevalue/<node>` or `value/<node>`), moved
 * onto the graph's value: they must agree within FORWARD of the node's scale
 * (else this throws: a real difference); the graph's value comes in as a
 * constant offset, so the gradient is TF.js's own.
 */
function lock(key: string, t: tf.Tensor, s: Lockstep): tf.Tensor {
  const v = s.values[key]!;
  const theirs = nhwcOrder(v.data as Float32Array, v.dims.slice(0));
  const mine = t.dataSync();
  assert.equal(mine.length, theirs.length, `${key}: ${mine.length} values vs ${theirs.length}`);
  let scale = 0;
  let diff = 0;
  const delta = new Float32Array(mine.length);
  for (let i = 0; i < mine.length; i++) {
    scale = Math.max(scale, Math.abs(theirs[i]!));
    diff = Math.max(diff, Math.abs(mine[i]! - theirs[i]!));
    delta[i] = theirs[i]! - mine[i]!;
  }
  if (diff > FORWARD * scale + 1e-7) throw new Error(`${key}: TF.js's value differs from the graph's by ${diff.toExponential(2)} at scale ${scale.toExponential(2)}`);
  s.worst = Math.max(s.worst, scale > 0 ? diff / scale : 0);
  return diff > 0 ? tf.add(t, tf.tensor(delta, t.shape)) : t;
}

/**
 * The reference's hooks: QAT's, with every Dropout's output replaced by its
 * input times the multiplier of `masks` (see the module comment) and, with
 * `lockstep`, each node's value before and after its quantizer checked
 * against the graph's and moved onto it (lock).
 */
function referenceHooks(hooks: ForwardHooks, masks: Map<string, tf.Tensor>, lockstep: Lockstep | null): ForwardHooks {
  const outputs = new Map<string, tf.Tensor>();
  return {
    ...hooks,
    output(node, y) {
      const mask = masks.get(node.name);
      let pre = mask ? tf.mul(outputs.get(node.inputs[0]!)!, mask) : y;
      if (lockstep) pre = lock(`prevalue/${node.name}`, pre, lockstep);
      let out = hooks.output ? hooks.output(node, pre) : pre;
      if (lockstep) out = lock(`value/${node.name}`, out, lockstep);
      outputs.set(node.name, out);
      return out;
    },
  };
}

/** One step both ways, compared. */
export async function compareStep({ graph, quantized, freeze, extra, optimizer, batch: n = 16, inputRange = [-0.5, 1.5], tolerance = GRADIENT_TOLERANCE }: StepCase): Promise<StepReport> {
  const cfg = config(extra);
  const { graph: foldedGraph, folded } = foldBatchNorm(graph);
  const plan = planQuantization(foldedGraph, cfg);
  const est = activationEstimator(cfg.estimator);
  const runtime = new GraphRuntime(graph, { trainable: true });
  const shape = graph.nodes[0]!.outputShape;
  const { xs, ys } = batch(graph, n, 11, inputRange);
  const x = tf.tensor(xs, [n, ...shape]);
  const y = tf.tensor1d(ys, 'int32');
  const masks = new Map<string, tf.Tensor>();
  try {
    const q = quantized ? makeQuantizers(plan, cfg) : null;
    const qat = q ? qatHooks(graph, runtime, plan, folded, q) : {};
    if (q) {
      // Ranges from a different batch first, so the step's update is a real one.
      const init = batch(graph, n, 5, inputRange);
      const all = [...new Set([...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)])];
      for (const fq of all) fq.setMode('calibrate');
      tf.tidy(() => runtime.apply(tf.tensor(init.xs, [n, ...shape]), { hooks: qat }));
      for (const fq of all) fq.setMode('qat');
    }
    const step = buildStepGraph({ graph, plan: quantized ? plan : null, folded, activationEstimator: est, freezeBatchNorm: freeze, optimizer: null, exposeValues: true });
    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(step.bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    const vars = new Map(runtime.weightVariables().map((w) => [`${w.node}/${w.weight}`, w.variable]));
    const classes = step.classes;
    const onehot = new Float32Array(n * classes);
    ys.forEach((c, i) => (onehot[i * classes + c] = 1));
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
      x: new ort.Tensor('float32', xs, [n, ...shape]),
      onehot: new ort.Tensor('float32', onehot, [n, classes]),
      invBatch: new ort.Tensor('float32', Float32Array.of(1 / n), []),
    };
    for (const w of step.weights) feeds[`w/${w.node}/${w.weight}`] = new ort.Tensor('float32', Float32Array.from(vars.get(`${w.node}/${w.weight}`)!.dataSync() as Float32Array), w.shape);
    for (const a of step.activationRanges) {
      const r = q!.activations.get(a.name)!.observer.range();
      feeds[`range/${a.name}/min`] = new ort.Tensor('float32', Float32Array.from(r.min), [a.channels]);
      feeds[`range/${a.name}/max`] = new ort.Tensor('float32', Float32Array.from(r.max), [a.channels]);
    }
    const random = rng(23);
    for (const d of step.dropouts) {
      const dims = maskDims(d, n);
      const mask = keepMask(random, dims.reduce((a, c) => a * c, 1), d.rate);
      feeds[`mask/${d.node}`] = new ort.Tensor('float32', mask, dims);
      masks.set(d.node, tf.mul(tf.tensor(mask, dims), dropoutScale(d.rate)));
    }
    const out = await session.run(feeds);
    await session.release();
    if (optimizer) {
      // The same inputs through the graph that also updates: tf.train's step on its gradients is the reference.
      const updating = buildStepGraph({ graph, plan: quantized ? plan : null, folded, activationEstimator: est, freezeBatchNorm: freeze, optimizer });
      const s2 = await ort.InferenceSession.create(updating.bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
      const more: typeof feeds = { ...feeds, negLr: new ort.Tensor('float32', Float32Array.of(-LR), []) };
      if (optimizer.kind === 'adam') {
        more['oneMinusAcc1'] = new ort.Tensor('float32', Float32Array.of(Math.fround(1 - Math.fround(0.9))), []);
        more['oneMinusAcc2'] = new ort.Tensor('float32', Float32Array.of(Math.fround(1 - Math.fround(0.999))), []);
      }
      const slots = optimizerSlots(optimizer);
      for (const w of updating.weights.filter((x) => x.trainable)) for (const slot of slots) more[`${slot}/${w.node}/${w.weight}`] = new ort.Tensor('float32', new Float32Array(w.shape.reduce((a, c) => a * c, 1)), w.shape);
      const updated = await s2.run(more);
      await s2.release();
      const trainableSteps = updating.weights.filter((x) => x.trainable);
      const copies = trainableSteps.map((w) => tf.variable(tf.tensor(feeds[`w/${w.node}/${w.weight}`]!.data as Float32Array, w.shape), true, `ref/${graph.name}/${w.node}/${w.weight}/${Math.random()}`));
      const opt = tfOptimizer(optimizer);
      opt.applyGradients(Object.fromEntries(trainableSteps.map((w, i) => [copies[i]!.name, tf.tensor(out[`grad/${w.node}/${w.weight}`]!.data as Float32Array, w.shape)])));
      trainableSteps.forEach((w, i) => assertClose(updated[`next/w/${w.node}/${w.weight}`]!.data as Float32Array, copies[i]!.dataSync(), 1e-6, `${optimizer.kind} update of ${w.node}/${w.weight}`, 1e-7));
      opt.dispose();
      tf.dispose(copies);
    }

    // TF.js: the loop's loss, differentiated by TF.js (this also updates moving statistics and ranges).
    const lockstep: Lockstep = { values: out, worst: 0 };
    const hooks = referenceHooks(qat, masks, lockstep);
    const trainable = runtime.weightVariables().filter((w) => w.variable.trainable);
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(runtime.apply(x, { training: true, logits: true, freezeBatchNorm: freeze, hooks }), y, classes),
      trainable.map((w) => w.variable),
    );
    const loss = value.dataSync()[0]!;
    const got = (out['loss']!.data as Float32Array)[0]!;
    assert.ok(Math.abs(got - loss) <= 1e-5 * Math.max(1, Math.abs(loss)), `loss ${got} vs ${loss}`);
    const gradients = new Map<string, number>();
    for (const w of trainable) {
      const ref = grads[w.variable.name]!.dataSync();
      const noise = w.weight === 'kernel' ? 0 : summedNoise(out[`dvalue/${w.node}`]);
      gradients.set(`${w.node}/${w.weight}`, assertClose(out[`grad/${w.node}/${w.weight}`]!.data as Float32Array, ref, tolerance, `gradient of ${w.node}/${w.weight}`, Math.max(1e-6, noise)));
    }
    const worstGradient = Math.max(0, ...gradients.values());
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(step.movingOutputs.length > 0, !freeze && graph.nodes.some((n) => n.op === 'batchNorm'));
    for (const key of step.movingOutputs) assertClose(out[`next/${key}`]!.data as Float32Array, vars.get(key)!.dataSync(), 1e-5, key);
    for (const a of step.activationRanges) {
      const r = q!.activations.get(a.name)!.observer.range();
      for (const side of ['min', 'max'] as const) assertClose(out[`next/${a.name}/${side}`]!.data as Float32Array, r[side], 1e-5, `range ${a.name} ${side}`);
    }
    for (const k of step.weightRanges) {
      const r = q!.weights.get(k.layer)!.fq.observer.range();
      assertClose(out[`wrange/${k.layer}/min`]!.data as Float32Array, r.min, 1e-6, `kernel range ${k.name} min`);
      assertClose(out[`wrange/${k.layer}/max`]!.data as Float32Array, r.max, 1e-6, `kernel range ${k.name} max`);
    }
    if (quantized) assert.ok(step.activationRanges.length > 0 && step.weightRanges.length > 0, 'the quantized step has quantizers');
    return { step, worstGradient, gradients, loss, worstForward: lockstep.worst };
  } finally {
    tf.dispose([x, y, ...masks.values()]);
    runtime.dispose();
  }
}
