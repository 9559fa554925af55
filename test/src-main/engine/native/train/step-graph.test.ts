/**
 * The ONNX training step (onnxruntime-node) against TF.js's autodiff of the
 * same forward pass (the QAT hooks of qat/hooks.ts on the TF.js runtime),
 * compared by step-reference.ts: from the same weights, quantizer ranges
 * and batch, both must give the same loss, gradients for every trainable
 * weight, moving statistics and quantizer ranges, to float32 rounding
 * (relative to each tensor's scale). Covered here on chains: Conv (with
 * BatchNorm folded into it and not), Dense, BatchNorm with batch statistics
 * and frozen, MaxPool, GlobalAveragePool, Flatten, relu / relu6 / tanh,
 * per-channel and per-tensor kernels, the moving-average and all-values
 * activation estimators, float training (no quantizers), the update of
 * Adam / momentum / SGD against tf.train's on the same gradients, and a
 * layer it declines. DAGs: dag-step.test.ts; keras.applications models:
 * apps-step.test.ts and apps-float-step.test.ts. Last, the BatchNorm batch
 * variance against float64 on 65k values per channel.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import type { Conv2DNode, Graph, GraphNode } from '../../../../../src-main/engine/graph/types.js';
import { buildStepGraph, UnsupportedForNativeTraining } from '../../../../../src-main/engine/native/train/step-graph.js';
import { NativeTrainer } from '../../../../../src-main/engine/native/train/native-trainer.js';
import { GraphRuntime } from '../../../../../src-main/engine/graph/runtime.js';
import { Training } from '../../../../../src-main/api/run-config.js';
import { act, batchNorm, conv, dense, flatten, gap, graphOf, input, maxPool, randomizeStatistics, weight } from '../../transform/graphs.js';
import { rng } from '../../graph/fixtures.js';
import { compareStep } from './step-reference.js';

before(async () => {
  await initBackend('wasm');
});

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

/**
 * ReLUs fed exact zeros: where the input is ≤ 0, relu0 gives 0, and 1×1
 * convolutions with zero biases keep it 0 through conv1's own relu and the
 * Activation relu2 after conv2. tf.relu's gradient stops at 0 (x > 0), so
 * the quantizer that takes each ReLU over must too.
 */
function zeroFed(): Graph {
  const x = input('input', [4, 4, 1]);
  const r0 = act('relu0', x, 'relu');
  const c1 = conv('conv1', r0, 3, { k: 1, activation: 'relu' });
  const c2 = conv('conv2', c1, 2, { k: 1 });
  const r2 = act('relu2', c2, 'relu');
  const f = flatten('flatten', r2);
  const d = dense('dense', f, 3, { activation: 'softmax' });
  for (const c of [c1, c2] as Conv2DNode[]) c.weights.bias!.values.fill(0);
  return graphOf('zero_fed', x, r0, c1, c2, r2, f, d);
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

  test('QAT of ReLUs at exactly 0: no gradient there, as tf.relu gives', async () => {
    const { step, gradients } = await compareStep({ graph: zeroFed(), quantized: true, freeze: false });
    assert.ok(step.activationRanges.length >= 3, 'the ReLUs are quantized');
    assert.ok(gradients.has('conv1/bias') && gradients.has('conv2/bias'));
  });

  test('float training (no quantizers)', async () => {
    await compareStep({ graph: cnn(), quantized: false, freeze: false });
    await compareStep({ graph: pooled(), quantized: false, freeze: false, optimizer: { kind: 'sgd' } });
  });

  test('declines a layer the IR does not model, naming the layer and its class', () => {
    const x = input('input', [4, 4, 2]);
    const a = conv('a', x, 2);
    const norm: GraphNode = { name: 'layer_norm', op: 'layer', inputs: ['a'], outputShape: [4, 4, 2], className: 'LayerNormalization', config: {}, weights: {} };
    const f = flatten('flatten', norm);
    const d = dense('dense', f, 2, { activation: 'softmax' });
    const g = graphOf('opaque', x, a, norm, f, d);
    assert.throws(
      () => buildStepGraph({ graph: g, plan: null, folded: [], activationEstimator: { kind: 'movingaverage', decay: 0.9 }, freezeBatchNorm: false, optimizer: null }),
      (e: Error) => e instanceof UnsupportedForNativeTraining && /layer layer_norm \(LayerNormalization\)/.test(e.message),
    );
  });
});

// Against float64 rather than TF.js: the statistic itself, on enough values for the summation order to show.
test('the batch variance of a BatchNorm is the float64 one to a few float32 ulps, on 65k values per channel far from 0', async () => {
  // Momentum 0.5 from a zero moving variance: the step's update is variance·0.5, exact, so the batch variance is read back.
  const x = input('input', [32, 32, 8]);
  const bn = batchNorm('bn', x);
  bn.momentum = 0.5;
  bn.weights.movingVariance!.values.fill(0);
  const pooledBn = gap('gap', bn);
  const graph = graphOf('bn_variance', x, bn, pooledBn, dense('dense', pooledBn, 3, { activation: 'softmax' }));
  const n = 64;
  const per = 32 * 32 * 8;
  const random = rng(3);
  // Channel c: mean 3 + 2c, spread 0.1 + 0.05c (a conv output's offset dwarfs its spread).
  const xs = Float32Array.from({ length: n * per }, (_, i) => Math.fround(3 + 2 * (i % 8) + (random() - 0.5) * (0.1 + 0.05 * (i % 8))));
  const runtime = new GraphRuntime(graph);
  const trainer = await NativeTrainer.create({ graph, runtime, qat: null, training: Training.parse({ epochs: 1, batchSize: n, validationSplit: 0, optimizer: 'sgd', learningRate: 1e-3 }), inputShape: [32, 32, 8] });
  try {
    await trainer.step({ xs, ys: new Int32Array(n), size: n }, false);
    const moving = trainer.snapshot().get('bn/movingVariance')!;
    for (let c = 0; c < 8; c++) {
      let sum = 0;
      for (let i = c; i < xs.length; i += 8) sum += xs[i]!;
      const mean = sum / (xs.length / 8);
      let squares = 0;
      for (let i = c; i < xs.length; i += 8) squares += (xs[i]! - mean) ** 2;
      const exact = squares / (xs.length / 8);
      // onnxruntime's ReduceSumSquare, summing one element after another, was 1e-5 off here.
      assert.ok(Math.abs(2 * moving[c]! - exact) / exact < 2e-6, `channel ${c}: ${2 * moving[c]!} vs ${exact}`);
    }
  } finally {
    await trainer.dispose();
    runtime.dispose();
  }
});
