import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { RunConfig, Training } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { deserializeGraph, serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { evaluate } from '../../../../src-main/engine/train/evaluate.js';
import { runFloatTraining } from '../../../../src-main/engine/train/float-run.js';
import { epochOrder, trainingSchedule, trainLoop, TrainingError, type TrainLoopOptions } from '../../../../src-main/engine/train/loop.js';
import { arrayPart, DatasetError, mulberry32, type LoadedDataset, type LoadedPart } from '../../../../src-main/io/data/dataset.js';
import { CancelledError, type JobContext } from '../../../../src-main/jobs/protocol.js';
import type { CurvePoint } from '../../../../src-main/store/curves.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '..');
const SAMPLE = path.join(root, 'assets', 'sample', 'fashion-mnist');

before(async () => {
  await initBackend('cpu');
});

/**
 * Three Gaussian blobs in 2-D around (−2,0), (2,0), (0,2.5), σ = 0.5:
 * linearly separable but for a tiny overlap.
 */
function blobs(n: number, seed: number): LoadedPart & { images: Float32Array } {
  const rand = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const centres = [[-2, 0], [2, 0], [0, 2.5]] as const;
  const images = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = i % 3;
    labels[i] = y;
    images[2 * i] = centres[y]![0] + 0.5 * gauss();
    images[2 * i + 1] = centres[y]![1] + 0.5 * gauss();
  }
  // Held in memory (arrayPart reads from `images`, so the tests below can spoil samples in place).
  return { ...arrayPart(images, labels, 2, { imagesFile: `blobs-${seed}-images`, labelsFile: `blobs-${seed}-labels` }), images };
}

function blobData(): LoadedDataset & { parts: { train: { images: Float32Array } } } {
  return { path: 'blobs', parts: { train: blobs(600, 1), test: blobs(300, 2) }, inputShape: [2], numClasses: 3, preprocessing: { scale: 1, offset: 0 }, notes: [] };
}

