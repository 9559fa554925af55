/**
 * PTQ of a model made of keras.applications' mobile blocks (EfficientNet's
 * Rescaling + Normalization stem with swish, a MobileNetV2 residual block
 * with ZeroPadding2D, a MobileNetV3 block with hard_swish and a
 * squeeze-and-excite Multiply with hard_sigmoid, SeparableConv2D with
 * LeakyReLU, Cropping2D, UpSampling2D, global pools) on the bundled
 * Fashion-MNIST subset, with unsupported 'stop' (any layer the studio could
 * not quantize would stop the run): it completes with nothing left float.
 * Calibrated on onnxruntime (the ONNX lowering of these ops) and on
 * TensorFlow.js (the runtime), the ranges agree to float32 rounding.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../../src-main/engine/ptq/run.js';
import { mobileMixModel } from '../graph/mobile-fixtures.js';
import { SAMPLE_DATA, config, context } from './ptq-fixtures.js';

const PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

let bytes: Uint8Array;
before(async () => {
  await initBackend('wasm');
  const model = mobileMixModel();
  bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
});

describe('runPtq on a model of mobile blocks', () => {
  const payload = () => ({
    config: config({ weights: PER_CHANNEL, unsupported: 'stop', calibration: { count: 100, seed: 0 }, eval: { count: 100, seed: 1 } }),
    modelName: 'mobile_mix',
    model: bytes,
    dataset: SAMPLE_DATA,
  });

  test('nothing is left float; every planned quantizer has its record; the input quantizer follows the preprocessing', async () => {
    const prep = preparePtq(payload());
    assert.deepEqual(prep.plan.float, []);
    assert.deepEqual(
      prep.folded.map((f) => f.layer),
      ['stem_conv', 'v2_dw', 'v2_project', 'v3_expand', 'v3_dw', 'v3_project'],
    );
    const r = await runPtq(payload(), context());
    const summary = r.summary as { float: unknown[]; calibration: { runtime: string } };
    assert.deepEqual(summary.float, []);
    assert.equal(summary.calibration.runtime, 'onnxruntime');
    const weights = r.tensors.filter((t) => t.role === 'weight').map((t) => t.layer);
    assert.deepEqual(weights, prep.plan.weights.map((w) => w.layer));
    assert.ok(weights.includes('sep/depthwise') && weights.includes('sep'));
    const acts = r.tensors.filter((t) => t.role !== 'weight');
    assert.equal(acts.length, prep.plan.activations.length);
    // The integer model's input is the Normalization's output.
    assert.deepEqual(
      r.tensors.filter((t) => t.role === 'input').map((t) => t.layer),
      ['normalization'],
    );
    for (const layer of ['v3_se_mul', 'v3_expand_hs', 'v3_se_hsig', 'stem_swish', 'sep_leaky', 'v2_add']) {
      assert.ok(acts.some((t) => t.layer === layer), `${layer} has its own range`);
    }
    for (const t of r.tensors) assert.ok(Number.isFinite(t.sqnr ?? 0), `${t.layer}/${t.role} SQNR ${t.sqnr}`);
    assert.ok(Number.isFinite(r.floatAccuracy) && Number.isFinite(r.quantAccuracy));
  });

  test('ranges calibrated on onnxruntime and on TensorFlow.js agree to float32 rounding (a ReLU output’s minimum recorded as 0, same scale)', async () => {
    const native = await runPtq({ ...payload(), calibrationRuntime: 'onnxruntime' }, context());
    const tfjs = await runPtq({ ...payload(), calibrationRuntime: 'tfjs', calibrationWorkers: 1 }, context());
    assert.equal((tfjs.summary as { calibration: { runtime: string } }).calibration.runtime, 'tfjs');
    assert.equal(native.tensors.length, tfjs.tensors.length);
    // The layers whose quantized output is a ReLU's (its own, or a ReLU node after it that shares its range).
    const { graph, plan } = preparePtq(payload());
    const reluNodes = new Set(graph.nodes.filter((n) => 'activation' in n && (n.activation === 'relu' || n.activation === 'relu6')).map((n) => n.name));
    const relu = new Set(plan.activations.filter((q) => reluNodes.has(q.at)).map((q) => q.name.replace(/\/output$/, '')));
    let floored = 0;
    for (const a of native.tensors.filter((t) => t.role !== 'weight')) {
      const b = tfjs.tensors.find((t) => t.layer === a.layer && t.role === a.role)!;
      const span = Math.max(Math.abs(b.min), Math.abs(b.max), 1e-6);
      const near = (x: number, y: number) => Math.abs(x - y) <= 1e-5 * span;
      // minmax is a one-pass estimator: a ReLU output skips its minimum natively (calibrate-onnx.ts, zeroFloor).
      const min = relu.has(a.layer) ? a.min === 0 && b.min >= 0 : near(a.min, b.min);
      if (relu.has(a.layer) && b.min > 0) floored++;
      assert.ok(min && near(a.max, b.max), `${a.layer}/${a.role}: [${a.min}, ${a.max}] vs [${b.min}, ${b.max}]`);
      assert.ok(Math.abs(a.scale - b.scale) <= 1e-5 * b.scale && a.zeroPoint === b.zeroPoint, `${a.layer}/${a.role}: scale ${a.scale} vs ${b.scale}, zero point ${a.zeroPoint} vs ${b.zeroPoint}`);
    }
    // The squeeze-and-excite ReLU's outputs are all positive here: the case where the recorded minimum differs.
    assert.ok(floored > 0);
  });
});
