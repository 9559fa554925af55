/**
 * PTQ quality and calibration speed on the real Fashion-MNIST (Debian's
 * dataset-fashion-mnist, full 10k test set), through the same engine code a
 * run uses (runPtq), on the active backend:
 *  - fashion_cnn (the bundled sample, trained in the studio): W8A8 per-tensor
 *    and per-channel; goal: per-channel within 0.3 points of float;
 *  - fashion_dwsep (MobileNet-like), trained here for BENCH_DWSEP_SAMPLES
 *    samples: W8A8 per-tensor vs per-channel and W4A8 per-channel;
 *  - calibration throughput (samples/s through per-channel observers) beside
 *    torch.ao's on the same machine (bench/torch_peer.py): the default native
 *    onnxruntime path, and the TensorFlow.js paths it replaces; then the
 *    percentile estimator (two passes, histograms) on both runtimes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunConfig, Training, type RunConfigInput } from '../src-main/api/run-config.js';
import { backendInfo } from '../src-main/engine/backend.js';
import { serializeGraph } from '../src-main/engine/graph/serialize.js';
import { GraphRuntime } from '../src-main/engine/graph/runtime.js';
import { runPtq, type PtqPayload } from '../src-main/engine/ptq/run.js';
import { trainLoop } from '../src-main/engine/train/loop.js';
import { loadDataset, sampleSplit } from '../src-main/io/data/dataset.js';
import { builtinModel } from '../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';
import type { JobContext } from '../src-main/jobs/protocol.js';
import { signed } from './signed.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
export const FASHION = '/usr/share/datasets/fashion-mnist';
const DATASET = { path: FASHION, format: 'idx', preprocessing: {} };

export const quietContext: JobContext = { jobId: 0, progress() {}, emit() {}, cancelled: () => false, checkCancelled() {} };

const W8_PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
const W8_PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
const W4_PER_CHANNEL = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

async function ptq(
  modelName: string,
  model: Uint8Array,
  weights: RunConfigInput['weights'],
  extra: Partial<RunConfigInput> = {},
  how: Pick<PtqPayload, 'calibrationWorkers' | 'calibrationRuntime'> = {},
) {
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, calibration: { count: 2000, seed: 0 }, eval: { count: 10000, seed: 1 }, weights, ...extra });
  const r = await runPtq({ config, modelName, model, dataset: DATASET, ...how }, quietContext);
  const s = r.summary as { calibration: { samplesPerSecond: number; workers: number; runtime: string } };
  return {
    float: r.floatAccuracy!,
    quant: r.quantAccuracy!,
    delta: (r.quantAccuracy! - r.floatAccuracy!) * 100,
    calibrationSamplesPerSecond: s.calibration.samplesPerSecond,
    calibrationWorkers: s.calibration.workers,
    calibrationRuntime: s.calibration.runtime,
  };
}

function row(label: string, r: { float: number; quant: number; delta: number }): string {
  return `  ${label.padEnd(34)} float ${(r.float * 100).toFixed(2)}%  quant ${(r.quant * 100).toFixed(2)}%  delta ${signed(r.delta)} points`;
}

/** torch.ao figures, or null (with the reason printed) where python3-torch is missing. */
export function torchPeer(): Record<string, number | string> | null {
  const py = '/usr/bin/python3';
  const script = path.join(ROOT, 'bench', 'torch_peer.py');
  if (!existsSync(py)) return null;
  const out = spawnSync(py, [script, FASHION], { encoding: 'utf8', timeout: 600_000 });
  if (out.status !== 0) {
    console.log(`  torch.ao peer unavailable: ${(out.stderr || out.error?.message || '').trim().split('\n').pop()} (apt install python3-torch libopenblas0-openmp)`);
    return null;
  }
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

export async function benchPtq(peer: Record<string, number | string> | null): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  console.log(`PTQ on Fashion-MNIST (10,000 test images, 2,000 calibration), backend ${backendInfo().name}`);
  const sample = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
  const cnn = serializeGraph(await readTfjsLayersModel(sample));
  const pt = await ptq('fashion_cnn', cnn, W8_PER_TENSOR);
  const pc = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL);
  console.log(row('fashion_cnn W8A8 per-tensor', pt));
  console.log(row('fashion_cnn W8A8 per-channel', pc));
  console.log(`    goal: per-channel within 0.3 points of float: ${Math.abs(pc.delta) <= 0.3 ? 'met' : 'MISSED'}`);
  Object.assign(figures, { cnn_float: pt.float, cnn_w8a8_pt_delta: pt.delta, cnn_w8a8_pc_delta: pc.delta });

  // Calibration throughput, per-channel weights, minmax activations (the torch peer's config),
  // warm (the runs above loaded onnxruntime and started the workers, as torch's thread pool is
  // warm after its warm-up batches): the default (native onnxruntime when it loads), then the
  // TensorFlow.js paths for comparison (data-parallel helper workers, and one thread).
  const calibSetup = { calibration: { count: 6400, seed: 0 }, eval: { count: 100, seed: 1 } };
  const calib = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL, calibSetup);
  const tfjs = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL, calibSetup, { calibrationRuntime: 'tfjs' });
  const serial = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL, calibSetup, { calibrationRuntime: 'tfjs', calibrationWorkers: 1 });
  figures.calibrate_samples_per_s = calib.calibrationSamplesPerSecond;
  figures.calibrate_threads = calib.calibrationWorkers;
  figures.calibrate_tfjs_samples_per_s = tfjs.calibrationSamplesPerSecond;
  figures.calibrate_tfjs_workers = tfjs.calibrationWorkers;
  figures.calibrate_tfjs_serial_samples_per_s = serial.calibrationSamplesPerSecond;
  const peerRate = peer && typeof peer.calibrate_samples_per_s === 'number' ? peer.calibrate_samples_per_s : null;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  console.log(
    `  calibration throughput (${calib.calibrationRuntime === 'onnxruntime' ? `onnxruntime-node, ${plural(calib.calibrationWorkers, 'thread')}` : `TensorFlow.js ${backendInfo().name}, ${plural(calib.calibrationWorkers, 'worker')}`}): ${Math.round(calib.calibrationSamplesPerSecond)} samples/s` +
      (peerRate ? `; torch.ao ${peer!.torch} (${peer!.threads} threads): ${Math.round(peerRate)} samples/s; ratio ${(calib.calibrationSamplesPerSecond / peerRate).toFixed(2)}x (goal ≥ 1.5x)` : ''),
  );
  console.log(
    `    TensorFlow.js ${backendInfo().name}: ${plural(tfjs.calibrationWorkers, 'worker')} ${Math.round(tfjs.calibrationSamplesPerSecond)} samples/s, 1 thread ${Math.round(serial.calibrationSamplesPerSecond)} samples/s`,
  );
  // A histogram estimator on the same setup: two passes (range, then histograms of 2,048 bins per channel).
  const pctSetup = { ...calibSetup, estimator: { kind: 'percentile' as const } };
  const pct = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL, pctSetup);
  const pctTfjs = await ptq('fashion_cnn', cnn, W8_PER_CHANNEL, pctSetup, { calibrationRuntime: 'tfjs' });
  figures.calibrate_percentile_samples_per_s = pct.calibrationSamplesPerSecond;
  figures.calibrate_percentile_tfjs_samples_per_s = pctTfjs.calibrationSamplesPerSecond;
  console.log(
    `    percentile (two passes): ${pct.calibrationRuntime} ${Math.round(pct.calibrationSamplesPerSecond)} samples/s; ` +
      `TensorFlow.js ${backendInfo().name}, ${plural(pctTfjs.calibrationWorkers, 'worker')} ${Math.round(pctTfjs.calibrationSamplesPerSecond)} samples/s`,
  );

  // The depthwise-separable net, trained here.
  const samples = Number(process.env.BENCH_DWSEP_SAMPLES ?? 30000);
  const data = loadDataset(DATASET);
  const runtime = new GraphRuntime(builtinModel('fashion_dwsep').build());
  const trainIdx = sampleSplit(samples, data.parts.train.labels.length, 3);
  const valIdx = sampleSplit(1000, data.parts.test.labels.length, 4);
  const t0 = performance.now();
  await trainLoop({ runtime, data, trainIdx, valIdx, valPart: 'test', training: Training.parse({ epochs: 1, batchSize: 64 }), ctx: quietContext });
  console.log(`  fashion_dwsep trained on ${samples} samples in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const dw = serializeGraph(runtime.toGraph());
  runtime.dispose();
  const dpt = await ptq('fashion_dwsep', dw, W8_PER_TENSOR);
  const dpc = await ptq('fashion_dwsep', dw, W8_PER_CHANNEL);
  const d4 = await ptq('fashion_dwsep', dw, W4_PER_CHANNEL);
  const t4 = performance.now();
  const d4a = await ptq('fashion_dwsep', dw, W4_PER_CHANNEL, { recovery: { adaround: {} } });
  const adaroundSeconds = (performance.now() - t4) / 1000;
  console.log(row('fashion_dwsep W8A8 per-tensor', dpt));
  console.log(row('fashion_dwsep W8A8 per-channel', dpc));
  console.log(row('fashion_dwsep W4A8 per-channel', d4));
  console.log(row('fashion_dwsep W4A8 pc + AdaRound', d4a) + ` (${adaroundSeconds.toFixed(0)} s)`);
  console.log(`    goal: AdaRound W4A8 per-channel within 1.0 point of float: ${Math.abs(d4a.delta) <= 1 ? 'met' : 'MISSED'}`);
  Object.assign(figures, { dwsep_float: dpt.float, dwsep_w8a8_pt_delta: dpt.delta, dwsep_w8a8_pc_delta: dpc.delta, dwsep_w4a8_pc_delta: d4.delta, dwsep_w4a8_pc_adaround_delta: d4a.delta, dwsep_w4a8_pc_adaround_s: adaroundSeconds });
  return figures;
}
