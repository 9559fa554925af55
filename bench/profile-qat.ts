/**
 * Where QAT's training-step time goes (a developer tool): float steps, QAT
 * steps, and QAT steps with only weights or only activations fake-quantized,
 * alternating in one process. `node dist/bench/profile-qat.js [rounds]`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { RunConfig } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import { GraphRuntime, type ForwardHooks } from '../src-main/engine/graph/runtime.js';
import { inputNode } from '../src-main/engine/graph/types.js';
import { qatHooks } from '../src-main/engine/qat/hooks.js';
import { makeQuantizers } from '../src-main/engine/qat/run.js';
import { crossEntropy } from '../src-main/engine/train/evaluate.js';
import { foldBatchNorm } from '../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../src-main/engine/transform/plan.js';
import { loadDataset, makeBatches, sampleSplit } from '../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');

await initBackend('auto');
const graph = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
const config = RunConfig.parse({ modelId: 1, datasetId: 1 });
const { graph: folded, folded: records } = foldBatchNorm(graph);
const plan = planQuantization(folded, config);
const runtime = new GraphRuntime(graph);
const q = makeQuantizers(plan, config);
for (const fq of [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)]) fq.setMode('qat');
const full = qatHooks(graph, runtime, plan, records, q);
const weightsOnly: ForwardHooks = { weight: full.weight! };
const actsOnly: ForwardHooks = { output: full.output! };
const data = loadDataset({ path: '/usr/share/datasets/fashion-mnist', format: 'idx', preprocessing: {} });
const idx = sampleSplit(640, data.parts.train.count, 0);
const shape = inputNode(graph).outputShape;
const batchList = [...makeBatches(data.parts.train, idx, 64, shape)];
const optimizer = tf.train.adam(1e-4);
const vars = runtime.trainableVariables();

async function steps(hooks: ForwardHooks | undefined): Promise<number> {
  const s = performance.now();
  for (const b of batchList) {
    const cost = optimizer.minimize(() => crossEntropy(runtime.apply(b.x, { training: true, logits: true, ...(hooks ? { hooks } : {}) }), b.y, 10), true, vars)!;
    await cost.data();
    cost.dispose();
  }
  return (performance.now() - s) / batchList.length;
}
const cases: Record<string, ForwardHooks | undefined> = { float: undefined, qat: full, weightsOnly, actsOnly };
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
await steps(full);
const rounds = Number(process.argv[2] ?? 3);
for (let r = 0; r < rounds; r++) for (const [k, h] of Object.entries(cases)) times[k]!.push(await steps(h));
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(12)} ${med(v).toFixed(1)} ms/step (median of ${v.length}); vs float ${(med(v) / med(times.float!)).toFixed(2)}x`);
