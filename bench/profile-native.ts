/**
 * Where native PTQ time goes (a developer tool, not part of `npm run bench`):
 * data reading alone, the float forward alone, the calibration graph
 * (calibrateOnnx), building the evaluation graphs, and the evaluation
 * (evaluateOnnx) with its per-layer statistics and without them, in one
 * process, `rounds` times. For a 224x224 model: a keras.applications model
 * written by bench/scale-model.ts and the scale bench's NPY
 * (writeScaleDataset in bench/scale.ts). PROFILE_ONLY=calibrate,evaluate
 * (or gather, float) picks parts; PROFILE_CALIB_BATCH sets the calibration batch.
 *   node dist/bench/profile-native.js MODEL_JSON DATA_DIR [calib] [eval] [rounds]
 * (DATA_DIR: the scale bench's x.npy + y.npy folder, or an IDX folder such as
 * /usr/share/datasets/fashion-mnist.)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { RunConfig } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import '../src-main/engine/graph/tfjs-compat/index.js';
import { GraphRuntime } from '../src-main/engine/graph/runtime.js';
import { inputNode } from '../src-main/engine/graph/types.js';
import { calibrateOnnx, prepareNativeCalibration } from '../src-main/engine/native/calibrate-onnx.js';
import { evaluateOnnx, buildEvaluationModels } from '../src-main/engine/native/evaluate-onnx.js';
import { createSession, loadOnnxRuntime } from '../src-main/engine/native/session.js';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT } from '../src-main/engine/onnx/build.js';
import { activationValuesPerSample, memoryBudget } from '../src-main/engine/memory.js';
import { prepare } from '../src-main/engine/prepare.js';
import { runBatches, HISTOGRAM_BINS } from '../src-main/engine/ptq/run.js';
import { STATS_VALUES } from '../src-main/engine/ptq/evaluate-runtime.js';
import { gatherSamples } from '../src-main/io/data/split.js';
import { loadDataset, sampleSplit } from '../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../src-main/io/models/tfjs-layers.js';

const [modelJson, dataDir, calibArg, evalArg, roundsArg] = process.argv.slice(2);
if (!modelJson || !dataDir) throw new Error('usage: profile-native.js MODEL_JSON DATA_DIR [calib] [eval] [rounds]');
await initBackend('auto');
const source = await readTfjsLayersModel(modelJson);
const config = RunConfig.parse({ modelId: 1, datasetId: 1 });
const { graph, plan } = prepare(source, config);
const batches = runBatches(graph, memoryBudget(), config.estimator);
// An IDX folder (Fashion-MNIST) as it is; an NPY folder as the scale bench imports it ([-1, 1]).
const npy = existsSync(path.join(dataDir, 'x.npy'));
const data = loadDataset(npy ? { path: dataDir, format: 'npy', preprocessing: { scale: 1 / 127.5, mean: [1] } } : { path: dataDir, format: 'idx', preprocessing: {} });
const part = data.parts.train;
const calibIdx = sampleSplit(Number(calibArg ?? 200), part.count, 0);
const evalIdx = sampleSplit(Number(evalArg ?? 200), part.count, 1);
const inputShape = inputNode(graph).outputShape;
const runtime = new GraphRuntime(graph, { trainable: false });
const ort = await loadOnnxRuntime();
console.log(`batches: calibration ${batches.calibration}, evaluation ${batches.evaluation}; ${plan.activations.length} activations`);

const t = async (label: string, n: number, f: () => Promise<unknown>) => {
  const s = performance.now();
  await f();
  const sec = (performance.now() - s) / 1000;
  console.log(`${label.padEnd(44)} ${sec.toFixed(2).padStart(7)} s  ${(n / sec).toFixed(1).padStart(7)} samples/s`);
};
const floatModel = encodeOnnx(buildOnnxGraph({ graph, plan: { ...plan, weights: [], activations: [] }, qparams: new Map() }).model);
const floatSession = (await createSession(floatModel)).session;
const { model } = prepareNativeCalibration(graph, plan, config.estimator) as { model: NonNullable<Parameters<typeof calibrateOnnx>[0]['model']> };
let calib: Awaited<ReturnType<typeof calibrateOnnx>> | null = null;
const rounds = Number(roundsArg ?? 2);
const only = (process.env.PROFILE_ONLY ?? 'gather,float,calibrate,evaluate').split(',');
for (let r = 0; r < rounds; r++) {
  const bs = Number(process.env.PROFILE_CALIB_BATCH ?? batches.calibration);
  if (only.includes('gather'))
    await t('gather only', calibIdx.length, async () => {
      for (let s = 0; s < calibIdx.length; s += bs) gatherSamples(part, calibIdx.subarray(s, s + bs));
    });
  if (only.includes('float'))
    await t(`float forward (batch ${bs})`, calibIdx.length, async () => {
      for (let s = 0; s < calibIdx.length; s += bs) {
        const idx = calibIdx.subarray(s, s + bs);
        await floatSession.run({ [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(part, idx), [idx.length, ...inputShape]) });
      }
    });
  if (only.includes('calibrate') || !calib)
    await t(`calibrateOnnx (batch ${bs})`, calibIdx.length, async () => {
      calib = await calibrateOnnx({ graph, runtime, plan, estimator: config.estimator, part, indices: calibIdx, batchSize: bs, inputShape, model });
    });
  if (calib) {
    const c = calib as Awaited<ReturnType<typeof calibrateOnnx>>;
    console.log(`  of which the batch loop ${c.loopSeconds!.toFixed(2)} s (${(c.samples / c.loopSeconds!).toFixed(1)} samples/s); session and kernels ${(c.seconds - c.loopSeconds!).toFixed(2)} s`);
  }
  if (only.includes('evaluate')) {
    const span = new Map<string, { lo: number; hi: number }>();
    for (const [name, obs] of calib!.observers) {
      const rr = obs.range();
      span.set(name, { lo: Math.min(...rr.min), hi: Math.max(...rr.max) });
    }
    const input = { graph, plan, qparams: calib!.qparams, histogramSpan: span, bins: HISTOGRAM_BINS };
    let models: ReturnType<typeof buildEvaluationModels> | undefined;
    await t('buildEvaluationModels', 1, async () => {
      models = buildEvaluationModels(input);
    });
    const statsSamples = Math.max(batches.evaluation, Math.floor(STATS_VALUES / activationValuesPerSample(graph)));
    await t(`evaluateOnnx (batch ${batches.evaluation}, stats on ${statsSamples})`, evalIdx.length, async () => {
      await evaluateOnnx({ ...input, models: models!, part, indices: evalIdx, inputShape, batchSize: batches.evaluation, statsSamples, fromLogits: true });
    });
    await t(`evaluateOnnx, statistics on one batch only`, evalIdx.length, async () => {
      await evaluateOnnx({ ...input, models: models!, part, indices: evalIdx, inputShape, batchSize: batches.evaluation, statsSamples: 1, fromLogits: true });
    });
  }
}
await floatSession.release();
runtime.dispose();
