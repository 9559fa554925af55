/**
 * QAT's initial ranges observed on onnxruntime (qat/initial-ranges.ts)
 * against the TF.js forward pass with the hooks in calibrate mode, which it
 * replaced: every activation quantizer's range within float32 rounding of
 * the convolutions (1e-5 relative, as the native calibration's test), the
 * kernel quantizers' ranges (W·s) equal to the bit; on the bundled trained
 * CNN (per-channel kernels) and on fashion_dwsep (ReLU6, depthwise). A model
 * with layers onnxruntime cannot run is observed on TF.js, the layer named.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { memoryBudget } from '../../../../src-main/engine/memory.js';
import { qatHooks, type QatQuantizers } from '../../../../src-main/engine/qat/hooks.js';
import { observeInitialRanges, type InitialRangesHow } from '../../../../src-main/engine/qat/initial-ranges.js';
import { makeQuantizers } from '../../../../src-main/engine/qat/run.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { loadDataset, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { opaqueModel } from '../graph/opaque-fixtures.js';
import { config, context, ROOT, SAMPLE_DATA } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

async function observe(graph: Graph, runtimeName: 'onnxruntime' | 'tfjs'): Promise<{ q: QatQuantizers; how: InitialRangesHow }> {
  const cfg = config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' }, unsupported: 'keep-float' });
  const { graph: folded, folded: records } = foldBatchNorm(graph);
  const plan = planQuantization(folded, cfg);
  const runtime = new GraphRuntime(graph, { trainable: false });
  try {
    const q = makeQuantizers(plan, cfg);
    for (const fq of new Set([...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)])) fq.setMode('calibrate');
    const train = loadDataset(SAMPLE_DATA).parts.train;
    const how = await observeInitialRanges({
      graph,
      runtime,
      plan,
      folded: records,
      quantizers: q,
      hooks: qatHooks(graph, runtime, plan, records, q),
      part: train,
      indices: sampleSplit(512, train.count, 0),
      inputShape: inputNode(graph).outputShape,
      budget: memoryBudget(2 ** 30),
      maxBatch: 128,
      ctx: context(),
      requested: runtimeName === 'tfjs' ? 'tfjs' : 'auto',
      env: {},
    });
    return { q, how };
  } finally {
    runtime.dispose();
  }
}

const models: [string, () => Promise<Graph>][] = [
  ['fashion_cnn (trained)', () => readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'))],
  ['fashion_dwsep', async () => builtinModel('fashion_dwsep').build()],
];

for (const [name, load] of models) {
  test(`${name}: initial ranges on onnxruntime equal the TF.js forward pass's (activations to 1e-5 relative, kernels to the bit)`, async () => {
    const native = await observe(await load(), 'onnxruntime');
    const tfjs = await observe(await load(), 'tfjs');
    assert.equal(native.how.runtime, 'onnxruntime');
    assert.equal(tfjs.how.runtime, 'tfjs');
    let worst = 0;
    for (const [qName, fq] of native.q.activations) {
      const a = fq.observer.range();
      const b = tfjs.q.activations.get(qName)!.observer.range();
      const span = Math.max(...b.max) - Math.min(...b.min);
      for (let c = 0; c < a.min.length; c++) {
        for (const [x, y] of [[a.min[c]!, b.min[c]!], [a.max[c]!, b.max[c]!]] as const) {
          // Relative to the range's span, or to the value where the span is tiny (an untrained softmax's outputs near 0.1).
          const rel = Math.abs(x - y) / Math.max(span, Math.abs(y), 1e-12);
          worst = Math.max(worst, rel);
          assert.ok(rel <= 1e-5, `${qName} channel ${c}: ${x} on onnxruntime, ${y} on TF.js`);
        }
      }
    }
    for (const [layer, { fq }] of native.q.weights) {
      const a = fq.observer.range();
      const b = tfjs.q.weights.get(layer)!.fq.observer.range();
      assert.deepEqual([...a.min, ...a.max], [...b.min, ...b.max], `${layer} kernel range`);
    }
    console.log(`${name}: ${native.q.activations.size} activation ranges, worst relative difference ${worst.toExponential(2)}; onnxruntime ${native.how.seconds.toFixed(2)} s (batch ${native.how.batchSize}), TF.js ${tfjs.how.seconds.toFixed(2)} s`);
  });
}

test('a model with layers onnxruntime cannot run is observed on TF.js, the layer named', async () => {
  const model = opaqueModel();
  const graph = graphFromLayersModel(model);
  model.dispose();
  const { how } = await observe(graph, 'onnxruntime');
  assert.equal(how.runtime, 'tfjs');
  assert.match(how.nativeSkipped ?? '', /no ONNX form: .*deconv/, how.nativeSkipped);
});
