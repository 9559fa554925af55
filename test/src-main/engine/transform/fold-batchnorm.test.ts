import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { AffineNode, BatchNormNode, DepthwiseConv2DNode, Graph, GraphNode } from '../../../../src-main/engine/graph/types.js';
import { isWeighted, nodeByName } from '../../../../src-main/engine/graph/types.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/index.js';
import { randomInput } from '../graph/fixtures.js';
import {
  act,
  add,
  batchNorm,
  concat,
  conv,
  dense,
  depthwise,
  graphOf,
  input,
  maxPool,
  randomizeStatistics,
  referenceBatchNorm,
  referenceConv,
  referenceDense,
  relativeError,
} from './graphs.js';

/**
 * Tolerance: max |folded − reference| / max |reference| ≤ 1e-5. Folding
 * rounds W·s and b·s + t to float32 once per weight (relative 6e-8 each); the
 * sums of a few hundred such products keep the error near 1e-6 of the output
 * scale, so 1e-5 leaves room without hiding a wrong channel (which shows up
 * as errors of order 1).
 */
const TOL = 1e-5;

before(async () => {
  await tf.setBackend('cpu');
});

function run(graph: Graph, x: tf.Tensor, logits = false): Float32Array {
  const rt = new GraphRuntime(graph);
  try {
    const y = rt.apply(x, { logits });
    const out = y.dataSync() as Float32Array;
    y.dispose();
    return out;
  } finally {
    rt.dispose();
  }
}

interface Case {
  name: string;
  graph: Graph;
  /** The weighted layer the BN must fold into. */
  into: string;
  /** float64 reference of the unfolded layer + BN (Keras's formula). */
  reference(x: Float32Array, shape: number[]): Float64Array;
}

function convCase(name: string, layer: GraphNode, inNode: GraphNode): Case {
  const bn = batchNorm(`${name}_bn`, layer);
  return {
    name,
    graph: graphOf(name, inNode, layer, bn),
    into: layer.name,
    reference: (x, shape) => referenceBatchNorm(bn, referenceConv(layer, x, shape)),
  };
}

const img = input('input', [6, 5, 3]);
const vec = input('input', [7]);
const denseLayer = dense('dense', vec, 4);
const denseNoBias = dense('dense', vec, 5, { bias: false });
const denseBn = batchNorm('dense_bn', denseLayer);
const denseNoBiasBn = batchNorm('dense_bn', denseNoBias);

const cases: Case[] = [
  convCase('conv2d', conv('conv2d', img, 4), img),
  convCase('conv2d_nobias', conv('conv2d', img, 4, { bias: false }), img),
  convCase('depthwise_mult1', depthwise('depthwise_conv2d', img, 1, { bias: false }), img),
  convCase('depthwise_mult2', depthwise('depthwise_conv2d', img, 2), img),
  {
    name: 'dense',
    graph: graphOf('dense', vec, denseLayer, denseBn),
    into: 'dense',
    reference: (x, shape) => referenceBatchNorm(denseBn, referenceDense(denseLayer, x, shape[0]!)),
  },
  {
    name: 'dense_nobias',
    graph: graphOf('dense_nobias', vec, denseNoBias, denseNoBiasBn),
    into: 'dense',
    reference: (x, shape) => referenceBatchNorm(denseNoBiasBn, referenceDense(denseNoBias, x, shape[0]!)),
  },
];

