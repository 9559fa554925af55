/**
 * Native evaluation (float and simulated branches in one onnxruntime graph,
 * statistics reduced inside it) against the TensorFlow.js comparison it
 * replaces, on the same calibration, data and batches. Reference:
 * compareFloatAndQuant (engine/ptq/evaluate.ts). Float convolutions round
 * differently in MLAS and XNNPACK, and a value that lands within float32
 * rounding of a rounding boundary of a fake quantizer moves one step, so:
 * accuracies within 1 point, SQNR within 0.05 dB (float32 batch sums of the
 * same values, accumulated in float64), clip rates within
 * 1e-3, histogram counts with the same total and at most 0.1% of the mass
 * moved between bins.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Estimator } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { buildEvaluationModels, evaluateOnnx, QUANT_OUTPUT, simulatedKernels } from '../../../../src-main/engine/native/evaluate-onnx.js';
import { createSession, loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { decodeOnnx, ONNX_INPUT, ONNX_OUTPUT, poolFirstQuantizers } from '../../../../src-main/engine/onnx/build.js';
import { gatherSamples } from '../../../../src-main/io/data/split.js';
import { calibrate } from '../../../../src-main/engine/ptq/calibrate.js';
import { compareFloatAndQuant, type Comparison } from '../../../../src-main/engine/ptq/evaluate.js';
import { fakeQuantKernel } from '../../../../src-main/engine/ptq/sim-hooks.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { loadDataset, makeBatches, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { SAMPLE_DATA, config } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const BINS = 64;

async function both(graph: Graph, granularity: 'per-tensor' | 'per-channel', opts: { statsSamples?: number; bits?: number } = {}) {
  const data = loadDataset(SAMPLE_DATA);
  const plan = planQuantization(
    graph,
    config({
      weights: { bits: opts.bits ?? 8, symmetric: true, narrowRange: true, granularity },
      activations: { bits: 8, symmetric: false, narrowRange: false, granularity },
    }),
  );
  const runtime = new GraphRuntime(graph, { trainable: false });
  const inputShape = inputNode(graph).outputShape;
  const calibIdx = sampleSplit(300, data.parts.train.count, 3);
  const evalIdx = sampleSplit(400, data.parts.test.count, 4);
  try {
    const cal = await calibrate(runtime, plan, Estimator.parse({ kind: 'minmax' }), () => makeBatches(data.parts.train, calibIdx, 100, inputShape));
    const histogramSpan = new Map([...cal.observers].map(([name, o]) => [name, { lo: Math.min(...o.range().min), hi: Math.max(...o.range().max) }]));
    const fromLogits = !runtime.logitsOf.appliesSoftmax;
    const reference = await compareFloatAndQuant(runtime, plan, cal.qparams, makeBatches(data.parts.test, evalIdx, 100, inputShape), { histogramSpan, bins: BINS });
    const progress: number[] = [];
    const native = await evaluateOnnx({
      graph,
      plan,
      qparams: cal.qparams,
      histogramSpan,
      bins: BINS,
      part: data.parts.test,
      indices: evalIdx,
      inputShape,
      batchSize: 100,
      statsSamples: opts.statsSamples ?? Infinity,
      fromLogits,
      threads: 2,
      onBatch: (done) => progress.push(done),
    });
    return { reference, native, progress, plan, qparams: cal.qparams };
  } finally {
    runtime.dispose();
  }
}

function assertSameStatistics(native: Comparison, reference: Comparison): void {
  assert.equal(native.count, reference.count);
  assert.ok(Math.abs(native.float.accuracy - reference.float.accuracy) <= 0.01, `float accuracy ${native.float.accuracy} vs ${reference.float.accuracy}`);
  assert.ok(Math.abs(native.quant.accuracy - reference.quant.accuracy) <= 0.01, `quant accuracy ${native.quant.accuracy} vs ${reference.quant.accuracy}`);
  assert.ok(Math.abs(native.float.loss - reference.float.loss) <= 1e-3, `float loss ${native.float.loss} vs ${reference.float.loss}`);
  assert.deepEqual([...native.activations.keys()].sort(), [...reference.activations.keys()].sort());
  for (const [name, ref] of reference.activations) {
    const got = native.activations.get(name)!;
    assert.equal(got.at, ref.at);
    assert.ok(Math.abs(got.sqnr - ref.sqnr) <= 0.05, `${name}: SQNR native ${got.sqnr} vs tfjs ${ref.sqnr}`);
    assert.ok(Math.abs(got.clipRate - ref.clipRate) <= 1e-3, `${name}: clip ${got.clipRate} vs ${ref.clipRate}`);
    assert.equal(got.perChannelSqnr === null, ref.perChannelSqnr === null, `${name}: per-channel SQNR present in both or neither`);
    if (ref.perChannelSqnr) {
      assert.equal(got.perChannelSqnr!.length, ref.perChannelSqnr.length);
      ref.perChannelSqnr.forEach((v, c) => {
        const g = got.perChannelSqnr![c]!;
        assert.ok((v === g) || Math.abs(g - v) <= 0.1, `${name} channel ${c}: ${g} vs ${v}`);
      });
    }
    assert.equal(got.histogram.lo, ref.histogram.lo);
    assert.equal(got.histogram.hi, ref.histogram.hi);
    const total = ref.histogram.counts.reduce((a, b) => a + b, 0);
    assert.equal(got.histogram.counts.reduce((a, b) => a + b, 0), total, `${name}: histogram total`);
    let moved = 0;
    ref.histogram.counts.forEach((c, i) => (moved += Math.abs(c - got.histogram.counts[i]!)));
    assert.ok(moved / 2 <= total * 1e-3, `${name}: ${moved / 2} of ${total} values in another bin`);
  }
}

describe('native evaluation against TensorFlow.js', () => {
  for (const granularity of ['per-tensor', 'per-channel'] as const) {
    test(`fashion_cnn, ${granularity}: accuracies, SQNR, clip rates and histograms agree`, async () => {
      const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
      const { native, reference, progress } = await both(graph, granularity);
      assertSameStatistics(native, reference);
      assert.equal(native.statsCount, 400);
      assert.deepEqual(progress, [0, 100, 200, 300, 400]);
    });
  }

  test('depthwise-separable net at 4-bit per-channel weights', async () => {
    const graph = foldBatchNorm(builtinModel('fashion_dwsep').build()).graph;
    const { native, reference } = await both(graph, 'per-channel', { bits: 4 });
    assertSameStatistics(native, reference);
  });

  test('statistics on the first batches only, accuracy and loss on all', async () => {
    const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
    const all = await both(graph, 'per-tensor');
    const first = await both(graph, 'per-tensor', { statsSamples: 150 });
    assert.equal(first.native.count, 400);
    // Whole batches: 150 samples asked, two batches of 100 taken.
    assert.equal(first.native.statsCount, 200);
    assert.equal(first.native.quant.accuracy, all.native.quant.accuracy);
    assert.equal(first.native.float.loss, all.native.float.loss);
    for (const [name, s] of first.native.activations) {
      // Half the values of the whole split: the first 200 of 400 samples.
      assert.equal(s.histogram.counts.reduce((a, b) => a + b, 0) * 2, all.native.activations.get(name)!.histogram.counts.reduce((a, b) => a + b, 0), `${name}: histogram of 200 samples`);
      assert.ok(Number.isFinite(s.sqnr) && Number.isFinite(s.clipRate), name);
    }
  });

  test('simulated kernels equal the TensorFlow.js simulation bit for bit', async () => {
    const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
    const plan = planQuantization(graph, config({ weights: { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } }));
    const runtime = new GraphRuntime(graph, { trainable: false });
    try {
      const data = loadDataset(SAMPLE_DATA);
      const cal = await calibrate(runtime, plan, Estimator.parse({ kind: 'minmax' }), () => makeBatches(data.parts.train, sampleSplit(100, 2000, 1), 100, inputNode(graph).outputShape));
      const kernels = simulatedKernels(graph, plan, cal.qparams);
      const byLayer = new Map(runtime.weightVariables().filter((w) => w.weight === 'kernel').map((w) => [w.node, w.variable]));
      for (const wq of plan.weights) {
        const expected = tf.tidy(() => fakeQuantKernel(byLayer.get(wq.layer)!, wq, cal.qparams.get(wq.name)!).dataSync());
        assert.deepEqual(kernels.get(wq.layer), Float32Array.from(expected), wq.layer);
      }
      // The models build: both branches and one statistics group per planned activation.
      const models = buildEvaluationModels({ graph, plan, qparams: cal.qparams, histogramSpan: new Map(), bins: 16 });
      assert.equal(models.probes.length, plan.activations.length);
      assert.ok(models.withStats.length > models.plain.length);
    } finally {
      runtime.dispose();
    }
  });

  for (const granularity of ['per-tensor', 'per-channel'] as const) {
    test(`fashion_cnn, ${granularity}: the accuracy graph's fake quant after each max pool gives the statistics graph's outputs bit for bit`, async () => {
      const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
      const plan = planQuantization(graph, config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity }, activations: { bits: 8, symmetric: false, narrowRange: false, granularity } }));
      // The CNN's two conv outputs feed only max pools: those two quantizers move.
      assert.deepEqual([...poolFirstQuantizers(graph, plan).values()].map((a) => a.at).sort(), graph.nodes.filter((n) => n.op === 'maxPool2d').map((n) => n.inputs[0]).sort());
      const runtime = new GraphRuntime(graph, { trainable: false });
      const data = loadDataset(SAMPLE_DATA);
      try {
        const inputShape = inputNode(graph).outputShape;
        const cal = await calibrate(runtime, plan, Estimator.parse({ kind: 'minmax' }), () => makeBatches(data.parts.train, sampleSplit(200, 2000, 1), 100, inputShape));
        const models = buildEvaluationModels({ graph, plan, qparams: cal.qparams, histogramSpan: new Map(), bins: 16 });
        const ort = await loadOnnxRuntime();
        const idx = sampleSplit(300, data.parts.test.count, 2);
        const feeds = { [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(data.parts.test, idx), [idx.length, ...inputShape]) };
        const outputs = async (model: Uint8Array) => {
          const { session } = await createSession(model, { threads: 2 });
          try {
            const out = await session.run(feeds);
            return { float: Float32Array.from(out[ONNX_OUTPUT]!.data as Float32Array), quant: Float32Array.from(out[QUANT_OUTPUT]!.data as Float32Array) };
          } finally {
            await session.release();
          }
        };
        const stats = await outputs(models.withStats);
        const plain = await outputs(models.plain);
        assert.deepEqual(plain.quant, stats.quant);
        assert.deepEqual(plain.float, stats.float);
        // Not the same graph: the moved fake quants read the pools' outputs.
        const plainGraph = decodeOnnx(models.plain).graph!;
        for (const a of poolFirstQuantizers(graph, plan).values()) {
          // The fake quant's first node: per tensor its clip, per channel the rows view.
          const first = plainGraph.node.find((n) => n.name === `q:${a.name}/${granularity === 'per-tensor' ? 'fq_clipped' : 'fq_rows'}`);
          assert.ok(first, `${a.name}: fake quant in the accuracy graph`);
          const producer = plainGraph.node.find((n) => n.output.includes(first.input[0]!));
          assert.equal(producer?.opType, 'MaxPool', `${a.name}: fake quant reads ${producer?.name}`);
        }
      } finally {
        runtime.dispose();
      }
    });
  }
});
