/**
 * AdaRound's step graph (engine/native/adaround-step.ts) on onnxruntime-node
 * against TF.js autodiff (tf.grad) of the same loss written with TF.js ops:
 *   h = clip(σ(V)·1.2 − 0.1, 0, 1),  W~ = lo + s·clip(floor + h, 0, levels),
 *   loss = Σ(f(W~ ∗ xq + b) − f(W ∗ xf + b))² / (N·positions) + λ Σ(1 − |2h − 1|^β)
 * on a Dense, a Conv2D and a DepthwiseConv2D (per-channel and per-tensor
 * grids, ReLU / ReLU6 / linear, a softmax output reconstructed as logits),
 * with V away from its start so both clips and the regulariser matter. The
 * gradients must agree to float32 rounding (1e-4 of the largest), the losses
 * to 1e-5 relative. Also: the soft kernel at V's start is the float kernel,
 * and one Adam step moves V as tf.train.adam does.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { activate } from '../../../../src-main/engine/graph/activations.js';
import { linearOp } from '../../../../src-main/engine/graph/runtime.js';
import type { GraphNode, WeightedNode } from '../../../../src-main/engine/graph/types.js';
import { AdaroundSession, buildAdaroundStep } from '../../../../src-main/engine/native/adaround-step.js';
import { nchwcBlockSize } from '../../../../src-main/engine/native/train/nchwc.js';
import { GAMMA, ZETA, initialV, kernelGrid, kernelObserver, type KernelGrid } from '../../../../src-main/engine/transform/adaround-grid.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { rng } from '../graph/fixtures.js';
import { config, conv, dense, depthwise, graphOf, input } from './graphs.js';

before(async () => {
  await initBackend('wasm');
});

const W4_PER_CHANNEL = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
const W3_ASYM_PER_TENSOR = { bits: 3, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;

interface Case {
  node: WeightedNode;
  inputShape: number[];
  grid: KernelGrid;
  logits: boolean;
}

function layerCase(from: GraphNode, layer: GraphNode, weights: typeof W4_PER_CHANNEL | typeof W3_ASYM_PER_TENSOR): Case {
  const graph = graphOf('g', from, layer);
  const cfg = config({ weights });
  const plan = planQuantization(graph, cfg);
  const wq = plan.weights[0]!;
  const node = layer as WeightedNode;
  const grid = kernelGrid(node.weights.kernel.values, wq, kernelObserver(node, wq, cfg.estimator).qparams());
  return { node, inputShape: [...from.outputShape], grid, logits: node.activation === 'softmax' };
}

function randomValues(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * next() - 1));
}

/** NHWC [N,H,W,C] → NCHW values (other ranks as they are). */
function toGraphLayout(x: Float32Array, shape: number[]): Float32Array {
  if (shape.length !== 4) return x;
  return tf.tidy(() => tf.transpose(tf.tensor(x, shape), [0, 3, 1, 2]).dataSync() as Float32Array).slice();
}

/** The loss as TF.js computes it, as a function of V. */
function tfLoss(c: Case, xq: tf.Tensor, xf: tf.Tensor, lambda: number, beta: number): (V: tf.Tensor) => tf.Scalar {
  const shape = c.node.weights.kernel.shape;
  const t = (v: Float32Array) => tf.tensor(v, shape);
  const floor = t(c.grid.floor);
  const scale = t(c.grid.scale);
  const lo = t(c.grid.lo);
  const W = t(c.node.weights.kernel.values);
  const bias = c.node.weights.bias ? tf.tensor1d(c.node.weights.bias.values) : null;
  const act = c.logits ? 'linear' : c.node.activation;
  const out = (x: tf.Tensor, k: tf.Tensor) => {
    const y = linearOp(c.node, x, k);
    return activate(bias ? tf.add(y, bias) : y, act);
  };
  const positions = c.node.outputShape.slice(0, -1).reduce((a, b) => a * b, 1) * xq.shape[0]!;
  return (V) => {
    const h = tf.clipByValue(tf.add(tf.mul(tf.sigmoid(V), ZETA - GAMMA), GAMMA), 0, 1);
    const soft = tf.add(lo, tf.mul(scale, tf.clipByValue(tf.add(floor, h), 0, c.grid.levels)));
    const rec = tf.div(tf.sum(tf.square(tf.sub(out(xq, soft), out(xf, W)))), positions);
    const reg = tf.sum(tf.sub(1, tf.pow(tf.abs(tf.sub(tf.mul(h, 2), 1)), beta)));
    return tf.add(rec, tf.mul(reg, lambda)) as tf.Scalar;
  };
}

