/**
 * Where each pass of a QAT run ran, as its summary records it: everything
 * on onnxruntime for a model with an ONNX form (initial ranges, float
 * baseline, training with its validation, final evaluation); on TF.js, with
 * the layer named, for a model with a layer onnxruntime cannot run — never
 * a silent fall to the slower path.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { runQat } from '../../../../src-main/engine/qat/run.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { opaqueModel } from '../graph/opaque-fixtures.js';
import { config, context, SAMPLE_DATA } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

interface Summary {
  train: { runtime: string; nativeSkipped?: string; bestStep: number };
  baseline: { runtime: string; nativeSkipped?: string };
  initialRanges: { runtime: string; nativeSkipped?: string };
  evaluation: { runtime: string; nativeSkipped?: string };
}

const cfg = config({ training: { epochs: 1, batchSize: 64, validationSplit: 0.2, bnFreezeStep: 10 }, eval: { count: 200, seed: 1 }, unsupported: 'keep-float' });

test('a QAT run of the CNN runs every pass on onnxruntime', async () => {
  const r = await runQat({ config: cfg, modelName: 'fashion_cnn', model: serializeGraph(builtinModel('fashion_cnn').build()), dataset: SAMPLE_DATA }, context());
  const s = r.summary as unknown as Summary;
  for (const pass of ['train', 'baseline', 'initialRanges', 'evaluation'] as const) {
    assert.equal(s[pass].runtime, 'onnxruntime', `${pass} ran on ${s[pass].runtime} (${s[pass].nativeSkipped ?? ''})`);
    assert.equal(s[pass].nativeSkipped, undefined);
  }
});

test('a QAT run of a model with layers onnxruntime cannot run says, for each pass, which layer kept it on TF.js', async () => {
  const model = opaqueModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const r = await runQat({ config: { ...cfg, training: { ...cfg.training!, epochs: 0.1 } }, modelName: 'opaque_cnn', model: serializeGraph(graph), dataset: SAMPLE_DATA }, context());
  const s = r.summary as unknown as Summary;
  for (const pass of ['train', 'baseline', 'initialRanges', 'evaluation'] as const) {
    assert.equal(s[pass].runtime, 'tfjs', pass);
    assert.match(s[pass].nativeSkipped ?? '', /deconv|Conv2DTranspose/, `${pass}: ${s[pass].nativeSkipped}`);
  }
});
