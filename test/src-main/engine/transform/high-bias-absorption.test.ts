/**
 * High-bias absorption (transform/high-bias-absorption.ts) in closed form:
 * after it, A → ReLU → B computes B(max(x, c)) where x is A's pre-activation
 * and c = max(0, β − 3γ) per channel (relu(x − c) + c = max(x, c) for c ≥ 0),
 * checked against that formula on a Dense pair; pairs whose zeros would be
 * padded into B's input, or without a ReLU, are left alone and listed.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { WeightedNode } from '../../../../src-main/engine/graph/types.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { equalizeLayers } from '../../../../src-main/engine/transform/cle.js';
import { foldedBnStatistics } from '../../../../src-main/engine/transform/bias-correction.js';
import { absorbHighBiases } from '../../../../src-main/engine/transform/high-bias-absorption.js';
import { act, batchNorm, conv, dense, graphOf, input } from './graphs.js';
import { rng } from '../graph/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

test('Dense → BN → ReLU → Dense: biases move by c and the model computes B(max(x, c))', () => {
  const x = input('x', [6]);
  const a = dense('a', x, 5);
  const bn = batchNorm('bn', a);
  // Large β, small γ on some channels: those have c = β − 3γ > 0.
  bn.weights.beta!.values.set([2, 0.1, 3, -1, 1.5]);
  bn.weights.gamma!.values.set([0.3, 1, 0.5, 0.2, -0.4]);
  const r = act('relu', bn, 'relu');
  const b = dense('b', r, 3);
  const source = graphOf('hba', x, a, bn, r, b);
  const { graph, folded } = foldBatchNorm(source);
  const cle = equalizeLayers(graph);
  const stats = foldedBnStatistics(source, folded, cle.outputScales);
  const before = new Map([...stats].map(([k, v]) => [k, v.mean.slice()]));
  const out = absorbHighBiases(cle.graph, cle.pairs, stats);
  const s = cle.outputScales.get('a')!;
  const c = Array.from({ length: 5 }, (_, i) => Math.max(0, (bn.weights.beta!.values[i]! - 3 * Math.abs(bn.weights.gamma!.values[i]!)) / s[i]!));
  assert.deepEqual(out.absorbed.map((p) => [p.first, p.second, p.channels]), [['a', 'b', c.filter((v) => v > 0).length]]);
  assert.equal(c.filter((v) => v > 0).length, 3);
  // The analytic bias correction after it sees A's mean lowered by c.
  for (let i = 0; i < 5; i++) assert.ok(Math.abs(stats.get('a')!.mean[i]! - (before.get('a')![i]! - c[i]!)) < 1e-9);

  const A = cle.graph.nodes.find((n) => n.name === 'a') as WeightedNode;
  const B = cle.graph.nodes.find((n) => n.name === 'b') as WeightedNode;
  const next = rng(9);
  const xs = tf.tensor2d(Float32Array.from({ length: 64 * 6 }, () => 4 * next() - 2), [64, 6]);
  const expected = tf.tidy(() => {
    const pre = tf.add(tf.matMul(xs, tf.tensor2d(A.weights.kernel.values, [6, 5])), tf.tensor1d(A.weights.bias!.values));
    const clamped = tf.maximum(pre, tf.tensor1d(c));
    return tf.add(tf.matMul(clamped, tf.tensor2d(B.weights.kernel.values, [5, 3])), tf.tensor1d(B.weights.bias!.values)).dataSync();
  });
  const runtime = new GraphRuntime(out.graph, { trainable: false });
  const got = runtime.apply(xs).dataSync();
  runtime.dispose();
  xs.dispose();
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-5, `${i}: ${got[i]} vs ${expected[i]}`);
});

test('zero padding into B, or no ReLU between, leaves the pair alone, listed', () => {
  const x = input('x', [6, 6, 2]);
  const c1 = conv('c1', x, 4, { bias: false });
  const n1 = batchNorm('bn1', c1);
  const r1 = act('r1', n1, 'relu');
  const c2 = conv('c2', r1, 4, { bias: false });
  const n2 = batchNorm('bn2', c2);
  const c3 = conv('c3', n2, 4, { k: 1 });
  const source = graphOf('skips', x, c1, n1, r1, c2, n2, c3);
  const { graph, folded } = foldBatchNorm(source);
  const cle = equalizeLayers(graph);
  const out = absorbHighBiases(cle.graph, cle.pairs, foldedBnStatistics(source, folded, cle.outputScales));
  assert.deepEqual(out.absorbed, []);
  assert.deepEqual(out.skipped, [
    { first: 'c1', second: 'c2', reason: "c2 pads its input with zeros ('same', 3×3), which absorption would turn into −c" },
    { first: 'c2', second: 'c3', reason: 'absorption needs one ReLU between them (found none)' },
  ]);
});