/** Dense(8, relu) → BatchNorm (momentum 0.8) → Dense(3, softmax), seeded. */
function tinyGraph(): Graph {
  const model = tf.sequential({
    name: 'tiny',
    layers: [
      tf.layers.dense({ name: 'dense', inputShape: [2], units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization({ name: 'batch_normalization', momentum: 0.8 }), // moving statistics settle within this short training
      tf.layers.dense({ name: 'dense_1', units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  try {
    return graphFromLayersModel(model);
  } finally {
    model.dispose();
  }
}

interface Recorder extends JobContext {
  progressCalls: [string, number, number][];
  emitted: CurvePoint[][];
}

function recorder(cancelAfter = Infinity): Recorder {
  let checks = 0;
  const r: Recorder = {
    jobId: 1,
    progressCalls: [],
    emitted: [],
    progress(phase, done, total) {
      r.progressCalls.push([phase, done, total]);
    },
    emit(name, data) {
      assert.equal(name, 'curves');
      r.emitted.push(data as CurvePoint[]);
    },
    cancelled: () => checks > cancelAfter,
    checkCancelled() {
      if (++checks > cancelAfter) throw new CancelledError();
    },
  };
  return r;
}

const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const training = (t: Partial<Training> = {}) => Training.parse({ learningRate: 0.01, batchSize: 32, epochs: 3, ...t });

function options(runtime: GraphRuntime, ctx: JobContext, extra: Partial<TrainLoopOptions> = {}): TrainLoopOptions {
  const data = blobData();
  return { runtime, data, trainIdx: range(540), valIdx: Int32Array.from({ length: 60 }, (_, i) => 540 + i), training: training(), ctx, seed: 3, ...extra };
}

test('a tiny model learns separable blobs: loss falls, accuracy high, curves streamed in chunks', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const before = tf.memory().numTensors;
  const ctx = recorder();
  const steps: number[] = [];
  const evals: number[] = [];
  const r = await trainLoop(options(runtime, ctx, { onStep: (p) => steps.push(p.loss), onEval: (p) => evals.push(p.step) }));
  assert.equal(tf.memory().numTensors, before, 'no tensors leak (optimizer state and checkpoints disposed)');
  assert.equal(r.stepsPerEpoch, 17); // ceil(540 / 32)
  assert.equal(r.steps, 51);
  assert.equal(steps.length, 51);
  assert.deepEqual(evals, [17, 34, 51], 'validation at each epoch end');
  const train = r.curves.filter((p) => p.split === 'train');
  assert.ok(train[0]!.loss! > 2 * train[train.length - 1]!.loss!, `loss ${train[0]!.loss} → ${train[train.length - 1]!.loss}`);
  assert.ok(r.bestValAccuracy! >= 0.95, `val accuracy ${r.bestValAccuracy}`);
  const test = await evaluate(runtime, blobData().parts.test, range(300), { batchSize: 64 });
  assert.equal(test.count, 300);
  assert.ok(test.accuracy >= 0.95, `test accuracy ${test.accuracy}`);
  assert.deepEqual(ctx.emitted.flat(), r.curves, 'every curve point is emitted, in order');
  assert.ok(ctx.emitted.every((chunk) => chunk.length <= 20));
  assert.deepEqual(r.curves.filter((p) => p.split === 'val').map((p) => p.epoch), [1, 2, 3]);
  const trainProgress = ctx.progressCalls.filter(([phase]) => phase === 'train');
  assert.deepEqual(trainProgress[trainProgress.length - 1], ['train', 51, 51]);
  runtime.dispose();
});

test('SGD with momentum, fractional epochs and validation inside long epochs', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const evals: number[] = [];
  const r = await trainLoop(options(runtime, recorder(), { training: training({ optimizer: 'sgd', learningRate: 0.05, epochs: 1.5 }), validateEvery: 6, onEval: (p) => evals.push(p.step) }));
  assert.equal(r.steps, 26); // ceil(1.5 · 17)
  assert.deepEqual(evals, [6, 11, 17, 23, 26], 'three evenly spaced points per 17-step epoch, and after the last step');
  assert.ok(r.bestValAccuracy! >= 0.9, `val accuracy ${r.bestValAccuracy}`);
  runtime.dispose();
});

test('the best checkpoint by validation accuracy is restored at the end', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const vals: { step: number; acc: number }[] = [];
  const snapshots = new Map<number, Float32Array[]>();
  const opts = options(runtime, recorder(), {
    // Before the last step, wreck the weights: the last checkpoint is bad.
    beforeStep(step) {
      if (step === 50) for (const v of runtime.trainableVariables()) v.assign(tf.zerosLike(v));
    },
    onEval(p) {
      vals.push({ step: p.step, acc: p.valAccuracy });
      snapshots.set(p.step, runtime.weightVariables().map((w) => w.variable.dataSync().slice() as Float32Array));
    },
  });
  const r = await trainLoop(opts);
  const last = vals[vals.length - 1]!;
  assert.equal(last.step, 51);
  assert.ok(last.acc < 0.5 && last.acc < r.bestValAccuracy!, `last ${last.acc} should be far below best ${r.bestValAccuracy}`);
  assert.equal(r.bestValAccuracy, Math.max(...vals.map((v) => v.acc)));
  assert.ok(r.bestStep < 51, `best step ${r.bestStep}`);
  runtime.weightVariables().forEach((w, i) => assert.deepEqual(w.variable.dataSync(), snapshots.get(r.bestStep)![i], `${w.node}/${w.weight} (moving statistics included) restored`));
  const after = await evaluate(runtime, opts.data.parts.train, opts.valIdx, { batchSize: 64 });
  assert.equal(after.accuracy, r.bestValAccuracy);
  runtime.dispose();
});

test('without validation samples the final weights are kept', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const r = await trainLoop(options(runtime, recorder(), { valIdx: new Int32Array(0), training: training({ epochs: 1 }) }));
  assert.equal(r.bestValAccuracy, null);
  assert.equal(r.bestStep, r.steps);
  assert.ok(r.curves.every((p) => p.split === 'train'));
  runtime.dispose();
});

test('cancellation: a ctx whose checkCancelled throws stops training at once, without leaks', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const before = tf.memory().numTensors;
  const ctx = recorder(3);
  let steps = 0;
  await assert.rejects(trainLoop(options(runtime, ctx, { onStep: () => steps++ })), CancelledError);
  assert.equal(steps, 3);
  assert.equal(tf.memory().numTensors, before);
  runtime.dispose();
});

test('NaN in the data stops training with an error naming the step and the sample', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const data = blobData();
  data.parts.train.images[2 * 77 + 1] = NaN;
  const before = tf.memory().numTensors;
  await assert.rejects(trainLoop({ ...options(runtime, recorder()), data }), (e: unknown) => {
    assert.ok(e instanceof TrainingError);
    assert.match(e.message, /^training stopped at step \d+ \(epoch 1\): the loss is NaN because training sample 77 of blobs-1-images holds NaN$/);
    return true;
  });
  assert.equal(tf.memory().numTensors, before);
  runtime.dispose();
});

test('a diverging learning rate stops with an error naming the step and the learning rate', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const data = blobData();
  for (let i = 0; i < data.parts.train.images.length; i++) data.parts.train.images[i]! *= 1e18;
  await assert.rejects(trainLoop({ ...options(runtime, recorder(), { training: training({ optimizer: 'sgd', learningRate: 1e6, momentum: 0 }) }), data }), (e: unknown) => {
    assert.ok(e instanceof TrainingError);
    assert.match(e.message, /^training stopped at step \d+ \(epoch \d\): the loss is (NaN|Infinity).*try a lower learning rate \(now 1000000\)$/);
    return true;
  });
  runtime.dispose();
});

