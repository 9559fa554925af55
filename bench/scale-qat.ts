/**
 * `node dist/bench/scale-qat.js MODEL_JSON X_NPY SAMPLES`: QAT throughput of a
 * real-size model at 224x224 (the scale bench's QAT figure), per-channel W8A8,
 * batch 16, SGD with momentum (the torch peer's recipe), through the same
 * training loop and step engine a QAT run uses (onnxruntime-node when it can
 * train the model; the line says which). Prints one JSON line.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { RunConfig, Training } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import { GraphRuntime } from '../src-main/engine/graph/runtime.js';
import { inputNode } from '../src-main/engine/graph/types.js';
import { chooseStepEngine } from '../src-main/engine/native/train/native-trainer.js';
import { qatHooks } from '../src-main/engine/qat/hooks.js';
import { activationEstimator, makeQuantizers } from '../src-main/engine/qat/run.js';
import { prepare } from '../src-main/engine/prepare.js';
import { trainLoop } from '../src-main/engine/train/loop.js';
import { loadDataset, makeBatches, sampleSplit } from '../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';
import { quietContext } from './ptq.js';

async function main(): Promise<void> {
  const [modelJson, npy, samplesArg] = process.argv.slice(2);
  if (!modelJson || !npy) throw new Error('usage: scale-qat.js MODEL_JSON X_NPY SAMPLES');
  await initBackend('auto');
  const samples = Number(samplesArg ?? 128);
  const source = await readTfjsLayersModel(modelJson);
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, estimator: { kind: 'movingaverage' } });
  const { graph: folded, folded: records, plan } = prepare(source, config);
  const data = loadDataset({ path: path.dirname(npy), format: 'npy', preprocessing: { scale: 1 / 127.5, mean: [1] } });
  const runtime = new GraphRuntime(source);
  const training = Training.parse({ epochs: 1, batchSize: 16, validationSplit: 0, optimizer: 'sgd', learningRate: 1e-3 });
  const trainIdx = sampleSplit(samples, data.parts.train.count, 5);
  const inputShape = inputNode(source).outputShape;
  const q = makeQuantizers(plan, config);
  const hooks = qatHooks(source, runtime, plan, records, q);
  // Ranges from one calibration batch, as a QAT run starts.
  const all = [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)];
  for (const fq of all) fq.setMode('calibrate');
  const first = makeBatches(data.parts.train, trainIdx.subarray(0, 16), 16, inputShape).next().value!;
  runtime.apply(first.x, { hooks }).dispose();
  tf.dispose([first.x, first.y]);
  for (const fq of all) fq.setMode('qat');
  const { engine, info } = await chooseStepEngine({ graph: source, runtime, qat: { plan, folded: records, quantizers: q, activationEstimator: activationEstimator(config.estimator) }, training, inputShape });
  try {
    const r = await trainLoop({ runtime, data, trainIdx, valIdx: new Int32Array(0), training, ctx: quietContext, hooks: () => hooks, ...(engine ? { engine } : {}) });
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify({ samplesPerSecond: r.samplesPerSecond, runtime: info, maxRssMb, graph: folded.name }));
  } finally {
    await engine?.dispose();
    runtime.dispose();
  }
}

await main();
