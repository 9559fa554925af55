/**
 * QAT: the simulated BatchNorm folding computes what the folded integer model
 * computes, per-channel quantizers stay per-channel during training, ranges
 * are logged with the curves, and the variable explanation matches Keras's
 * count for the 784-256-128-10 Dense model of the users' question
 * (235,146 → 235,164).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { deserializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import type { AffineNode, BatchNormNode, Graph } from '../../../../src-main/engine/graph/types.js';
import { isWeighted, nodeByName } from '../../../../src-main/engine/graph/types.js';
import { simulationHooks } from '../../../../src-main/engine/ptq/sim-hooks.js';
import { qatHooks } from '../../../../src-main/engine/qat/hooks.js';
import { makeQuantizers, runQat } from '../../../../src-main/engine/qat/run.js';
import { explainVariables } from '../../../../src-main/engine/qat/variables.js';
import { createObserver } from '../../../../src-main/engine/quant/observers/index.js';
import type { QParams } from '../../../../src-main/engine/quant/qparams.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import type { CurvePoint } from '../../../../src-main/store/curves.js';
import { SAMPLE_DATA, config, context } from '../ptq/ptq-fixtures.js';
import { cnnWithBnStats } from './qat-graphs.js';
import { act, batchNorm, concat, conv, dense, flatten, graphOf, input, maxPool } from '../transform/graphs.js';

before(async () => {
  await initBackend('wasm');
});

describe('QAT forward with simulated BatchNorm folding', () => {
  test('with frozen BN it equals the folded model with the same fake quantization', () => {
    const graph = cnnWithBnStats();
    const cfg = config();
    const { graph: folded, folded: records } = foldBatchNorm(graph);
    const plan = planQuantization(folded, cfg);
    const runtime = new GraphRuntime(graph, { trainable: false });
    const foldedRuntime = new GraphRuntime(folded, { trainable: false });
    const q = makeQuantizers(plan, cfg);
    const hooks = qatHooks(graph, runtime, plan, records, q);
    const x = tf.randomUniform([16, 28, 28, 1], 0, 1, 'float32', 3);
    // Observe (calibrate), then freeze the ranges and fake-quantize.
    for (const fq of [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)]) fq.setMode('calibrate');
    runtime.apply(x, { hooks }).dispose();
    for (const fq of [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)]) fq.setMode('frozen');
    const qat = runtime.apply(x, { hooks });

    // The same ranges on the folded graph: activations from the QAT quantizers, kernels from the folded kernels.
    const qparams = new Map<string, QParams>();
    for (const [name, fq] of q.activations) qparams.set(name, fq.observer.qparams());
    for (const wq of plan.weights) {
      const node = folded.nodes.find((n) => n.name === wq.layer)!;
      if (!('weights' in node)) throw new Error('fixture');
      const k = (node.weights as { kernel: { values: Float32Array; shape: number[] } }).kernel;
      const view = tf.tensor(k.values, wq.view);
      const obs = createObserver({ kind: 'lastvalue', decay: 0.999, percentile: 99.99, bins: 2048 }, wq.spec, wq.axis !== null ? { axis: wq.axis } : {});
      obs.observe(view);
      view.dispose();
      qparams.set(wq.name, obs.qparams());
      // The QAT weight quantizer saw W·s: the same per-channel scales as the folded kernel.
      const seen = q.weights.get(wq.layer)!.fq.observer.qparams();
      assert.equal(seen.scale.length, wq.channels);
      for (let c = 0; c < wq.channels; c++) assert.ok(Math.abs(seen.scale[c]! - qparams.get(wq.name)!.scale[c]!) <= 1e-6 * Math.abs(seen.scale[c]!) + 1e-12, `${wq.layer} channel ${c} scale`);
    }
    const ref = foldedRuntime.apply(x, { hooks: simulationHooks(plan, qparams) });
    const diff = tf.max(tf.abs(tf.sub(qat, ref))).dataSync()[0]!;
    console.log(`QAT-with-frozen-BN vs folded integer simulation: max |diff| = ${diff.toExponential(2)}`);
    // Outputs are softmax probabilities quantized to 1/255 steps: allow at most one step where a rounding tie flips.
    assert.ok(diff <= 1 / 255 + 1e-6, `max diff ${diff}`);
    for (const t of [x, qat, ref]) t.dispose();
    runtime.dispose();
    foldedRuntime.dispose();
  });
});

describe('a QAT run', () => {
  test('trains, keeps per-channel vectors, logs quantizer ranges with the curves, returns the trained model', async () => {
    const graph = cnnWithBnStats();
    const points: CurvePoint[] = [];
    const ctx = { ...context(), emit: (name: string, data: unknown) => (name === 'curves' ? points.push(...(data as CurvePoint[])) : undefined) };
    const cfg = config({ training: { epochs: 1, batchSize: 64, validationSplit: 0.1, bnFreezeStep: 10 }, eval: { count: 300, seed: 1 } });
    const r = await runQat({ config: cfg, modelName: 'cnn', model: serializeGraph(graph), dataset: SAMPLE_DATA }, ctx);
    const weights = r.tensors.filter((t) => t.role === 'weight');
    assert.deepEqual(
      weights.map((t) => [t.layer, t.channels, t.perChannel?.scale.length]),
      [['conv2d', 32, 32], ['conv2d_1', 64, 64], ['dense', 128, 128], ['dense_1', 10, 10]],
    );
    const train = points.filter((p) => p.split === 'train');
    assert.ok(train.length > 3, 'train curve points streamed');
    const ranges = train.at(-1)!.ranges!;
    assert.ok(ranges['input'] && ranges['input'].max > 0.9 && ranges['input'].min <= 0.01, `input range logged: ${JSON.stringify(ranges['input'])}`);
    assert.ok(ranges['conv2d/kernel'], 'kernel range envelope logged');
    assert.ok(train.at(-1)!.loss! < train[0]!.loss!, 'loss went down');
    assert.ok(r.trainedModel.length > 1000);
    assert.ok(r.quantAccuracy! > 0.5, `QAT accuracy ${r.quantAccuracy} on the subset after one short epoch`);
    const trainedOn = (r.summary as { train: { runtime: string; threads?: number } }).train;
    assert.equal(trainedOn.runtime, 'onnxruntime', 'a chain of Conv/BN/ReLU/MaxPool/Dense trains on onnxruntime');

    // The same run with STUDIO_TRAINING_RUNTIME=tfjs: TF.js autodiff; the result agrees to training noise.
    process.env['STUDIO_TRAINING_RUNTIME'] = 'tfjs';
    try {
      const t = await runQat({ config: cfg, modelName: 'cnn', model: serializeGraph(graph), dataset: SAMPLE_DATA }, context());
      assert.equal((t.summary as { train: { runtime: string } }).train.runtime, 'tfjs');
      assert.ok(Math.abs(t.quantAccuracy! - r.quantAccuracy!) <= 0.05, `QAT accuracy onnxruntime ${r.quantAccuracy} vs TF.js ${t.quantAccuracy}`);
    } finally {
      delete process.env['STUDIO_TRAINING_RUNTIME'];
    }
  });
});

describe('a QAT run of the depthwise-separable built-in', () => {
  test('fashion_dwsep (DepthwiseConv2D, BatchNorm, ReLU6, global pooling) trains on onnxruntime, step for step as on TF.js', async () => {
    const graph = builtinModel('fashion_dwsep').build();
    // Freeze BatchNorm at step 20 of 29, so both step graphs (batch and moving statistics) run.
    const cfg = config({ training: { epochs: 1, batchSize: 64, validationSplit: 0.1, bnFreezeStep: 20 }, eval: { count: 200, seed: 1 } });
    const run = async () => {
      const points: CurvePoint[] = [];
      const ctx = { ...context(), emit: (name: string, data: unknown) => (name === 'curves' ? points.push(...(data as CurvePoint[])) : undefined) };
      const r = await runQat({ config: cfg, modelName: 'fashion_dwsep', model: serializeGraph(graph), dataset: SAMPLE_DATA }, ctx);
      return { r, losses: points.filter((p) => p.split === 'train').map((p) => p.loss!) };
    };
    const native = await run();
    const trainedOn = (native.r.summary as { train: { runtime: string; nativeSkipped?: string } }).train;
    assert.equal(trainedOn.runtime, 'onnxruntime', `fashion_dwsep trains on onnxruntime (skipped: ${trainedOn.nativeSkipped})`);
    assert.equal(trainedOn.nativeSkipped, undefined);
    const weights = native.r.tensors.filter((t) => t.role === 'weight');
    assert.ok(weights.some((t) => t.layer.startsWith('depthwise_conv2d') && t.channels === 16), 'depthwise kernels are quantized per in·mult channel');

    // The same run on TF.js: the same curve, step for step, to float rounding carried through training.
    process.env['STUDIO_TRAINING_RUNTIME'] = 'tfjs';
    try {
      const tfjs = await run();
      assert.equal((tfjs.r.summary as { train: { runtime: string } }).train.runtime, 'tfjs');
      assert.equal(native.losses.length, tfjs.losses.length);
      native.losses.forEach((l, i) => assert.ok(Math.abs(l - tfjs.losses[i]!) <= 0.02, `step ${i + 1}: loss ${l} on onnxruntime, ${tfjs.losses[i]} on TF.js`));
      assert.ok(Math.abs(native.r.quantAccuracy! - tfjs.r.quantAccuracy!) <= 0.05, `QAT accuracy onnxruntime ${native.r.quantAccuracy} vs TF.js ${tfjs.r.quantAccuracy}`);
    } finally {
      delete process.env['STUDIO_TRAINING_RUNTIME'];
    }
  });
});

/**
 * DenseNet's pattern on Fashion-MNIST: two convs concatenated, a
 * BatchNormalization on the Concatenate (nothing to fold into: the plan
 * quantizes it as an affine with its own range), ReLU, pool, Dense.
 */
