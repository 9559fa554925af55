/**
 * Native calibration (onnxruntime-node, reductions inside the ONNX graph)
 * against the TensorFlow.js calibration it replaces. Reference: the serial
 * calibrate() on the same folded model, data and batch order. Float
 * convolutions round differently in MLAS and XNNPACK, so ranges are compared
 * to float32 rounding (1e-5 of the range's magnitude, plus 1e-6), batch
 * counts and channel counts exactly. Covered: per-tensor and per-channel
 * activations, the three one-pass estimators (lastvalue and movingaverage
 * depend on batch order), a functional model with Add (the MLPerf Tiny
 * ResNet8 Keras file), non-finite activations (handed to TensorFlow.js, so
 * skipped exactly as there), cancel, and the plans it declines.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { Estimator, type EstimatorKind } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { calibrationRuntimeChoice, calibrateOnnx, nativeCalibrationUnsupported } from '../../../../src-main/engine/native/calibrate-onnx.js';
import { calibrate, type Calibration } from '../../../../src-main/engine/ptq/calibrate.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { arrayPart, loadDataset, makeBatches, mulberry32, sampleSplit, type BatchSource } from '../../../../src-main/io/data/dataset.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { readKerasModel } from '../../../../src-main/io/models/keras/read.js';
import { CancelledError } from '../../../../src-main/jobs/protocol.js';
import { ROOT, SAMPLE_DATA, config } from '../ptq/ptq-fixtures.js';

const BATCH = 50;
const RESNET8 = path.join(ROOT, 'test', 'fixtures', 'keras', 'mlcommons_tiny_resnet8.h5');

before(async () => {
  await initBackend('wasm');
});

function assertSameRanges(native: Calibration, reference: Calibration): void {
  assert.equal(native.samples, reference.samples);
  assert.deepEqual([...native.observers.keys()], [...reference.observers.keys()]);
  for (const [name, ref] of reference.observers) {
    const got = native.observers.get(name)!;
    assert.equal(got.batches, ref.batches, `${name}: batches`);
    assert.equal(got.sawNonFinite, ref.sawNonFinite, `${name}: sawNonFinite`);
    const a = got.range();
    const b = ref.range();
    assert.equal(a.min.length, b.min.length, `${name}: channels`);
    for (let c = 0; c < b.min.length; c++) {
      for (const [x, y, what] of [[a.min[c]!, b.min[c]!, 'min'], [a.max[c]!, b.max[c]!, 'max']] as const) {
        const tol = 1e-5 * Math.max(Math.abs(b.min[c]!), Math.abs(b.max[c]!)) + 1e-6;
        assert.ok(Math.abs(x - y) <= tol, `${name} channel ${c} ${what}: native ${x}, tfjs ${y}`);
      }
    }
  }
  for (const [name, ref] of reference.qparams) assert.equal(native.qparams.get(name)!.scale.length, ref.scale.length, `${name}: scales`);
}

async function both(graph: Graph, granularity: 'per-tensor' | 'per-channel', kind: EstimatorKind, part: BatchSource, indices: Int32Array) {
  const plan = planQuantization(graph, config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity } }));
  const estimator = Estimator.parse({ kind });
  const runtime = new GraphRuntime(graph, { trainable: false });
  const inputShape = inputNode(graph).outputShape;
  try {
    const reference = await calibrate(runtime, plan, estimator, () => makeBatches(part, indices, BATCH, inputShape));
    const progress: number[] = [];
    const native = await calibrateOnnx(
      { graph, runtime, plan, estimator, part, indices, batchSize: BATCH, inputShape, threads: 2 },
      { onBatch: (_pass, _passes, done) => progress.push(done) },
    );
    return { plan, reference, native, progress };
  } finally {
    runtime.dispose();
  }
}

describe('native calibration against TensorFlow.js', () => {
  const data = loadDataset(SAMPLE_DATA);
  // 5 batches of 50 and a short one of 20.
  const indices = sampleSplit(270, data.parts.train.count, 7);
  let cnnGraph: Graph | null = null;
  // Built on first use: the backend is set up in before().
  const cnnFolded = () => (cnnGraph ??= foldBatchNorm(builtinModel('fashion_cnn').build()).graph);

  for (const granularity of ['per-tensor', 'per-channel'] as const) {
    for (const kind of ['minmax', 'lastvalue', 'movingaverage'] as EstimatorKind[]) {
      test(`fashion_cnn, ${kind}, ${granularity} activations: same ranges`, async () => {
        const { native, reference, progress, plan } = await both(cnnFolded(), granularity, kind, data.parts.train, indices);
        assertSameRanges(native, reference);
        assert.equal(native.fallbackBatches, 0);
        // Per-channel stays per-channel: conv2d's output has 32 channels.
        assert.equal(native.qparams.get('conv2d/output')!.scale.length, granularity === 'per-channel' ? 32 : 1);
        // Kernels are observed as in the TensorFlow.js path (exactly: same code, same weights).
        for (const w of plan.weights) assert.deepEqual(native.qparams.get(w.name), reference.qparams.get(w.name), w.name);
        assert.deepEqual(progress, [0, 50, 100, 150, 200, 250, 270]);
        // The batch loop's seconds are a part of the step's (which adds the session and the kernels).
        assert.ok(native.loopSeconds! > 0 && native.loopSeconds! < native.seconds, `loop ${native.loopSeconds} s of ${native.seconds} s`);
      });
    }
  }

  test('depthwise-separable model, per-channel activations', async () => {
    const dw = foldBatchNorm(builtinModel('fashion_dwsep').build()).graph;
    const { native, reference } = await both(dw, 'per-channel', 'minmax', data.parts.train, indices);
    assertSameRanges(native, reference);
  });

  test('functional model with Add (MLPerf Tiny ResNet8, Keras .h5) on random CIFAR-shaped data', async () => {
    const graph = foldBatchNorm(await readKerasModel(RESNET8)).graph;
    const rand = mulberry32(3);
    const n = 120;
    const part: BatchSource = arrayPart(Float32Array.from({ length: n * 32 * 32 * 3 }, () => rand()), new Int32Array(n), 32 * 32 * 3);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    const { native, reference } = await both(graph, 'per-tensor', 'minmax', part, idx);
    assertSameRanges(native, reference);
    assert.ok(native.observers.size > 8, `${native.observers.size} activation observers`);
  });

  test('non-finite activations: those batches go through TensorFlow.js and are skipped exactly as there', async () => {
    // One sample of the second batch holds 3e38 in every pixel: the first Dense overflows to ±Inf on it, the next ones make NaN.
    const graph = foldBatchNorm(builtinModel('dense_784_256_128_10').build()).graph;
    const train = data.parts.train;
    const images = train.read(Int32Array.from({ length: 100 }, (_, i) => i));
    images.fill(3e38, 60 * train.sampleSize, 61 * train.sampleSize);
    const part: BatchSource = arrayPart(images, train.labels.slice(0, 100), train.sampleSize);
    const { native, reference } = await both(graph, 'per-tensor', 'minmax', part, Int32Array.from({ length: 100 }, (_, i) => i));
    assert.ok([...reference.observers.values()].some((o) => o.sawNonFinite), 'the reference saw non-finite values');
    assert.equal(native.fallbackBatches, 1);
    // The first batch ran natively (float32 rounding), the second through TensorFlow.js: same ranges, same non-finite flags.
    assertSameRanges(native, reference);
  });

  test('non-finite image activations (probes on the blocked layout): those batches go through TensorFlow.js too', async () => {
    // One sample of the third batch is NaN in every pixel: NaN from fashion_cnn's first convolution on.
    const train = data.parts.train;
    const images = train.read(Int32Array.from({ length: 150 }, (_, i) => i));
    images.fill(NaN, 120 * train.sampleSize, 121 * train.sampleSize);
    const part: BatchSource = arrayPart(images, train.labels.slice(0, 150), train.sampleSize);
    const { native, reference } = await both(cnnFolded(), 'per-tensor', 'minmax', part, Int32Array.from({ length: 150 }, (_, i) => i));
    assert.ok(reference.observers.get('conv2d/output')!.sawNonFinite, 'the reference saw NaN at the first convolution');
    assert.equal(native.fallbackBatches, 1);
    assertSameRanges(native, reference);
  });

  test('a cancel from onBatch stops before the next batch', async () => {
    const cnn = cnnFolded();
    const plan = planQuantization(cnn, config({}));
    const runtime = new GraphRuntime(cnn, { trainable: false });
    try {
      let calls = 0;
      await assert.rejects(
        calibrateOnnx(
          { graph: cnn, runtime, plan, estimator: Estimator.parse({ kind: 'minmax' }), part: data.parts.train, indices, batchSize: BATCH, inputShape: inputNode(cnn).outputShape },
          {
            onBatch() {
              if (++calls === 3) throw new CancelledError();
            },
          },
        ),
        CancelledError,
      );
      assert.equal(calls, 3);
    } finally {
      runtime.dispose();
    }
  });

  test('takes every estimator; declines per-channel activations off the channel axis, with the reason', () => {
    const cnn = cnnFolded();
    const plan = planQuantization(cnn, config({}));
    for (const kind of ['percentile', 'mse', 'entropy'] as const) assert.equal(nativeCalibrationUnsupported(cnn, plan, Estimator.parse({ kind })), null, kind);
    const offAxis = planQuantization(cnn, config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel', axis: 1 } }));
    assert.match(nativeCalibrationUnsupported(cnn, offAxis, Estimator.parse({ kind: 'minmax' }))!, /per-channel on axis 1, not its channel axis/);
    assert.equal(nativeCalibrationUnsupported(cnn, plan, Estimator.parse({ kind: 'movingaverage' })), null);
  });

  test('runtime choice: request, then $STUDIO_CALIBRATION_RUNTIME, else auto; a wrong value is an error', () => {
    assert.equal(calibrationRuntimeChoice('tfjs', { STUDIO_CALIBRATION_RUNTIME: 'onnxruntime' }), 'tfjs');
    assert.equal(calibrationRuntimeChoice(undefined, { STUDIO_CALIBRATION_RUNTIME: 'TFJS' }), 'tfjs');
    assert.equal(calibrationRuntimeChoice(undefined, {}), 'auto');
    assert.throws(() => calibrationRuntimeChoice(undefined, { STUDIO_CALIBRATION_RUNTIME: 'gpu' }), /STUDIO_CALIBRATION_RUNTIME=gpu is not one of auto, onnxruntime, tfjs/);
  });
});
