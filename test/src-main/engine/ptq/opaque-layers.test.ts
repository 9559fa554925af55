/**
 * PTQ on a model with layers the IR does not model (Conv2DTranspose, ELU,
 * LayerNormalization, a Dense with ELU, Maximum) on the bundled
 * Fashion-MNIST subset: with unsupported 'keep-float' the run completes and
 * those layers get no tensor record (they run in float through tfjs); with
 * 'stop' it stops before any work, naming the layer.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { runPtq } from '../../../../src-main/engine/ptq/run.js';
import { PlanError } from '../../../../src-main/engine/transform/plan.js';
import { OPAQUE_LAYERS, opaqueModel } from '../graph/opaque-fixtures.js';
import { SAMPLE_DATA, config, context } from './ptq-fixtures.js';

let bytes: Uint8Array;
before(async () => {
  await initBackend('wasm');
  const model = opaqueModel();
  bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
});

describe('runPtq on a model with opaque layers', () => {
  test("keep-float: completes; opaque layers have no tensor record, the others are quantized", async () => {
    const r = await runPtq({ config: config({ unsupported: 'keep-float', eval: { count: 100, seed: 1 } }), modelName: 'opaque_cnn', model: bytes, dataset: SAMPLE_DATA }, context());
    const opaque = new Set(OPAQUE_LAYERS.map((u) => u.name));
    assert.deepEqual(r.tensors.filter((t) => opaque.has(t.layer)), []);
    assert.deepEqual(
      r.tensors.filter((t) => t.role === 'weight').map((t) => t.layer).sort(),
      ['conv2d', 'conv2d_1', 'dense', 'dense_gate', 'logits'],
    );
    assert.ok(r.tensors.some((t) => t.role !== 'weight' && t.layer === 'conv2d'), 'activation record for conv2d');
    assert.equal(typeof r.floatAccuracy, 'number');
    assert.ok(Number.isFinite(r.floatAccuracy));
  });

  test("stop: the run fails with a PlanError naming the first opaque layer", async () => {
    await assert.rejects(
      runPtq({ config: config({ unsupported: 'stop' }), modelName: 'opaque_cnn', model: bytes, dataset: SAMPLE_DATA }, context()),
      (e: unknown) =>
        e instanceof PlanError &&
        e.code === 'unsupported-layer' &&
        e.layer === 'deconv' &&
        // The layer, its class and what to do.
        /^layer deconv \(Conv2DTranspose\) cannot be quantized.*; set unsupported: 'keep-float' to run it in float$/.test(e.message),
    );
  });
});