for (const c of cases) {
  test(`${c.name} → BN folds, and the folded layer equals the float64 Keras formula and the unfolded runtime to ${TOL} relative`, () => {
    const { graph: folded, folded: records, kept } = foldBatchNorm(c.graph);
    const bn = c.graph.nodes[2] as BatchNormNode;
    const layer = nodeByName(c.graph, c.into);
    assert.deepEqual(kept, []);
    assert.deepEqual(records, [
      { batchNorm: bn.name, layer: c.into, op: layer.op, channels: layer.outputShape[layer.outputShape.length - 1], biasAdded: isWeighted(layer) && !layer.weights.bias },
    ]);
    assert.deepEqual(
      folded.nodes.map((n) => n.name),
      ['input', c.into],
    );
    assert.equal(folded.output, c.into);

    const shape = [3, ...c.graph.nodes[0]!.outputShape];
    const x = randomInput(shape, 17);
    // Inputs in [-2, 2) so negative values exercise the signs too.
    const xs = tf.tidy(() => x.mul(4).sub(2));
    const xv = xs.dataSync() as Float32Array;
    const ref = c.reference(xv, shape);
    const got = run(folded, xs);
    const unfolded = run(c.graph, xs);
    assert.ok(relativeError(got, ref) <= TOL, `folded vs float64 reference: ${relativeError(got, ref)}`);
    assert.ok(relativeError(unfolded, ref) <= TOL, `unfolded runtime vs float64 reference: ${relativeError(unfolded, ref)}`);
    assert.ok(relativeError(got, unfolded) <= TOL, `folded vs unfolded: ${relativeError(got, unfolded)}`);
    tf.dispose([x, xs]);
  });
}

test('a wrong channel order would be caught: the depthwise reference differs from a kernel with swapped channels', () => {
  // Guards the reference itself: scaling the depthwise kernel by channel c (not c·mult + m) must not pass.
  const layer = depthwise('depthwise_conv2d', img, 2) as DepthwiseConv2DNode;
  const bn = batchNorm('bn', layer);
  const { graph: folded } = foldBatchNorm(graphOf('g', img, layer, bn));
  const node = folded.nodes[1]!;
  if (node.op !== 'depthwiseConv2d') throw new Error('expected depthwise');
  const wrong = structuredClone(folded);
  const wrongNode = wrong.nodes[1] as typeof node;
  const s = (k: number) => bn.weights.gamma!.values[k]! / Math.sqrt(bn.weights.movingVariance.values[k]! + bn.epsilon);
  // Undo the right scale and apply the scale of channel floor(o / 2) instead.
  wrongNode.weights.kernel.values = layer.weights.kernel.values.map((v, i) => v * s(Math.floor((i % 6) / 2)));
  const shape = [2, 6, 5, 3];
  const x = randomInput(shape, 3);
  const ref = referenceBatchNorm(bn, referenceConv(layer, x.dataSync() as Float32Array, shape));
  assert.ok(relativeError(run(folded, x), ref) <= TOL);
  assert.ok(relativeError(run(wrong, x), ref) > 1e-2);
  x.dispose();
});

test('the input graph is left unchanged', () => {
  const layer = conv('conv2d', img, 4);
  const bn = batchNorm('bn', layer);
  const graph = graphOf('g', img, layer, bn);
  const before = structuredClone(graph);
  foldBatchNorm(graph);
  assert.deepEqual(graph, before);
});

test('Conv → BN → BN → ReLU folds both BNs into the conv', () => {
  const layer = conv('conv2d', img, 4);
  const bn1 = batchNorm('bn1', layer);
  const bn2 = batchNorm('bn2', bn1);
  const relu = act('relu', bn2, 'relu');
  const graph = graphOf('g', img, layer, bn1, bn2, relu);
  const { graph: folded, folded: records } = foldBatchNorm(graph);
  assert.deepEqual(records.map((r) => [r.batchNorm, r.layer]), [['bn1', 'conv2d'], ['bn2', 'conv2d']]);
  assert.deepEqual(folded.nodes.map((n) => n.name), ['input', 'conv2d', 'relu']);
  assert.deepEqual(nodeByName(folded, 'relu').inputs, ['conv2d']);
  const x = randomInput([2, 6, 5, 3], 9);
  assert.ok(relativeError(run(folded, x), run(graph, x)) <= TOL);
  x.dispose();
});

test('Conv → ReLU → BN is not folded and is reported as after-activation, naming the conv', () => {
  const layer = conv('conv2d', img, 4);
  const relu = act('activation', layer, 'relu');
  const bn = batchNorm('batch_normalization', relu);
  const graph = graphOf('g', img, layer, relu, bn);
  const { graph: out, folded, kept } = foldBatchNorm(graph);
  assert.deepEqual(folded, []);
  assert.deepEqual(kept, [
    { batchNorm: 'batch_normalization', blocker: { reason: 'after-activation', producer: 'activation', activation: 'relu', weightedLayer: 'conv2d' } },
  ]);
  assert.deepEqual(out.nodes.map((n) => [n.name, n.op]), [['input', 'input'], ['conv2d', 'conv2d'], ['activation', 'activation'], ['batch_normalization', 'affine']]);
  const x = randomInput([2, 6, 5, 3], 4);
  assert.ok(relativeError(run(out, x), run(graph, x)) <= 1e-6);
  x.dispose();
});