test('diverging after a validation: the error carries the best checkpoint and the weights are set back to it', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  let atBest: number[][] | null = null;
  const ruin = (step: number) => {
    // Step 20 of 51, after the validation at step 17: a weight goes NaN, so the next loss is NaN.
    if (step !== 20) return;
    const w = runtime.weightVariables()[0]!.variable;
    w.assign(tf.fill(w.shape, NaN));
  };
  await assert.rejects(
    trainLoop(
      options(runtime, recorder(), {
        beforeStep: ruin,
        onEval: (p) => {
          if (p.step === 17) atBest = runtime.weightVariables().map((w) => Array.from(w.variable.dataSync()));
        },
      }),
    ),
    (e: unknown) => {
      assert.ok(e instanceof TrainingError);
      assert.match(e.message, /^training stopped at step 21 \(epoch 2\): the loss is NaN and weight .* holds NaN/);
      assert.equal(e.checkpoint?.step, 17);
      assert.ok(e.checkpoint!.valAccuracy > 0.5, `val accuracy ${e.checkpoint!.valAccuracy}`);
      return true;
    },
  );
  assert.ok(atBest);
  assert.deepEqual(runtime.weightVariables().map((w) => Array.from(w.variable.dataSync())), atBest, 'the runtime holds the step-17 weights again');
  runtime.dispose();
});

test('diverging before any validation: no checkpoint to keep', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  const ruin = (step: number) => {
    if (step !== 3) return;
    const w = runtime.weightVariables()[0]!.variable;
    w.assign(tf.fill(w.shape, NaN));
  };
  await assert.rejects(trainLoop(options(runtime, recorder(), { beforeStep: ruin })), (e: unknown) => e instanceof TrainingError && e.checkpoint === null);
  runtime.dispose();
});

test('an empty training split is a DatasetError', async () => {
  const runtime = new GraphRuntime(tinyGraph());
  await assert.rejects(trainLoop(options(runtime, recorder(), { trainIdx: new Int32Array(0) })), (e: unknown) => e instanceof DatasetError && /training split is empty/.test(e.message));
  runtime.dispose();
});

test('deterministic with a seed on cpu; another seed shuffles differently', async () => {
  const weightsAfter = async (seed: number) => {
    const runtime = new GraphRuntime(tinyGraph());
    const r = await trainLoop(options(runtime, recorder(), { seed, training: training({ epochs: 2 }) }));
    const values = runtime.weightVariables().map((w) => Array.from(w.variable.dataSync()));
    runtime.dispose();
    return { values, curves: r.curves };
  };
  const a = await weightsAfter(11);
  const b = await weightsAfter(11);
  const c = await weightsAfter(12);
  assert.deepEqual(a.values, b.values);
  assert.deepEqual(a.curves, b.curves);
  assert.notDeepEqual(a.values, c.values);
});

