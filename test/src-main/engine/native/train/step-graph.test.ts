/**
 * The ONNX training step (onnxruntime-node) against TF.js's autodiff of the
 * same forward pass (the QAT hooks of qat/hooks.ts on the TF.js runtime).
 * From the same weights, quantizer ranges and batch, both must give the same
 * loss, gradients for every trainable weight, moving statistics and
 * quantizer ranges. MLAS and XNNPACK round float sums differently, so values
 * agree to float32 rounding (relative to each tensor's scale), not bit for
 * bit. Covered: Conv (with BatchNorm folded into it and not), Dense,
 * BatchNorm with batch statistics and frozen, MaxPool, GlobalAveragePool,
 * Flatten, relu / relu6 / tanh, per-channel and per-tensor kernels, the
 * moving-average and all-values activation estimators, float training (no
 * quantizers), the update of Adam / momentum / SGD against tf.train's on the
 * same gradients, and the layers it declines.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../../src-main/engine/graph/runtime.js';
import type { Graph, GraphNode } from '../../../../../src-main/engine/graph/types.js';
import { loadOnnxRuntime } from '../../../../../src-main/engine/native/session.js';
import { buildStepGraph, optimizerSlots, UnsupportedForNativeTraining, type StepOptimizer } from '../../../../../src-main/engine/native/train/step-graph.js';
import { qatHooks } from '../../../../../src-main/engine/qat/hooks.js';
import { activationEstimator, makeQuantizers } from '../../../../../src-main/engine/qat/run.js';
import { foldBatchNorm } from '../../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../../src-main/engine/transform/plan.js';
import { crossEntropy } from '../../../../../src-main/engine/train/evaluate.js';
import { rng } from '../../graph/fixtures.js';
import { act, add, batchNorm, config, conv, dense, flatten, gap, graphOf, input, maxPool, randomizeStatistics, weight } from '../../transform/graphs.js';

before(async () => {
  await initBackend('wasm');
});

const N = 16;

/** Conv-BN-ReLU-pool, conv(relu), flatten, dense(relu), dense(softmax). */
function cnn(): Graph {
  const x = input('input', [8, 8, 2]);
  const c1 = conv('conv1', x, 4);
  const bn = batchNorm('bn1', c1);
  const r1 = act('relu1', bn, 'relu');
  const p1 = maxPool('pool1', r1);
  const c2 = conv('conv2', p1, 6, { activation: 'relu' });
  const f = flatten('flatten', c2);
  const d1 = dense('dense1', f, 5, { activation: 'relu' });
  const d2 = dense('dense2', d1, 3, { activation: 'softmax' });
  return randomizeStatistics(graphOf('cnn', x, c1, bn, r1, p1, c2, f, d1, d2), 7);
}

/** relu6 conv, a strided 'valid' conv (a row and column no window reads), global pooling, tanh dense, logits out (no softmax: the output quantizer applies). */
function pooled(): Graph {
  const x = input('input', [6, 6, 1]);
  const c = conv('conv', x, 3, { activation: 'relu6' });
  const down: GraphNode = {
    name: 'down',
    op: 'conv2d',
    inputs: ['conv'],
    outputShape: [2, 2, 4],
    filters: 4,
    kernelSize: [3, 3],
    strides: [2, 2],
    padding: 'valid',
    dilation: [1, 1],
    activation: 'relu',
    weights: { kernel: weight([3, 3, 3, 4], 77), bias: weight([4], 78, 0, 0.5) },
  };
  const g = gap('gap', down);
  const d1 = dense('dense1', g, 4, { activation: 'tanh' });
  const d2 = dense('dense2', d1, 3);
  return graphOf('pooled', x, c, down, g, d1, d2);
}

