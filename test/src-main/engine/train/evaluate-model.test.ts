/**
 * A model's evaluation on onnxruntime (train/evaluate-model.ts, through
 * native/evaluate-classifier.ts) against the TF.js evaluation it replaces,
 * on the bundled trained Fashion-MNIST CNN and the real 2,000 test images
 * of the sample: the same accuracy, the loss (mean cross-entropy of the
 * logits) within 1e-4. A model with layers onnxruntime cannot run is
 * evaluated on TF.js with the layer named; asking for onnxruntime then
 * fails naming it. A cancel lands within one batch.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode } from '../../../../src-main/engine/graph/types.js';
import { memoryBudget } from '../../../../src-main/engine/memory.js';
import { evaluateClassifier } from '../../../../src-main/engine/native/evaluate-classifier.js';
import { evaluate } from '../../../../src-main/engine/train/evaluate.js';
import { evaluateModel } from '../../../../src-main/engine/train/evaluate-model.js';
import { loadDataset, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { CancelledError } from '../../../../src-main/jobs/protocol.js';
import { opaqueModel } from '../graph/opaque-fixtures.js';
import { context, ROOT, SAMPLE_DATA } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const budget = memoryBudget(2 ** 30);

test('the sample CNN evaluates on onnxruntime as on TF.js: same accuracy, loss within 1e-4', async () => {
  const graph = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  const test = loadDataset(SAMPLE_DATA).parts.test;
  const idx = sampleSplit(2000, test.count, 1);
  const runtime = new GraphRuntime(graph, { trainable: false });
  try {
    const native = await evaluateModel(runtime, test, idx, { budget, maxBatch: 256, ctx: context(), phase: 'evaluate', env: {} });
    const tfjs = await evaluate(runtime, test, idx, { batchSize: 256 });
    console.log(`sample CNN on 2000 images: onnxruntime ${native.accuracy} / ${native.loss} (${native.how.seconds.toFixed(2)} s), TF.js ${tfjs.accuracy} / ${tfjs.loss}`);
    assert.equal(native.how.runtime, 'onnxruntime');
    assert.equal(native.count, 2000);
    assert.ok(native.accuracy > 0.8, `a trained model (${native.accuracy})`);
    assert.equal(native.accuracy, tfjs.accuracy);
    assert.ok(Math.abs(native.loss - tfjs.loss) <= 1e-4, `loss ${native.loss} vs ${tfjs.loss}`);
  } finally {
    runtime.dispose();
  }
});

test('a model with layers onnxruntime cannot run is evaluated on TF.js, the layer named; asking for onnxruntime fails naming it', async () => {
  const model = opaqueModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const test = loadDataset(SAMPLE_DATA).parts.test;
  const idx = sampleSplit(100, test.count, 1);
  const runtime = new GraphRuntime(graph, { trainable: false });
  try {
    const r = await evaluateModel(runtime, test, idx, { budget, maxBatch: 64, ctx: context(), phase: 'evaluate', env: {} });
    assert.equal(r.how.runtime, 'tfjs');
    assert.match(r.how.nativeSkipped ?? '', /no ONNX form: .*deconv/, r.how.nativeSkipped);
    assert.equal(r.count, 100);
    await assert.rejects(evaluateModel(runtime, test, idx, { requested: 'onnxruntime', budget, maxBatch: 64, ctx: context(), phase: 'evaluate', env: {} }), /onnxruntime was asked for, but the graph has no ONNX form: .*deconv/);
  } finally {
    runtime.dispose();
  }
});

test('a cancel lands before the next batch', async () => {
  const graph = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  const test = loadDataset(SAMPLE_DATA).parts.test;
  const idx = sampleSplit(1000, test.count, 1);
  const seen: number[] = [];
  await assert.rejects(
    evaluateClassifier({
      graph,
      part: test,
      indices: idx,
      inputShape: inputNode(graph).outputShape,
      budget,
      maxBatch: 100,
      onBatch: (done) => {
        seen.push(done);
        if (done >= 200) throw new CancelledError();
      },
    }),
    CancelledError,
  );
  assert.deepEqual(seen, [0, 100, 200], 'two batches ran, the third was never started');
});