test('runFloatTraining on the bundled sample: a flat dense model trains, evaluates on the test part, returns the model', async () => {
  const model = tf.sequential({
    name: 'flat',
    layers: [
      tf.layers.dense({ name: 'dense', inputShape: [784], units: 32, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      tf.layers.dense({ name: 'dense_1', units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }),
    ],
  });
  const graph = graphFromLayersModel(model);
  model.dispose();
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, eval: { count: 5000, seed: 1 }, training: { epochs: 2, batchSize: 32, learningRate: 2e-3, validationSplit: 0.1 } });
  const ctx = recorder();
  const r = await runFloatTraining({ config, modelName: 'flat', model: serializeGraph(graph), dataset: { path: SAMPLE, format: 'idx', preprocessing: {} } }, ctx);
  assert.ok(r.floatAccuracy > 0.7, `test accuracy ${r.floatAccuracy}`);
  assert.ok(Number.isFinite(r.floatLoss) && r.floatLoss < 1);
  assert.equal(r.quantAccuracy, null);
  assert.deepEqual(r.tensors, []);
  const s = r.summary as { train: { count: number; validationCount: number; steps: number; bestValAccuracy: number }; eval: { count: number }; notes: string[]; backend: string };
  assert.equal(s.backend, 'cpu');
  assert.equal(s.train.count, 1800);
  assert.equal(s.train.validationCount, 200);
  assert.equal(s.train.steps, 2 * Math.ceil(1800 / 32));
  assert.equal(s.eval.count, 2000);
  assert.ok(s.notes.some((n) => /eval split asked for 5000 samples; the test part has 2000/.test(n)), s.notes.join('; '));
  assert.ok(s.notes.some((n) => /reshaped to the model input \[784\]/.test(n)));
  assert.ok(ctx.progressCalls.some(([phase]) => phase === 'evaluate'));
  // The returned model is the trained one: evaluating it again gives the reported accuracy.
  const trained = new GraphRuntime(deserializeGraph(r.trainedModel), { trainable: false });
  const { loadDataset, sampleSplit } = await import('../../../../src-main/io/data/dataset.js');
  const data = loadDataset({ path: SAMPLE, format: 'idx', preprocessing: {} });
  const again = await evaluate(trained, data.parts.test, sampleSplit(5000, 2000, 1), { batchSize: 256 });
  assert.equal(again.accuracy, r.floatAccuracy);
  trained.dispose();
});

test('runFloatTraining rejects a model that does not fit the data, naming both shapes', async () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ name: 'dense', inputShape: [100], units: 10 })] });
  const graph = graphFromLayersModel(model);
  model.dispose();
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, training: {} });
  await assert.rejects(
    runFloatTraining({ config, modelName: 'm', model: serializeGraph(graph), dataset: { path: SAMPLE, format: 'idx', preprocessing: {} } }, recorder()),
    (e: unknown) => e instanceof DatasetError && /images are \[28,28,1\] \(784 values\) but the model expects inputs of shape \[100\]/.test(e.message),
  );
});

test('trainingSchedule: batches per epoch with a short last one, a fraction of an epoch rounds up, at least one step', () => {
  // Fashion-MNIST's 60,000 train images in batches of 64: 937 full batches and one of 32.
  assert.deepEqual(trainingSchedule(60_000, { epochs: 2, batchSize: 64 }), { stepsPerEpoch: 938, totalSteps: 1876, epochs: 2 });
  assert.deepEqual(trainingSchedule(60_000, { epochs: 0.1, batchSize: 64 }), { stepsPerEpoch: 938, totalSteps: 94, epochs: 1 });
  assert.deepEqual(trainingSchedule(60_000, { epochs: 1.5, batchSize: 64 }), { stepsPerEpoch: 938, totalSteps: 1407, epochs: 2 });
  assert.deepEqual(trainingSchedule(10, { epochs: 1e-6, batchSize: 64 }), { stepsPerEpoch: 1, totalSteps: 1, epochs: 1 });
});

test('epochOrder: a permutation of the training indices, the same for the same seed and epoch, another for the next epoch', () => {
  const idx = Int32Array.from({ length: 100 }, (_, i) => 3 * i);
  const first = epochOrder(idx, 7, 0);
  assert.deepEqual([...first].sort((a, b) => a - b), [...idx]);
  assert.deepEqual(epochOrder(idx, 7, 0), first);
  assert.notDeepEqual(epochOrder(idx, 7, 1), first);
  assert.notDeepEqual(epochOrder(idx, 8, 0), first);
  assert.deepEqual([...idx], Array.from({ length: 100 }, (_, i) => 3 * i), 'the indices given are left as they were');
});