function concatBnGraph(): Graph {
  const x = input('input', [28, 28, 1]);
  const a = conv('a', x, 4);
  const pa = maxPool('pa', a);
  const b = conv('b', pa, 4);
  const c = conv('c', pa, 4);
  const cat = concat('cat', b, c);
  const bn = batchNorm('bn', cat);
  const relu = act('relu', bn, 'relu');
  const pool = maxPool('pool', relu);
  const f = flatten('flatten', pool);
  const d = dense('dense', f, 10, { activation: 'softmax' });
  // Seeded kernels are uniform in [-1, 1]: scale them to He's range so the untrained logits are not saturated.
  for (const n of [a, b, c, d]) {
    if (!isWeighted(n)) continue;
    const k = n.weights.kernel;
    const fanIn = k.values.length / k.shape[k.shape.length - 1]!;
    k.values.forEach((v, i, arr) => (arr[i] = v * Math.sqrt(6 / fanIn) * 0.5));
  }
  return graphOf('concat_bn', x, a, pa, b, c, cat, bn, relu, pool, f, d);
}

describe('a BatchNormalization the fold cannot take, in QAT', () => {
  test("with frozen BN the QAT forward (the BN as a layer, its output fake-quantized) equals the folded model with the BN as its affine", () => {
    const graph = concatBnGraph();
    const cfg = config();
    const { graph: folded, folded: records, kept } = foldBatchNorm(graph);
    assert.deepEqual(kept.map((k) => k.batchNorm), ['bn']);
    assert.equal(nodeByName(folded, 'bn').op, 'affine');
    const plan = planQuantization(folded, cfg);
    assert.deepEqual(plan.float, []);
    assert.ok(plan.activations.some((a) => a.name === 'bn/output' && a.role === 'affine' && a.at === 'bn'));
    const runtime = new GraphRuntime(graph, { trainable: false });
    const foldedRuntime = new GraphRuntime(folded, { trainable: false });
    const q = makeQuantizers(plan, cfg);
    const hooks = qatHooks(graph, runtime, plan, records, q);
    const x = tf.randomUniform([16, 28, 28, 1], 0, 1, 'float32', 5);
    const all = [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)];
    for (const fq of all) fq.setMode('calibrate');
    runtime.apply(x, { hooks }).dispose();
    for (const fq of all) fq.setMode('frozen');
    const qat = runtime.apply(x, { hooks });
    assert.ok(q.activations.get('bn/output')!.observer.batches > 0, "the BN's output was observed in QAT's forward pass");
    const qparams = new Map<string, QParams>();
    for (const [name, fq] of q.activations) qparams.set(name, fq.observer.qparams());
    for (const { wq, fq } of q.weights.values()) qparams.set(wq.name, fq.observer.qparams());
    const ref = foldedRuntime.apply(x, { hooks: simulationHooks(plan, qparams) });
    const diff = tf.max(tf.abs(tf.sub(qat, ref))).dataSync()[0]!;
    // Softmax outputs on 1/255 steps: at most one step where the BN and its affine round a tie differently.
    assert.ok(diff <= 1 / 255 + 1e-6, `max diff ${diff}`);
    for (const t of [x, qat, ref]) t.dispose();
    runtime.dispose();
    foldedRuntime.dispose();
  });

  test('a run trains it as a BatchNormalization on onnxruntime (γ, β and its statistics move), step for step as on TF.js; its range is the affine\'s quantizer', async () => {
    const graph = concatBnGraph();
    const before = nodeByName(graph, 'bn') as BatchNormNode;
    // BN frozen at step 20 of about 29: both step graphs run.
    const cfg = config({ training: { epochs: 1, batchSize: 64, validationSplit: 0.1, bnFreezeStep: 20 }, eval: { count: 200, seed: 1 } });
    const run = async () => {
      const points: CurvePoint[] = [];
      const ctx = { ...context(), emit: (name: string, data: unknown) => (name === 'curves' ? points.push(...(data as CurvePoint[])) : undefined) };
      const r = await runQat({ config: cfg, modelName: 'concat_bn', model: serializeGraph(graph), dataset: SAMPLE_DATA }, ctx);
      return { r, train: points.filter((p) => p.split === 'train') };
    };
    const native = await run();
    const summary = native.r.summary as { train: { runtime: string; nativeSkipped?: string }; float: unknown[] };
    assert.equal(summary.train.runtime, 'onnxruntime', `trains on onnxruntime (skipped: ${summary.train.nativeSkipped})`);
    assert.deepEqual(summary.float, [], 'nothing float');
    // Trained as a BN: the returned model still has it, with new γ, β and moving statistics.
    const trained = nodeByName(deserializeGraph(native.r.trainedModel), 'bn') as BatchNormNode;
    assert.equal(trained.op, 'batchNorm');
    const moved = (a: Float32Array, b: Float32Array) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
    assert.ok(moved(trained.weights.gamma!.values, before.weights.gamma!.values) > 1e-4, 'γ trained');
    assert.ok(moved(trained.weights.beta!.values, before.weights.beta!.values) > 1e-4, 'β trained');
    assert.ok(moved(trained.weights.movingMean.values, before.weights.movingMean.values) > 1e-3, 'moving mean updated');
    // Its output range was followed during training and stored as the affine's quantizer.
    assert.ok(native.train.at(-1)!.ranges!['bn/output'], 'bn/output range logged with the curves');
    const rec = native.r.tensors.find((t) => t.layer === 'bn' && t.role === 'activation');
    assert.ok(rec && Number.isFinite(rec.scale) && rec.scale > 0, `bn/output record ${JSON.stringify(rec)}`);
    for (const t of native.r.tensors) assert.ok(Number.isFinite(t.scale) && t.scale > 0, `${t.layer}/${t.role} scale ${t.scale}`);
    assert.ok(Number.isFinite(native.r.quantAccuracy!) && native.r.quantAccuracy! > 0.3, `QAT accuracy ${native.r.quantAccuracy}`);
    // The folded trained model's affine is the trained BN's.
    const affine = nodeByName(foldBatchNorm(deserializeGraph(native.r.trainedModel)).graph, 'bn') as AffineNode;
    const s0 = trained.weights.gamma!.values[0]! / Math.sqrt(trained.weights.movingVariance.values[0]! + trained.epsilon);
    assert.ok(Math.abs(affine.scale[0]! - s0) <= 1e-6 * Math.abs(s0));

    process.env['STUDIO_TRAINING_RUNTIME'] = 'tfjs';
    try {
      const tfjs = await run();
      assert.equal((tfjs.r.summary as { train: { runtime: string } }).train.runtime, 'tfjs');
      assert.equal(native.train.length, tfjs.train.length);
      native.train.forEach((p, i) => assert.ok(Math.abs(p.loss! - tfjs.train[i]!.loss!) <= 0.02, `step ${i + 1}: loss ${p.loss} on onnxruntime, ${tfjs.train[i]!.loss} on TF.js`));
    } finally {
      delete process.env['STUDIO_TRAINING_RUNTIME'];
    }
  });
});

