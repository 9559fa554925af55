/**
 * QAT quality and speed on the real Fashion-MNIST (Debian's files), through
 * the engine code a QAT run uses:
 *  - 1 epoch of QAT from the bundled float CNN: W8A8 per-channel (goal within
 *    0.2 points of float top-1) and W4A8 per-channel (goal within 1.0 point),
 *    on the full 10k test set;
 *  - training throughput of QAT and of float training of the same model on
 *    the same runtime (goal: overhead ≤ 1.3x), beside torch.ao's QAT: on
 *    onnxruntime-node (the step graph of native/train, what runs use) and,
 *    for comparison, on TF.js's active backend.
 *  - the same throughput figures for the depthwise-separable fashion_dwsep
 *    beside torch.ao's depthwise peer (bench/torch_peer.py).
 * BENCH_QAT_SAMPLES limits the training samples of the quality runs (default:
 * the whole 60k train set); BENCH_QAT_QUALITY=0 skips them (speed only);
 * BENCH_QAT_ORDERS=N trains each N times, seeds 0..N−1 (data orders), and
 * prints the median too.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunConfig, Training } from '../src-main/api/run-config.js';
import { backendInfo } from '../src-main/engine/backend.js';
import { GraphRuntime } from '../src-main/engine/graph/runtime.js';
import { serializeGraph } from '../src-main/engine/graph/serialize.js';
import * as tf from '@tensorflow/tfjs';
import { inputNode, type Graph } from '../src-main/engine/graph/types.js';
import { nativeThreads } from '../src-main/engine/native/session.js';
import { NativeTrainer } from '../src-main/engine/native/train/native-trainer.js';
import { qatHooks } from '../src-main/engine/qat/hooks.js';
import { activationEstimator, makeQuantizers, runQat } from '../src-main/engine/qat/run.js';
import { foldBatchNorm } from '../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../src-main/engine/transform/plan.js';
import { trainLoop } from '../src-main/engine/train/loop.js';
import { loadDataset, makeBatches, sampleSplit } from '../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';
import { builtinModel } from '../src-main/io/models/builtins.js';
import { median } from './median.js';
import { signed } from './signed.js';
import { FASHION, quietContext } from './ptq.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const DATASET = { path: FASHION, format: 'idx', preprocessing: {} };

/** The bundled sample CNN (trained) or the depthwise-separable built-in (untrained: throughput does not depend on weights). */
export type SpeedModel = 'fashion_cnn' | 'fashion_dwsep';

async function speedGraph(model: SpeedModel): Promise<Graph> {
  return model === 'fashion_cnn' ? readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json')) : builtinModel('fashion_dwsep').build();
}

/** Training samples/s of float training or QAT (Adam, batch 64, no validation) through the training loop a run uses. */
export async function throughput(qat: boolean, samples: number, runtimeName: 'tfjs' | 'onnxruntime', model: SpeedModel = 'fashion_cnn', threads?: number): Promise<number> {
  const graph = await speedGraph(model);
  const config = RunConfig.parse({ modelId: 1, datasetId: 1 });
  const data = loadDataset(DATASET);
  const runtime = new GraphRuntime(graph);
  try {
    const training = Training.parse({ epochs: 1, batchSize: 64, validationSplit: 0 });
    const trainIdx = sampleSplit(samples, data.parts.train.count, 5);
    const inputShape = inputNode(graph).outputShape;
    const { graph: folded, folded: records } = foldBatchNorm(graph);
    const plan = planQuantization(folded, config);
    const q = makeQuantizers(plan, config);
    const hooks = qat ? qatHooks(graph, runtime, plan, records, q) : undefined;
    const all = [...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)];
    if (qat && hooks) {
      // Ranges from one calibration batch, as a QAT run starts.
      for (const fq of all) fq.setMode('calibrate');
      const first = makeBatches(data.parts.train, trainIdx.subarray(0, 128), 128, inputShape).next().value!;
      runtime.apply(first.x, { hooks }).dispose();
      tf.dispose([first.x, first.y]);
      for (const fq of all) fq.setMode('qat');
    }
    const engine =
      runtimeName === 'onnxruntime'
        ? await NativeTrainer.create({ graph, runtime, qat: qat ? { plan, folded: records, quantizers: q, activationEstimator: activationEstimator(config.estimator) } : null, training, inputShape, ...(threads ? { threads } : {}) })
        : null;
    try {
      const r = await trainLoop({ runtime, data, trainIdx, valIdx: new Int32Array(0), training, ctx: quietContext, ...(hooks ? { hooks: () => hooks } : {}), ...(engine ? { engine } : {}) });
      return r.samplesPerSecond;
    } finally {
      await engine?.dispose();
    }
  } finally {
    runtime.dispose();
  }
}

