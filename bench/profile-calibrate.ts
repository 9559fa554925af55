/**
 * Where calibration time goes (a developer tool, not part of `npm run bench`):
 * forward pass alone, forward with the observer hooks, and each observer's
 * observe() on its own tensors. `node dist/bench/profile-calibrate.js`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { RunConfig } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import { GraphRuntime } from '../src-main/engine/graph/runtime.js';
import { inputNode } from '../src-main/engine/graph/types.js';
import { calibrate } from '../src-main/engine/ptq/calibrate.js';
import { foldBatchNorm } from '../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../src-main/engine/transform/plan.js';
import { createObserver } from '../src-main/engine/quant/observers/index.js';
import { loadDataset, makeBatches, sampleSplit } from '../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');

await initBackend('auto');
console.log('backend', tf.getBackend());
const graph = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
const { graph: folded } = foldBatchNorm(graph);
const config = RunConfig.parse({ modelId: 1, datasetId: 1 });
const plan = planQuantization(folded, config);
console.log('activations', plan.activations.map((a) => `${a.name}@${a.at} ${a.spec.granularity}`).join('; '));
const runtime = new GraphRuntime(folded, { trainable: false });
const data = loadDataset({ path: '/usr/share/datasets/fashion-mnist', format: 'idx', preprocessing: {} });
const N = Number(process.env.N ?? 3200);
const idx = sampleSplit(N, data.parts.train.count, 0);
const shape = inputNode(folded).outputShape;
const batches = () => makeBatches(data.parts.train, idx, 100, shape);

const t = async (label: string, f: () => Promise<void> | void) => {
  const s = performance.now();
  await f();
  const sec = (performance.now() - s) / 1000;
  console.log(`${label.padEnd(40)} ${(sec * 1000).toFixed(0).padStart(6)} ms  ${(N / sec).toFixed(0)} samples/s`);
};
for (let rep = 0; rep < 2; rep++) {
  await t('batches only', () => {
    for (const b of batches()) tf.dispose([b.x, b.y]);
  });
  await t('forward only', () => {
    for (const b of batches()) {
      runtime.apply(b.x).dispose();
      tf.dispose([b.x, b.y]);
    }
  });
  await t('forward + dataSync of output', () => {
    for (const b of batches()) {
      const o = runtime.apply(b.x);
      o.dataSync();
      o.dispose();
      tf.dispose([b.x, b.y]);
    }
  });
  await t('calibrate() minmax', async () => {
    await calibrate(runtime, plan, config.estimator, batches);
  });
}
// Observe cost per activation tensor.
const b = [...makeBatches(data.parts.train, idx.slice(0, 100), 100, shape)][0]!;
const outs = runtime.applyAll(b.x);
for (const a of plan.activations) {
  const y = outs.get(a.at)!;
  const o = createObserver(config.estimator, a.spec, {});
  const s = performance.now();
  for (let i = 0; i < 20; i++) o.observe(y);
  console.log(`observe ${a.name} [${y.shape.join(',')}]: ${((performance.now() - s) / 20).toFixed(2)} ms`);
}