describe('quantization variables explained', () => {
  test('the 784-256-128-10 Dense model: 235,146 float, 235,164 under Keras QAT', () => {
    const graph = builtinModel('dense_784_256_128_10').build();
    const e = explainVariables(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } }));
    assert.equal(e.float.total, 235146);
    assert.equal(e.keras.totals.total, 235164);
    assert.equal(e.keras.variables.filter((v) => v.layer === 'quantize_layer').length, 3);
    // Studio, per-channel: kernel ranges are vectors of the output channel count.
    const kernelMax = e.studio.variables.filter((v) => v.name.endsWith('/kernel_max'));
    assert.deepEqual(kernelMax.map((v) => v.shape), [[256], [128], [10]]);
    assert.ok(e.studio.variables.every((v) => !v.trainable && v.role.length > 10));
    // 2 input + 3×2 activation scalars + 2×(256+128+10) kernel values + 1 step.
    assert.equal(e.studio.totals.total - e.float.total, 2 + 6 + 2 * 394 + 1);
  });
});

describe('QAT bad input is refused before training', () => {
  test('a batch larger than the training samples names the file', async () => {
    const cfg = config({ training: { epochs: 1, batchSize: 5000 } });
    await assert.rejects(
      runQat({ config: cfg, modelName: 'cnn', model: serializeGraph(builtinModel('fashion_cnn').build()), dataset: SAMPLE_DATA }, context()),
      /batch size 5000 is larger than the \d+ training samples of .*train-images/,
    );
  });

  test('a NaN weight is named before training', async () => {
    const g = builtinModel('fashion_cnn').build();
    const conv = g.nodes.find((n) => n.name === 'conv2d')!;
    if (!('weights' in conv)) throw new Error('fixture');
    (conv.weights as { kernel: { values: Float32Array } }).kernel.values[0] = Infinity;
    await assert.rejects(runQat({ config: config({ training: {} }), modelName: 'cnn', model: serializeGraph(g), dataset: SAMPLE_DATA }, context()), /weight conv2d\/kernel holds Infinity/);
  });
});
