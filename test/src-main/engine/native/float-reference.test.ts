/**
 * Reusing an earlier run's float figures (engine/native/float-reference.ts):
 * the key changes with everything the float figures depend on, and a native
 * evaluation whose key matches takes the reference's figures while its
 * accuracy graph runs the simulated branch alone — the simulated figures
 * and per-layer statistics bit for bit those of the run with both branches.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Estimator } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode } from '../../../../src-main/engine/graph/types.js';
import { buildEvaluationModels, evaluateOnnx, type NativeComparison } from '../../../../src-main/engine/native/evaluate-onnx.js';
import { findFloatReference, floatKey, floatKeyBase, type FloatKeyParts } from '../../../../src-main/engine/native/float-reference.js';
import { calibrate } from '../../../../src-main/engine/ptq/calibrate.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { loadDataset, makeBatches, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { SAMPLE_DATA, config } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

describe('float reference key', () => {
  const parts: FloatKeyParts = { floatModel: new Uint8Array([1, 2, 3]), dataset: 'abc', indices: Int32Array.from([4, 5, 6]), inputShape: [28, 28, 1], batchSize: 100, fromLogits: false };
  const session = { provider: 'cpu', threads: 2, optimization: 'all', ortVersion: '1.30.0' };

  test('changes with the float graph, the data, the samples, the batch, the output kind and the session', () => {
    const base = floatKeyBase(parts);
    assert.equal(floatKeyBase({ ...parts, indices: Int32Array.from([4, 5, 6]) }), base, 'same parts, same key');
    const variants: Partial<FloatKeyParts>[] = [
      { floatModel: new Uint8Array([1, 2, 4]) },
      { dataset: 'abd' },
      { indices: Int32Array.from([4, 6, 5]) },
      { indices: Int32Array.from([4, 5]) },
      { inputShape: [28, 28, 3] },
      { batchSize: 99 },
      { fromLogits: true },
    ];
    for (const v of variants) assert.notEqual(floatKeyBase({ ...parts, ...v }), base, JSON.stringify(Object.keys(v)));
    const key = floatKey(base, session);
    for (const s of [{ provider: 'cuda' }, { threads: 1 }, { optimization: 'extended' }, { ortVersion: '1.31.0' }]) assert.notEqual(floatKey(base, { ...session, ...s }), key, JSON.stringify(s));
  });

  test('the newest reference of the same key and sample count', () => {
    const refs = [
      { key: 'k', accuracy: 0.5, loss: 1, count: 10, runId: 3 },
      { key: 'k', accuracy: 0.6, loss: 1, count: 10, runId: 9 },
      { key: 'k', accuracy: 0.7, loss: 1, count: 11, runId: 12 },
      { key: 'j', accuracy: 0.8, loss: 1, count: 10, runId: 20 },
    ];
    assert.equal(findFloatReference(refs, 'k', 10)?.runId, 9);
    assert.equal(findFloatReference(refs, 'x', 10), undefined);
    assert.equal(findFloatReference(undefined, 'k', 10), undefined);
  });
});

describe('native evaluation with an earlier run\'s float figures', () => {
  test('takes the figures of a matching key, runs the simulated branch alone, and keeps every simulated figure', async () => {
    const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
    const plan = planQuantization(graph, config({ weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } }));
    const runtime = new GraphRuntime(graph, { trainable: false });
    const data = loadDataset(SAMPLE_DATA);
    const inputShape = inputNode(graph).outputShape;
    try {
      const cal = await calibrate(runtime, plan, Estimator.parse({ kind: 'minmax' }), () => makeBatches(data.parts.train, sampleSplit(200, data.parts.train.count, 1), 100, inputShape));
      const models = buildEvaluationModels({ graph, plan, qparams: cal.qparams, histogramSpan: new Map(), bins: 16 });
      const evaluate = (indices: Int32Array, references: Parameters<typeof findFloatReference>[0] = []): Promise<NativeComparison> => {
        const base = floatKeyBase({ floatModel: models.floatModel(), dataset: 'sample', indices, inputShape, batchSize: 100, fromLogits: false });
        // Statistics on the first batch only: the other three batches run the accuracy graph.
        return evaluateOnnx({ graph, plan, qparams: cal.qparams, histogramSpan: new Map(), bins: 16, part: data.parts.test, indices, inputShape, batchSize: 100, statsSamples: 100, fromLogits: false, threads: 2, models, floatReuse: { base, references: references ?? [] } });
      };
      const idx = sampleSplit(400, data.parts.test.count, 4);
      const first = await evaluate(idx);
      assert.ok(first.floatKey && first.floatFrom === undefined);
      // A sentinel, so the figures can only have come from the reference.
      const reference = { key: first.floatKey, accuracy: 0.125, loss: 7.5, count: 400, runId: 41 };
      const second = await evaluate(idx, [reference]);
      assert.equal(second.floatFrom, 41);
      assert.equal(second.floatKey, first.floatKey);
      assert.deepEqual(second.float, { accuracy: 0.125, loss: 7.5 });
      assert.deepEqual(second.quant, first.quant, 'the simulated branch alone gives the same figures to the bit');
      assert.deepEqual([...second.activations], [...first.activations], 'statistics batches still run both branches');
      // Other samples: another key, nothing reused.
      const other = await evaluate(sampleSplit(400, data.parts.test.count, 5), [reference]);
      assert.equal(other.floatFrom, undefined);
      assert.notEqual(other.floatKey, first.floatKey);
      assert.notDeepEqual(other.float, { accuracy: 0.125, loss: 7.5 });
      assert.ok(Number.isFinite(other.float.loss));
      assert.ok(models.simulatedOnly().length < models.plain.length);
    } finally {
      runtime.dispose();
    }
  });
});