test('Conv2D(activation relu) → BN is not folded (the ReLU is fused into the conv)', () => {
  const layer = conv('conv2d', img, 4, { activation: 'relu' });
  const bn = batchNorm('bn', layer);
  const { folded, kept } = foldBatchNorm(graphOf('g', img, layer, bn));
  assert.deepEqual(folded, []);
  assert.deepEqual(kept[0]?.blocker, { reason: 'after-activation', producer: 'conv2d', activation: 'relu', weightedLayer: 'conv2d' });
});

test('a BN whose producer has another consumer is not folded (the other reader would see the rescaled output)', () => {
  const layer = conv('conv2d', img, 4);
  const bn = batchNorm('bn', layer);
  const sum = add('add', layer, bn);
  const graph = graphOf('g', img, layer, bn, sum);
  const { graph: out, folded, kept } = foldBatchNorm(graph);
  assert.deepEqual(folded, []);
  assert.deepEqual(kept, [{ batchNorm: 'bn', blocker: { reason: 'shared-producer', producer: 'conv2d', otherConsumers: ['add'] } }]);
  // The BN becomes an affine in place; everything else is the input graph's own nodes.
  assert.deepEqual(out.nodes.map((n) => [n.name, n.op, n.inputs]), [['input', 'input', []], ['conv2d', 'conv2d', ['input']], ['bn', 'affine', ['conv2d']], ['add', 'add', ['conv2d', 'bn']]]);
  for (const i of [0, 1, 3]) assert.equal(out.nodes[i], graph.nodes[i]);
});

test('a BN after a pooling layer is not folded (no weights to fold into)', () => {
  const layer = conv('conv2d', img, 4);
  const pool = maxPool('pool', layer);
  const bn = batchNorm('bn', pool);
  const { kept } = foldBatchNorm(graphOf('g', img, layer, pool, bn));
  assert.deepEqual(kept, [{ batchNorm: 'bn', blocker: { reason: 'not-after-weighted-layer', producer: 'pool' } }]);
});

// ---- A BN with nothing to fold into: an affine node, x·s + t per channel, as TF computes it ----

/** A BN node of these statistics over `from`'s channels. */
function bnOf(name: string, from: GraphNode, stats: { gamma?: number[]; beta?: number[]; mean: number[]; variance: number[]; epsilon: number }): BatchNormNode {
  const w = (v: number[]) => ({ shape: [v.length], values: Float32Array.from(v) });
  return {
    name,
    op: 'batchNorm',
    inputs: [from.name],
    outputShape: [...from.outputShape],
    epsilon: stats.epsilon,
    momentum: 0.99,
    weights: { ...(stats.gamma ? { gamma: w(stats.gamma) } : {}), ...(stats.beta ? { beta: w(stats.beta) } : {}), movingMean: w(stats.mean), movingVariance: w(stats.variance) },
  };
}

