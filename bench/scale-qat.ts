/**
 * `node dist/bench/scale-qat.js MODEL_JSON X_NPY SAMPLES [float]`: QAT
 * throughput of a real-size model at 224x224 (the scale bench's QAT figure),
 * per-channel W8A8, batch 16, SGD with momentum (the torch peer's recipe),
 * through the same training loop and step engine a QAT run uses
 * (onnxruntime-node when it can train the model; the line says which);
 * `float`: float training of the same model instead. Prints one JSON line:
 * samplesPerSecond over the whole loop (its first steps fill the memory
 * arena), and warmSamplesPerSecond after the first step, as the torch peer
 * measures after a warm-up step.
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
  const [modelJson, npy, samplesArg, mode] = process.argv.slice(2);
  if (!modelJson || !npy || (mode !== undefined && mode !== 'float')) throw new Error('usage: scale-qat.js MODEL_JSON X_NPY SAMPLES [float]');
  const float = mode === 'float';
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
  if (!float) {
    // Ranges from one calibration batch, as a QAT run starts.
    const all = [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)];
    for (const fq of all) fq.setMode('calibrate');
    const first = makeBatches(data.parts.train, trainIdx.subarray(0, 16), 16, inputShape).next().value!;
    runtime.apply(first.x, { hooks }).dispose();
    tf.dispose([first.x, first.y]);
    for (const fq of all) fq.setMode('qat');
  }
  const qat = float ? null : { plan, folded: records, quantizers: q, activationEstimator: activationEstimator(config.estimator) };
  const { engine, info } = await chooseStepEngine({ graph: source, runtime, qat, training, inputShape });
  try {
    // When each step ends (the loop reports after its step), for the figure after the first.
    const stepEnds: number[] = [];
    const r = await trainLoop({ runtime, data, trainIdx, valIdx: new Int32Array(0), training, ctx: quietContext, onStep: () => stepEnds.push(performance.now()), ...(float ? {} : { hooks: () => hooks }), ...(engine ? { engine } : {}) });
    const after = stepEnds.length > 1 ? ((stepEnds.length - 1) * training.batchSize) / ((stepEnds[stepEnds.length - 1]! - stepEnds[0]!) / 1000) : NaN;
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    console.log(JSON.stringify({ training: float ? 'float' : 'qat', samplesPerSecond: r.samplesPerSecond, warmSamplesPerSecond: after, runtime: info, maxRssMb, graph: folded.name }));
  } finally {
    await engine?.dispose();
    runtime.dispose();
  }
}

await main();