export async function benchQat(peer: Record<string, number | string> | null): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  const backend = backendInfo().name;
  // onnxruntime-node (what runs use when it can train the model) and TF.js on the active backend.
  const nativeFloat = await throughput(false, 3200, 'onnxruntime');
  const nativeQat = await throughput(true, 3200, 'onnxruntime');
  figures.float_train_samples_per_s = nativeFloat;
  figures.qat_train_samples_per_s = nativeQat;
  console.log(`  training throughput (onnxruntime-node, ${nativeThreads()} threads, batch 64): float ${Math.round(nativeFloat)} samples/s, QAT ${Math.round(nativeQat)} samples/s, overhead ${(nativeFloat / nativeQat).toFixed(2)}x (goal ≤ 1.3x)`);
  const tfjsFloat = await throughput(false, 640, 'tfjs');
  const tfjsQat = await throughput(true, 640, 'tfjs');
  figures.tfjs_float_train_samples_per_s = tfjsFloat;
  figures.tfjs_qat_train_samples_per_s = tfjsQat;
  console.log(`  training throughput (TensorFlow.js ${backend}, batch 64): float ${Math.round(tfjsFloat)} samples/s, QAT ${Math.round(tfjsQat)} samples/s, overhead ${(tfjsFloat / tfjsQat).toFixed(2)}x`);
  if (peer && typeof peer.qat_samples_per_s === 'number') {
    console.log(`  torch.ao ${peer.torch} (${peer.threads} threads): float ${Math.round(peer.train_samples_per_s as number)} samples/s, QAT ${Math.round(peer.qat_samples_per_s)} samples/s; studio QAT (onnxruntime) / torch QAT = ${(nativeQat / peer.qat_samples_per_s).toFixed(2)}x (goal ≥ 1x)`);
  }
  const dwFloat = await throughput(false, 3200, 'onnxruntime', 'fashion_dwsep');
  const dwQat = await throughput(true, 3200, 'onnxruntime', 'fashion_dwsep');
  figures.dwsep_float_train_samples_per_s = dwFloat;
  figures.dwsep_qat_train_samples_per_s = dwQat;
  console.log(`  fashion_dwsep (onnxruntime-node): float ${Math.round(dwFloat)} samples/s, QAT ${Math.round(dwQat)} samples/s, overhead ${(dwFloat / dwQat).toFixed(2)}x`);
  if (peer && typeof peer.dwsep_qat_samples_per_s === 'number') {
    console.log(`  torch.ao depthwise peer: float ${Math.round(peer.dwsep_train_samples_per_s as number)} samples/s, QAT ${Math.round(peer.dwsep_qat_samples_per_s)} samples/s; studio / torch QAT = ${(dwQat / peer.dwsep_qat_samples_per_s).toFixed(2)}x (goal ≥ 1x)`);
  }
  if (process.env['BENCH_QAT_QUALITY'] === '0') return figures;

  const sample = await readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
  const model = serializeGraph(sample);
  const samples = Number(process.env.BENCH_QAT_SAMPLES ?? 60000);
  const validationSplit = 1 - Math.min(1, samples / 60000) + 0.01;
  // One epoch of QAT is a chaotic run: the data order (the run's seed) moves its figure by half a point, as
  // can the last bits of any op. BENCH_QAT_ORDERS=N also trains with seeds 1..N−1 and prints the median.
  const orders = Math.max(1, Number(process.env.BENCH_QAT_ORDERS ?? 1) || 1);
  for (const bits of [8, 4]) {
    const config = RunConfig.parse({
      modelId: 1,
      datasetId: 1,
      eval: { count: 10000, seed: 1 },
      weights: { bits, symmetric: true, narrowRange: true, granularity: 'per-channel' },
      estimator: { kind: 'movingaverage' },
      training: { epochs: 1, batchSize: 64, learningRate: 1e-4, validationSplit: Math.min(0.99, validationSplit), bnFreezeStep: 200 },
    });
    const goal = bits === 8 ? 0.2 : 1.0;
    const deltas: number[] = [];
    for (let seed = 0; seed < orders; seed++) {
      const t0 = performance.now();
      const r = await runQat({ config, modelName: 'fashion_cnn', model, dataset: DATASET, seed }, quietContext);
      const delta = (r.quantAccuracy! - r.floatAccuracy!) * 100;
      deltas.push(delta);
      console.log(
        `  QAT W${bits}A8 per-channel, 1 epoch${seed ? `, data order ${seed}` : ''} (${Math.round(((performance.now() - t0) / 1000))} s): float ${(r.floatAccuracy! * 100).toFixed(2)}%  quant ${(r.quantAccuracy! * 100).toFixed(2)}%  delta ${signed(delta)} points (goal within ${goal}: ${delta >= -goal ? 'met' : 'MISSED'})`,
      );
    }
    figures[`qat_w${bits}a8_pc_delta`] = deltas[0]!;
    if (orders > 1) {
      const mid = median(deltas);
      figures[`qat_w${bits}a8_pc_delta_median`] = mid;
      console.log(`  QAT W${bits}A8 per-channel, median of ${orders} data orders: delta ${signed(mid)} points (${signed(Math.min(...deltas))} to ${signed(Math.max(...deltas))}; goal within ${goal}: ${mid >= -goal ? 'met' : 'MISSED'})`);
    }
  }
  return figures;
}