/** The BN's output on x by the graph runtime (tfjs's batchNorm), and the affine's, both float32. */
function bnAndAffine(graph: Graph, x: tf.Tensor): { bn: Float32Array; affine: Float32Array; folded: Graph } {
  const { graph: folded } = foldBatchNorm(graph);
  return { bn: run(graph, x), affine: run(folded, x), folded };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

test('a BN after a Concatenate becomes an affine of its name: closed-form scale and offset, and the BN\'s output to 1e-6', () => {
  // σ² + ε is 4 and 1 exactly (ε = 0.25): s = γ/√(σ²+ε) = 3/2 and 0.5/1, t = β − μ·s = 1 − 2·1.5 and −1 + 4·0.5.
  const x = input('input', [3, 3, 1]);
  const a = conv('a', x, 1);
  const b = conv('b', x, 1);
  const cat = concat('concat', a, b);
  const bn = bnOf('bn', cat, { gamma: [3, 0.5], beta: [1, -1], mean: [2, -4], variance: [3.75, 0.75], epsilon: 0.25 });
  const relu = act('relu', bn, 'relu');
  const graph = graphOf('g', x, a, b, cat, bn, relu);
  const { graph: folded, folded: records, kept } = foldBatchNorm(graph);
  assert.deepEqual(records, []);
  assert.deepEqual(kept, [{ batchNorm: 'bn', blocker: { reason: 'not-after-weighted-layer', producer: 'concat' } }]);
  const affine = nodeByName(folded, 'bn') as AffineNode;
  assert.deepEqual(affine, { name: 'bn', op: 'affine', inputs: ['concat'], outputShape: [3, 3, 2], scale: [1.5, 0.5], offset: [-2, 1], kerasClass: 'BatchNormalization' });
  assert.deepEqual(nodeByName(folded, 'relu').inputs, ['bn']);
  assert.equal(folded.nodes.filter((n) => n.op === 'batchNorm').length, 0);
  // On the concatenated values v: y = 1.5·v − 2 (channel 0), 0.5·v + 1 (channel 1), then ReLU.
  const input3 = randomInput([2, 3, 3, 1], 12);
  const { bn: want, affine: got } = bnAndAffine({ ...graph, output: 'bn' }, input3);
  const catValues = run({ ...graph, output: 'concat' }, input3);
  const closed = catValues.map((v, i) => (i % 2 === 0 ? 1.5 * v - 2 : 0.5 * v + 1));
  assert.ok(maxAbs(got, want) <= 1e-6, `affine vs BN: ${maxAbs(got, want)}`);
  assert.ok(maxAbs(got, closed) <= 1e-6, `affine vs closed form: ${maxAbs(got, closed)}`);
  input3.dispose();
});

test("the affine is TF's float32 arithmetic with the BN's own epsilon (DenseNet's 1.001e-5), γ or β absent as 1 and 0", () => {
  const x = input('input', [4, 4, 3]);
  const c = conv('c', x, 3);
  const pool = maxPool('pool', c);
  const eps = 1.001e-5;
  const stats = { gamma: [0.8, -1.7, 2.5], beta: [0.3, -0.2, 1.1], mean: [0.5, -1.25, 3], variance: [0.04, 2e-5, 9], epsilon: eps };
  for (const [what, s] of [
    ['γ and β', stats],
    ['no γ (scale=false)', { beta: stats.beta, mean: stats.mean, variance: stats.variance, epsilon: eps }],
    ['no β (center=false)', { gamma: stats.gamma, mean: stats.mean, variance: stats.variance, epsilon: eps }],
  ] as const) {
    const bn = bnOf('bn', pool, s);
    const graph = graphOf('g', x, c, pool, bn);
    const affine = nodeByName(foldBatchNorm(graph).graph, 'bn') as AffineNode;
    // TF: inv = rsqrt(σ² + ε)·γ, offset = β − μ·inv, each op in float32.
    const f = Math.fround;
    for (let k = 0; k < 3; k++) {
      const g = 'gamma' in s ? f(s.gamma[k]!) : 1;
      const inv = f(f(1 / f(Math.sqrt(f(f(s.variance[k]!) + f(eps))))) * g);
      assert.equal(affine.scale[k], inv, `${what}: scale[${k}]`);
      assert.equal(affine.offset[k], f(('beta' in s ? f(s.beta[k]!) : 0) - f(f(s.mean[k]!) * inv)), `${what}: offset[${k}]`);
      // ε matters: channel 1's σ² = 2e-5 is twice ε, so leaving ε out (or using Keras's default 1e-3) moves s by 20% or more.
      if (k === 1) assert.ok(Math.abs(affine.scale[k]! / (g / Math.sqrt(s.variance[k]!)) - 1) > 0.15);
    }
    const xs = randomInput([2, 4, 4, 3], 31);
    const { bn: want, affine: got } = bnAndAffine(graph, xs);
    const scale = Math.max(...Array.from(want, Math.abs));
    assert.ok(maxAbs(got, want) <= 1e-6 * Math.max(1, scale), `${what}: affine vs BN ${maxAbs(got, want)} (outputs up to ${scale})`);
    xs.dispose();
  }
});

test('chains: Concatenate → BN → BN are two affines; Conv → BN → ReLU → BN folds the first and makes the second an affine', () => {
  const x = input('input', [4, 4, 2]);
  const a = conv('a', x, 2);
  const b = conv('b', x, 2);
  const cat = concat('cat', a, b);
  const bn1 = batchNorm('bn1', cat);
  const bn2 = batchNorm('bn2', bn1);
  const g1 = graphOf('g1', x, a, b, cat, bn1, bn2);
  const r1 = foldBatchNorm(g1);
  assert.deepEqual(r1.kept.map((k) => [k.batchNorm, k.blocker.producer]), [['bn1', 'cat'], ['bn2', 'bn1']]);
  assert.deepEqual(r1.graph.nodes.slice(-2).map((n) => [n.name, n.op, n.inputs]), [['bn1', 'affine', ['cat']], ['bn2', 'affine', ['bn1']]]);
  const c = conv('c', x, 3);
  const bnc = batchNorm('bnc', c);
  const relu = act('relu', bnc, 'relu');
  const bnr = batchNorm('bnr', relu);
  const g2 = graphOf('g2', x, c, bnc, relu, bnr);
  const r2 = foldBatchNorm(g2);
  assert.deepEqual(r2.folded.map((f) => [f.batchNorm, f.layer]), [['bnc', 'c']]);
  assert.deepEqual(r2.graph.nodes.map((n) => [n.name, n.op]), [['input', 'input'], ['c', 'conv2d'], ['relu', 'activation'], ['bnr', 'affine']]);
  for (const [graph, folded] of [[g1, r1.graph], [g2, r2.graph]] as const) {
    const xs = randomInput([3, 4, 4, 2], 8);
    assert.ok(relativeError(run(folded, xs), run(graph, xs)) <= 1e-6, graph.name);
    xs.dispose();
  }
});

const builtins: [string, number][] = [
  ['conv_bn_relu_dense', 1],
  ['fashion_cnn', 2],
  ['fashion_dwsep', 7],
];

for (const [name, bnCount] of builtins) {
  test(`${name} with random BN statistics: every BN folds and the logits equal the unfolded model's to ${TOL} relative`, () => {
    const entry = builtinModel(name);
    const graph = randomizeStatistics(entry.build(), 41);
    const bns = graph.nodes.filter((n) => n.op === 'batchNorm') as BatchNormNode[];
    assert.equal(bns.length, bnCount);
    // The statistics really are non-trivial (a fold with γ = 1, μ = 0, σ² = 1 would hide mistakes).
    for (const bn of bns) assert.ok(bn.weights.movingMean.values.some((v) => Math.abs(v) > 0.1));
    const { graph: folded, folded: records, kept } = foldBatchNorm(graph);
    assert.deepEqual(kept, []);
    assert.deepEqual(records.map((r) => r.batchNorm), bns.map((b) => b.name));
    for (const r of records) assert.equal(nodeByName(graph, r.batchNorm).inputs[0], r.layer);
    assert.equal(folded.nodes.filter((n) => n.op === 'batchNorm').length, 0);
    assert.equal(folded.nodes.length, graph.nodes.length - bnCount);

    const x = randomInput([4, ...entry.inputShape], 23);
    const got = run(folded, x, true);
    const ref = run(graph, x, true);
    const err = relativeError(got, ref);
    assert.ok(err <= TOL, `${name}: relative error ${err}`);
    // And the folded probabilities too.
    assert.ok(relativeError(run(folded, x), run(graph, x)) <= TOL);
    x.dispose();
  });
}

test('fashion_dwsep: depthwise BNs fold per in·mult channel and bias-free layers get a bias', () => {
  const { folded } = foldBatchNorm(randomizeStatistics(builtinModel('fashion_dwsep').build(), 5));
  const dw = folded.filter((r) => r.op === 'depthwiseConv2d');
  assert.deepEqual(dw.map((r) => r.channels), [16, 32, 64]);
  assert.ok(folded.every((r) => r.biasAdded));
});