async function compareGradient(name: string, c: Case, seed: number, nchwcBlock: number | null = null): Promise<void> {
  const n = 3;
  const shape = [n, ...c.inputShape];
  const size = shape.reduce((a, b) => a * b, 1);
  const xqValues = randomValues(size, seed, 2);
  // The float input: the quantized one plus a small perturbation (the earlier layers' rounding error).
  const xfValues = Float32Array.from(xqValues, (v, i) => v + 0.05 * Math.sin(i));
  // V from its start plus noise, so some h clip at 0 or 1 and the regulariser's slope varies.
  const V = Float32Array.from(initialV(c.grid.rest), (v, i) => v + 3 * Math.sin(7 * i + seed));
  const lambda = 0.37;
  const beta = 7.3;

  const session = await ort.InferenceSession.create(buildAdaroundStep({ ...c, optimizer: false, nchwcBlock }));
  const dims = shape.length === 4 ? [n, shape[3]!, shape[1]!, shape[2]!] : shape;
  const positions = c.node.outputShape.slice(0, -1).reduce((a, b) => a * b, 1) * n;
  const out = await session.run({
    xq: new ort.Tensor('float32', toGraphLayout(xqValues, shape), dims),
    xf: new ort.Tensor('float32', toGraphLayout(xfValues, shape), dims),
    V: new ort.Tensor('float32', V, c.node.weights.kernel.shape),
    lambda: new ort.Tensor('float32', Float32Array.of(lambda), []),
    beta: new ort.Tensor('float32', Float32Array.of(beta), []),
    invPositions: new ort.Tensor('float32', Float32Array.of(1 / positions), []),
  });
  await session.release();
  const onnxGrad = out['grad/V']!.data as Float32Array;
  const onnxLoss = (out['reconstruction']!.data as Float32Array)[0]! + lambda * (out['regularizer']!.data as Float32Array)[0]!;

  const xq = tf.tensor(xqValues, shape);
  const xf = tf.tensor(xfValues, shape);
  const f = tfLoss(c, xq, xf, lambda, beta);
  const vt = tf.tensor(V, c.node.weights.kernel.shape);
  const tfGrad = tf.grad(f)(vt).dataSync() as Float32Array;
  const tfLossValue = f(vt).dataSync()[0]!;
  tf.dispose([xq, xf, vt]);

  const largest = Math.max(...Array.from(tfGrad, Math.abs));
  let worst = 0;
  for (let i = 0; i < tfGrad.length; i++) worst = Math.max(worst, Math.abs(onnxGrad[i]! - tfGrad[i]!));
  assert.ok(largest > 1e-3, `${name}: the gradient is not trivially zero (${largest})`);
  assert.ok(worst <= 1e-4 * largest, `${name}: max |ONNX − TF.js| ${worst} against the largest gradient ${largest}`);
  assert.ok(Math.abs(onnxLoss - tfLossValue) <= 1e-5 * Math.abs(tfLossValue), `${name}: loss ${onnxLoss} vs ${tfLossValue}`);
  // Both clips matter at this V: some h sit at 0 or 1 (no gradient from them), others inside.
  const zeros = Array.from(tfGrad).filter((g) => g === 0).length;
  assert.ok(zeros > 0 && zeros < tfGrad.length, `${name}: ${zeros} of ${tfGrad.length} gradients are zero`);
  console.log(`${name}: ${tfGrad.length} weights, max |grad| ${largest.toExponential(2)}, max |ONNX − TF.js| ${worst.toExponential(2)}, loss ${onnxLoss.toPrecision(6)}`);
}

