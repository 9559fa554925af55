/**
 * PTQ end to end on the engine (no worker, no store): real data (the bundled
 * Fashion-MNIST subset), built-in models, every record a run stores.
 * References: per-channel means one range per output channel; each extra bit
 * of a uniform quantizer is worth 20·log10(2) ≈ 6.02 dB of SQNR, so 16-bit
 * weights gain about 8 × 6.02 ≈ 48 dB over 8-bit ones on the same range.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { runPtq, preparePtq } from '../../../../src-main/engine/ptq/run.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { CancelledError } from '../../../../src-main/jobs/protocol.js';
import { SAMPLE_DATA, config, context } from './ptq-fixtures.js';

const PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
const PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

let cnn: Uint8Array;
before(async () => {
  await initBackend('wasm');
  cnn = serializeGraph(builtinModel('fashion_cnn').build());
});

describe('runPtq on fashion_cnn (random init) and the bundled Fashion-MNIST subset', () => {
  test('per-channel weights store one range per output channel, per-tensor one', async () => {
    const pc = await runPtq({ config: config({ weights: PER_CHANNEL }), modelName: 'fashion_cnn', model: cnn, dataset: SAMPLE_DATA }, context());
    const pt = await runPtq({ config: config({ weights: PER_TENSOR }), modelName: 'fashion_cnn', model: cnn, dataset: SAMPLE_DATA }, context());
    const expected: Record<string, number> = { conv2d: 32, conv2d_1: 64, dense: 128, dense_1: 10 };
    const pcWeights = pc.tensors.filter((t) => t.role === 'weight');
    assert.equal(pcWeights.length, 4);
    for (const t of pcWeights) {
      const n = expected[t.layer];
      assert.ok(n, `unexpected weight layer ${t.layer}`);
      assert.equal(t.granularity, 'per-channel');
      assert.equal(t.channels, n, `${t.layer} channels`);
      assert.ok(t.perChannel, `${t.layer} has per-channel vectors`);
      for (const v of [t.perChannel.min, t.perChannel.max, t.perChannel.scale, t.perChannel.zeroPoint]) assert.equal(v.length, n);
      // Symmetric narrow int8: zero point is the middle of [1, 255] in TF's unsigned domain.
      assert.ok([...t.perChannel.zeroPoint].every((z) => z === 128), `${t.layer} zero points`);
    }
    for (const t of pt.tensors.filter((t) => t.role === 'weight')) {
      assert.equal(t.channels, 1);
      assert.equal(t.perChannel ?? null, null);
    }
    // Per-channel can only shrink each channel's step: its weight SQNR is at least the per-tensor one.
    for (const t of pcWeights) {
      const other = pt.tensors.find((x) => x.role === 'weight' && x.layer === t.layer)!;
      assert.ok(t.sqnr! >= other.sqnr! - 0.01, `${t.layer}: per-channel ${t.sqnr} dB < per-tensor ${other.sqnr} dB`);
    }
    // Every weight and activation has a histogram whose chosen range lies inside its edges.
    assert.equal(pc.histograms!.length, pc.tensors.length);
    for (const h of pc.histograms!) {
      assert.ok(h.lo <= h.rangeMin + 1e-6 && h.rangeMax <= h.hi + 1e-6, `${h.layer}/${h.role} range inside edges`);
      const total = [...h.counts].reduce((a, b) => a + b, 0);
      assert.ok(total > 0, `${h.layer}/${h.role} histogram is filled`);
    }
    assert.equal(typeof pc.floatAccuracy, 'number');
    assert.equal(pc.floatAccuracy, pt.floatAccuracy, 'the float model is the same in both runs');
  });

  test('16-bit weights gain about 48 dB of SQNR over 8-bit (6.02 dB per bit)', async () => {
    const r8 = await runPtq({ config: config({ weights: PER_CHANNEL, eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    const r16 = await runPtq({ config: config({ weights: { ...PER_CHANNEL, bits: 16 }, eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    for (const t of r8.tensors.filter((x) => x.role === 'weight')) {
      const t16 = r16.tensors.find((x) => x.role === 'weight' && x.layer === t.layer)!;
      const gain = t16.sqnr! - t.sqnr!;
      assert.ok(gain > 44 && gain < 52, `${t.layer}: 8→16 bits gained ${gain.toFixed(2)} dB`);
    }
  });

  test('BatchNorm is folded and reported; the summary names each layer', async () => {
    const r = await runPtq({ config: config({ eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    const s = r.summary as { folded: { batchNorm: string; layer: string }[]; layers: { name: string }[]; calibration: { count: number } };
    assert.deepEqual(
      s.folded.map((f) => f.layer),
      ['conv2d', 'conv2d_1'],
    );
    assert.ok(!r.tensors.some((t) => t.layer.startsWith('batch_normalization')), 'no BN tensor is quantized');
    assert.equal(s.calibration.count, 200);
    assert.ok(s.layers.length >= 4);
  });

  test('a layer kept float by an override gets no quantizer', async () => {
    const r = await runPtq({ config: config({ overrides: [{ layer: 'dense_1', float: true }], eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    assert.ok(!r.tensors.some((t) => t.layer === 'dense_1'));
    assert.ok(r.tensors.some((t) => t.layer === 'dense' && t.role === 'weight'));
  });

  test('calibration runs on onnxruntime by default (the histogram estimators too), on TensorFlow.js when asked, and says so', async () => {
    const base = { modelName: 'm', model: cnn, dataset: SAMPLE_DATA };
    const how = (r: { summary?: unknown }) => (r.summary as { calibration: { runtime: string; workers: number; nativeSkipped?: string } }).calibration;
    const native = await runPtq({ ...base, config: config({ eval: { count: 100, seed: 1 } }) }, context());
    assert.equal(how(native).runtime, 'onnxruntime');
    assert.ok(how(native).workers >= 1);
    const tfjs = await runPtq({ ...base, config: config({ eval: { count: 100, seed: 1 } }), calibrationRuntime: 'tfjs' }, context());
    assert.equal(how(tfjs).runtime, 'tfjs');
    assert.equal(how(tfjs).nativeSkipped, undefined, 'asked away, not skipped');
    // Same model, same data: the two runtimes agree on the accuracy of the quantized model.
    assert.ok(Math.abs(native.quantAccuracy! - tfjs.quantAccuracy!) <= 0.01, `${native.quantAccuracy} vs ${tfjs.quantAccuracy}`);
    const pct = await runPtq({ ...base, config: config({ estimator: { kind: 'percentile', percentile: 99.9 }, eval: { count: 100, seed: 1 } }) }, context());
    assert.equal(how(pct).runtime, 'onnxruntime');
    assert.equal(how(pct).nativeSkipped, undefined);
    // A plan the native path cannot take fails when onnxruntime is asked for, naming why.
    await assert.rejects(
      runPtq({ ...base, config: config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel', axis: 1 } }), calibrationRuntime: 'onnxruntime' }, context()),
      /calibration on onnxruntime was asked for, but activation \S+ is per-channel on axis 1, not its channel axis/,
    );
  });

  test('progress goes calibrate then evaluate; cancel stops within a batch', async () => {
    const ctx = context();
    await runPtq({ config: config({ eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, ctx);
    assert.deepEqual(ctx.phases, ['calibrate', 'evaluate']);
    await assert.rejects(runPtq({ config: config(), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context(2)), CancelledError);
  });
});

describe('bad input fails before any work, naming the problem', () => {
  test('NaN in a weight names the layer', () => {
    const graph = builtinModel('fashion_cnn').build();
    const dense = graph.nodes.find((n) => n.name === 'dense_1')!;
    if (!('weights' in dense)) throw new Error('fixture');
    (dense.weights as { kernel: { values: Float32Array } }).kernel.values[5] = NaN;
    assert.throws(() => preparePtq({ config: config(), modelName: 'broken', model: serializeGraph(graph), dataset: SAMPLE_DATA }), /broken: weight dense_1\/kernel holds NaN/);
  });

  test('a dataset that does not fit the model names both shapes', () => {
    const model = serializeGraph(builtinModel('conv_bn_relu_dense').build());
    assert.throws(() => preparePtq({ config: config(), modelName: 'c', model, dataset: SAMPLE_DATA }), (e: Error) => /32,32,3/.test(e.message) && /28,28,1/.test(e.message));
  });

  test('a per-channel axis the kernel does not have is refused', () => {
    assert.throws(() => preparePtq({ config: config({ weights: { ...PER_CHANNEL, axis: 5 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }), /axis 5/);
  });

  test('a dataset path that does not exist is named', () => {
    assert.throws(() => preparePtq({ config: config(), modelName: 'm', model: cnn, dataset: { ...SAMPLE_DATA, path: '/nowhere/fashion' } }), /\/nowhere\/fashion/);
  });

  test('memory does not grow across runs', async () => {
    await runPtq({ config: config({ calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    const before = tf.memory().numTensors;
    await runPtq({ config: config({ calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 } }), modelName: 'm', model: cnn, dataset: SAMPLE_DATA }, context());
    assert.equal(tf.memory().numTensors, before);
  });
});