function batch(graph: Graph, seed: number): { xs: Float32Array; ys: Int32Array } {
  const shape = graph.nodes[0]!.outputShape;
  const next = rng(seed);
  const xs = Float32Array.from({ length: N * shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 0.5);
  const classes = graph.nodes[graph.nodes.length - 1]!.outputShape[0]!;
  const ys = Int32Array.from({ length: N }, () => Math.floor(next() * classes));
  return { xs, ys };
}

/** max |got − ref| ≤ rel · max |ref| + abs (gradients that are zero in exact arithmetic, e.g. a bias before BatchNorm, are float noise on both sides). */
function assertClose(got: ArrayLike<number>, ref: ArrayLike<number>, rel: number, what: string, abs = 1e-6): void {
  assert.equal(got.length, ref.length, `${what}: ${got.length} values vs ${ref.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  assert.ok(diff <= rel * scale + abs, `${what}: max difference ${diff.toExponential(2)} at scale ${scale.toExponential(2)}`);
}

interface Case {
  graph: Graph;
  quantized: boolean;
  freeze: boolean;
  extra?: Parameters<typeof config>[0];
  /** Also build the graph with this update and compare its new weights with tf.train's on the graph's own gradients. */
  optimizer?: StepOptimizer;
}

const LR = 0.01;

function tfOptimizer(opt: StepOptimizer): tf.Optimizer {
  return opt.kind === 'adam' ? tf.train.adam(LR) : opt.kind === 'momentum' ? tf.train.momentum(LR, opt.momentum) : tf.train.sgd(LR);
}

/** One step both ways, compared. */
async function compareStep({ graph, quantized, freeze, extra, optimizer }: Case): Promise<void> {
  const cfg = config(extra);
  const { graph: foldedGraph, folded } = foldBatchNorm(graph);
  const plan = planQuantization(foldedGraph, cfg);
  const est = activationEstimator(cfg.estimator);
  const runtime = new GraphRuntime(graph, { trainable: true });
  const shape = graph.nodes[0]!.outputShape;
  const classes = graph.nodes[graph.nodes.length - 1]!.outputShape[0]!;
  const { xs, ys } = batch(graph, 11);
  const x = tf.tensor(xs, [N, ...shape]);
  const y = tf.tensor1d(ys, 'int32');
  try {
    const q = quantized ? makeQuantizers(plan, cfg) : null;
    const hooks = q ? qatHooks(graph, runtime, plan, folded, q) : undefined;
    if (q && hooks) {
      // Ranges from a different batch first, so the step's update is a real one.
      const init = batch(graph, 5);
      const all = [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)];
      for (const fq of all) fq.setMode('calibrate');
      tf.tidy(() => runtime.apply(tf.tensor(init.xs, [N, ...shape]), { hooks }));
      for (const fq of all) fq.setMode('qat');
    }
    const step = buildStepGraph({ graph, plan: quantized ? plan : null, folded, activationEstimator: est, freezeBatchNorm: freeze, optimizer: null });
    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(step.bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    const vars = new Map(runtime.weightVariables().map((w) => [`${w.node}/${w.weight}`, w.variable]));
    const onehot = new Float32Array(N * classes);
    ys.forEach((c, i) => (onehot[i * classes + c] = 1));
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
      x: new ort.Tensor('float32', xs, [N, ...shape]),
      onehot: new ort.Tensor('float32', onehot, [N, classes]),
      invBatch: new ort.Tensor('float32', Float32Array.of(1 / N), []),
    };
    for (const w of step.weights) feeds[`w/${w.node}/${w.weight}`] = new ort.Tensor('float32', Float32Array.from(vars.get(`${w.node}/${w.weight}`)!.dataSync() as Float32Array), w.shape);
    for (const a of step.activationRanges) {
      const r = q!.activations.get(a.name)!.observer.range();
      feeds[`range/${a.name}/min`] = new ort.Tensor('float32', Float32Array.from(r.min), [a.channels]);
      feeds[`range/${a.name}/max`] = new ort.Tensor('float32', Float32Array.from(r.max), [a.channels]);
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
      const copies = trainableSteps.map((w) => tf.variable(tf.tensor(feeds[`w/${w.node}/${w.weight}`]!.data as Float32Array, w.shape), true, `ref/${w.node}/${w.weight}`));
      const opt = tfOptimizer(optimizer);
      opt.applyGradients(Object.fromEntries(trainableSteps.map((w, i) => [copies[i]!.name, tf.tensor(out[`grad/${w.node}/${w.weight}`]!.data as Float32Array, w.shape)])));
      trainableSteps.forEach((w, i) => assertClose(updated[`next/w/${w.node}/${w.weight}`]!.data as Float32Array, copies[i]!.dataSync(), 1e-6, `${optimizer.kind} update of ${w.node}/${w.weight}`, 1e-7));
      opt.dispose();
      tf.dispose(copies);
    }

    // TF.js: the loop's loss, differentiated by TF.js (this also updates moving statistics and ranges).
    const trainable = runtime.weightVariables().filter((w) => w.variable.trainable);
    const { value, grads } = tf.variableGrads(
      () => crossEntropy(runtime.apply(x, { training: true, logits: true, freezeBatchNorm: freeze, ...(hooks ? { hooks } : {}) }), y, classes),
      trainable.map((w) => w.variable),
    );
    const loss = value.dataSync()[0]!;
    assert.ok(Math.abs((out['loss']!.data as Float32Array)[0]! - loss) <= 1e-5 * Math.max(1, Math.abs(loss)), `loss ${(out['loss']!.data as Float32Array)[0]} vs ${loss}`);
    for (const w of trainable) {
      const ref = grads[w.variable.name]!.dataSync();
      assertClose(out[`grad/${w.node}/${w.weight}`]!.data as Float32Array, ref, 2e-4, `gradient of ${w.node}/${w.weight}`);
    }
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(step.movingOutputs.length > 0, !freeze && graph.nodes.some((n) => n.op === 'batchNorm'));
    for (const key of step.movingOutputs) {
      assertClose(out[`next/${key}`]!.data as Float32Array, vars.get(key)!.dataSync(), 1e-5, key);
    }
    for (const a of step.activationRanges) {
      const r = q!.activations.get(a.name)!.observer.range();
      for (const side of ['min', 'max'] as const) {
        assertClose(out[`next/${a.name}/${side}`]!.data as Float32Array, r[side], 1e-5, `range ${a.name} ${side}`);
      }
    }
    for (const k of step.weightRanges) {
      const r = q!.weights.get(k.layer)!.fq.observer.range();
      assertClose(out[`wrange/${k.layer}/min`]!.data as Float32Array, r.min, 1e-6, `kernel range ${k.name} min`);
      assertClose(out[`wrange/${k.layer}/max`]!.data as Float32Array, r.max, 1e-6, `kernel range ${k.name} max`);
    }
    if (quantized) assert.ok(step.activationRanges.length > 0 && step.weightRanges.length > 0, 'the quantized step has quantizers');
  } finally {
    tf.dispose([x, y]);
    runtime.dispose();
  }
}

describe('ONNX training step against TF.js autodiff', () => {
  test('QAT, per-channel kernels, BatchNorm with batch statistics folded into the conv', async () => {
    await compareStep({ graph: cnn(), quantized: true, freeze: false, optimizer: { kind: 'adam' } });
  });

  test('QAT after the BatchNorm freeze (moving statistics, none updated)', async () => {
    await compareStep({ graph: cnn(), quantized: true, freeze: true, optimizer: { kind: 'momentum', momentum: 0.9 } });
  });

  test('QAT, per-tensor kernels, 4-bit, all-values activation ranges', async () => {
    await compareStep({
      graph: cnn(),
      quantized: true,
      freeze: false,
      extra: { weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' }, estimator: { kind: 'minmax' } },
    });
  });

  test('QAT with per-channel activations, relu6, global pooling, tanh and a logits output', async () => {
    await compareStep({ graph: pooled(), quantized: true, freeze: false, extra: { activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' } } });
  });

  test('float training (no quantizers)', async () => {
    await compareStep({ graph: cnn(), quantized: false, freeze: false });
    await compareStep({ graph: pooled(), quantized: false, freeze: false, optimizer: { kind: 'sgd' } });
  });

  test('declines branches and layers it has no gradient for, naming them', () => {
    const x = input('input', [4, 4, 2]);
    const a = conv('a', x, 2);
    const b = conv('b', x, 2);
    const s = add('sum', a, b);
    const f = flatten('flatten', s);
    const d = dense('dense', f, 2, { activation: 'softmax' });
    const branched = graphOf('branched', x, a, b, s, f, d);
    assert.throws(() => buildStepGraph({ graph: branched, plan: null, folded: [], activationEstimator: { kind: 'movingaverage', decay: 0.9 }, freezeBatchNorm: false, optimizer: null }), (e: Error) => e instanceof UnsupportedForNativeTraining && /b does not simply follow a/.test(e.message));
    const drop: GraphNode = { name: 'drop', op: 'dropout', inputs: ['flatten'], outputShape: [32], rate: 0.5 };
    const f2 = flatten('flatten', a);
    const d2 = dense('dense', drop, 2, { activation: 'softmax' });
    const dropped = graphOf('dropped', x, a, f2, drop, d2);
    assert.throws(() => buildStepGraph({ graph: dropped, plan: null, folded: [], activationEstimator: { kind: 'movingaverage', decay: 0.9 }, freezeBatchNorm: false, optimizer: null }), /drop drops 0.5/);
  });
});