describe('AdaRound step graph against TF.js autodiff', () => {
  test('Dense (ReLU), 4-bit per-channel', async () => {
    const x = input('x', [12]);
    await compareGradient('dense', layerCase(x, dense('d', x, 7, { activation: 'relu' }), W4_PER_CHANNEL), 1);
  });

  test('Dense softmax output, reconstructed as logits, 3-bit asymmetric per-tensor', async () => {
    const x = input('x', [9]);
    await compareGradient('dense softmax', layerCase(x, dense('d', x, 5, { activation: 'softmax' }), W3_ASYM_PER_TENSOR), 2);
  });

  test('Conv2D 3×3 same (ReLU6), 4-bit per-channel', async () => {
    const x = input('x', [6, 5, 3]);
    await compareGradient('conv2d', layerCase(x, conv('c', x, 4, { activation: 'relu6' }), W4_PER_CHANNEL), 3);
  });

  test('DepthwiseConv2D 3×3, multiplier 2 (linear), 4-bit per-channel and 3-bit per-tensor', async () => {
    const x = input('x', [5, 6, 3]);
    await compareGradient('depthwise per-channel', layerCase(x, depthwise('dw', x, 2), W4_PER_CHANNEL), 4);
    await compareGradient('depthwise per-tensor', layerCase(x, depthwise('dw2', x, 2, { activation: 'relu' }), W3_ASYM_PER_TENSOR), 5);
  });

  test('DepthwiseConv2D on onnxruntime’s NCHWc kernels (what a run uses where the CPU has them)', async (t) => {
    const block = await nchwcBlockSize(ort);
    if (block === null) return t.skip('no NCHWc kernels on this CPU');
    const x = input('x', [6, 6, 16]);
    await compareGradient(`depthwise NCHWc ${block}`, layerCase(x, depthwise('dw', x, 1, { activation: 'relu6' }), W4_PER_CHANNEL), 6, block);
  });
});

describe('AdaRound start and update', () => {
  test('at V’s start the soft kernel is the float kernel: zero reconstruction loss on equal inputs', async () => {
    const x = input('x', [6, 6, 2]);
    const c = layerCase(x, conv('c', x, 3, { activation: 'relu' }), W4_PER_CHANNEL);
    const session = await AdaroundSession.create(c, initialV(c.grid.rest));
    const xs = toGraphLayout(randomValues(4 * 72, 9), [4, 6, 6, 2]);
    const rec = await session.reconstruction({ xq: xs, xf: xs, n: 4 }, session.V);
    // Float32 rounding of σ and of lo + s·(floor + h): the layer outputs agree to ~1e-6 of their size.
    assert.ok(rec < 1e-10, `reconstruction at the start ${rec}`);
    await session.release();
  });

  test('one step moves V as tf.train.adam does on the TF.js gradient', async () => {
    const x = input('x', [10]);
    const c = layerCase(x, dense('d', x, 4, { activation: 'relu' }), W4_PER_CHANNEL);
    const V0 = Float32Array.from(initialV(c.grid.rest), (v, i) => v + Math.cos(i));
    const session = await AdaroundSession.create(c, V0.slice());
    const xq = randomValues(8 * 10, 11, 2);
    const xf = Float32Array.from(xq, (v, i) => v + 0.1 * Math.cos(3 * i));
    await session.step({ xq, xf, n: 8 }, 0.01, 12);
    await session.release();

    const V = tf.variable(tf.tensor(V0, c.node.weights.kernel.shape));
    const f = tfLoss(c, tf.tensor(xq, [8, 10]), tf.tensor(xf, [8, 10]), 0.01, 12);
    tf.train.adam(1e-3).minimize(() => f(V));
    const expected = V.dataSync() as Float32Array;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(session.V[i]! - expected[i]!));
    // Adam's first step is ±lr·g/(|g| + ε) per weight: the same to float32 rounding where the gradients agree.
    assert.ok(worst < 1e-6, `max |V_onnx − V_tfjs| ${worst}`);
    const moved = Array.from(expected).filter((v, i) => Math.abs(v - V0[i]!) > 5e-4).length;
    assert.ok(moved > 0, 'the step moved V');
  });
});
