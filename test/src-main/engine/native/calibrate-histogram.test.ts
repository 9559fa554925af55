/**
 * The histogram estimators (percentile, mse, entropy) calibrated on
 * onnxruntime-node (range pass in the probe graph, histograms binned in a
 * second graph) against the TensorFlow.js two-pass calibration they replace,
 * on the same folded model, real Fashion-MNIST images (Debian's
 * dataset-fashion-mnist) and batch order. Models: the bundled trained
 * sample CNN, the depthwise-separable fashion_dwsep, and a model of mobile
 * blocks (depthwise convolutions, a residual Add, squeeze-and-excite).
 * Per-tensor asymmetric activations (histograms of x over [min, max]) and
 * per-channel symmetric ones (|x| over [0, max|x|]). Also: a batch holding
 * NaN/±Inf, cancel in the second pass, and PTQ runs.
 *
 * Tolerances, and why. MLAS and XNNPACK round float convolutions
 * differently, so the pass-1 extremes agree to float32 rounding (1e-5 of the
 * magnitude plus 1e-6, as the one-pass tests) and so does the bin grid fixed
 * from them. The binning is exact (histogram-nodes.test.ts: identical bins
 * for identical values), so a count moves only when its value lies within
 * that rounding of a bin edge, and then into the neighbouring bin: measured,
 * at most 1.2e-4 of the mass moved (bound 1e-3), each moved count travelling
 * 1.00–1.11 bins on net (earth mover's distance over moved counts; bound
 * 1.25). The range is read off counts and grid, so it agrees to float32
 * rounding (measured ≤ 1.7e-6 of the magnitude, scales ≤ 1.7e-6 relative,
 * same zero points; bounds 1e-5 and 1) — except where a moved count tips the
 * mse / entropy search to a neighbouring candidate whose score was all but
 * equal: measured with mse per-channel only, 1 channel of 235 (sample CNN)
 * and 3 of 299 (fashion_dwsep, untrained: small near-flat channels), each
 * one bin away, 3e-4 and 3e-5 apart in expected squared error on the
 * TensorFlow.js histogram; and with entropy per-channel on another machine
 * (onnxruntime's float32 sums differ by CPU), 1 channel of 235 (sample CNN,
 * dense/output) two bins away, 1.2% apart in KL on the TensorFlow.js
 * histogram but better on the native one (0.13797 against 0.13809): the
 * moved counts changed the optimum, and each search took its own data's.
 * Allowed: at most 3% of the channels (or one), at most 2 bins away, scores
 * within 1e-3 on the TensorFlow.js histogram or the native choice the better
 * on the native histogram; never for percentile, whose quantile only
 * interpolates within a bin.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { Estimator, type EstimatorKind, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../../src-main/engine/graph/from-layers.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { CancelledError, type JobContext } from '../../../../src-main/engine/job-context.js';
import { calibrateOnnx } from '../../../../src-main/engine/native/calibrate-onnx.js';
import { calibrate, type Calibration } from '../../../../src-main/engine/ptq/calibrate.js';
import { runBatches, runPtq } from '../../../../src-main/engine/ptq/run.js';
import { activationValuesPerSample, largestActivation, weightBytes } from '../../../../src-main/engine/memory.js';
import { HISTOGRAM_SCRATCH_PER_VALUE } from '../../../../src-main/engine/native/calibrate-histogram.js';
import type { HistogramObserver } from '../../../../src-main/engine/quant/observers/index.js';
import { expectedSquaredError, klDivergence, type ChannelHistogram } from '../../../../src-main/engine/quant/observers/search.js';
import { channelQParams } from '../../../../src-main/engine/quant/qparams.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { arrayPart, loadDataset, makeBatches, sampleSplit, type BatchSource, type LoadedDataset } from '../../../../src-main/io/data/dataset.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { mobileMixModel } from '../graph/mobile-fixtures.js';
import { SAMPLE_MODEL } from '../integer/sample-cnn.js';
import { SAMPLE_DATA, config } from '../ptq/ptq-fixtures.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const HAVE_FASHION = existsSync(`${FASHION}/train-images-idx3-ubyte.gz`);
const BATCH = 64;
const ESTIMATORS: EstimatorKind[] = ['percentile', 'mse', 'entropy'];
const GRANULARITIES = [
  { granularity: 'per-tensor', symmetric: false },
  { granularity: 'per-channel', symmetric: true },
] as const;

before(async () => {
  await initBackend('wasm');
});

interface Agreement {
  /** Largest |native − tfjs| range end, relative to the channel's data magnitude, over channels within float32 rounding. */
  rangeRel: number;
  /** Channels whose range differs by more than float32 rounding: the mse / entropy search took a neighbouring candidate. */
  stepped: number;
  /** Largest range difference of a stepped channel, in bins of its grid. */
  steppedBins: number;
  /** Largest relative score gap, on the TensorFlow.js histogram, between the two choices of a stepped channel (those not counted in steppedOwnBest). */
  steppedGap: number;
  /** Stepped channels further apart than 1e-3 on the TensorFlow.js histogram whose native choice scores at least as well on the native histogram. */
  steppedOwnBest: number;
  channels: number;
  /** Counts in another bin, over all counts. */
  movedMass: number;
  /** Earth mover's distance of the counts (in bins) over the moved counts: ≈ 1 when moved values went to a neighbouring bin. */
  binsPerMove: number;
  /** Largest relative scale difference, and zero-point difference, over channels within float32 rounding. */
  scaleRel: number;
  zeroPoint: number;
}

/** The search's own criterion on a histogram, for a range (mse: expected squared error; entropy: KL of its window). */
function score(kind: EstimatorKind, h: ChannelHistogram, r: { min: number; max: number }, spec: QuantSpec): number {
  if (kind === 'mse') {
    const q = channelQParams(r.min, r.max, spec);
    return expectedSquaredError(h.counts, h.lo, h.width, q.nudgedMin, q.nudgedMax, q.scale);
  }
  const prefix = [0];
  for (const c of h.counts) prefix.push(prefix.at(-1)! + c);
  const total = prefix.at(-1)!;
  const nq = 2 ** (h.abs ? spec.bits - 1 : spec.bits);
  const a = h.abs ? 0 : Math.round((r.min - h.lo) / h.width);
  const b = Math.round(((h.abs ? r.max : r.max - h.lo) / h.width));
  return klDivergence(h.counts, a, b, nq, prefix[a]!, total - prefix[b]!);
}

function agreement(kind: EstimatorKind, native: Calibration, reference: Calibration, spec: QuantSpec): Agreement {
  const a: Agreement = { rangeRel: 0, stepped: 0, steppedBins: 0, steppedGap: 0, steppedOwnBest: 0, channels: 0, movedMass: 0, binsPerMove: 0, scaleRel: 0, zeroPoint: 0 };
  let moved = 0;
  let emd = 0;
  let total = 0;
  assert.equal(native.samples, reference.samples);
  assert.deepEqual([...native.observers.keys()], [...reference.observers.keys()]);
  for (const [name, ref] of reference.observers) {
    const got = native.observers.get(name)! as HistogramObserver;
    const r = ref as HistogramObserver;
    const gs = got.state();
    const rs = r.state();
    assert.equal(gs.batches, rs.batches, `${name}: pass-0 batches`);
    assert.equal(gs.pass1Batches, rs.pass1Batches, `${name}: pass-1 batches`);
    assert.equal(gs.channels, rs.channels, `${name}: channels`);
    assert.equal(got.sawNonFinite, r.sawNonFinite, `${name}: sawNonFinite`);
    const x = got.range();
    const y = ref.range();
    const qx = native.qparams.get(name)!;
    const qy = reference.qparams.get(name)!;
    assert.equal(qx.scale.length, qy.scale.length, `${name}: scales`);
    for (let c = 0; c < y.min.length; c++) {
      const h = r.histogram(c);
      const g = got.histogram(c);
      assert.ok(h && g, `${name} channel ${c} has histograms`);
      const mag = Math.max(Math.abs(h.dataMin), Math.abs(h.dataMax), 1e-30);
      // Pass 1's data extremes, and the grid fixed from them: float32 rounding.
      for (const [p, q, what] of [[g.dataMin, h.dataMin, 'data min'], [g.dataMax, h.dataMax, 'data max'], [g.lo, h.lo, 'grid lo'], [g.width * g.counts.length, h.width * h.counts.length, 'grid span']] as const) {
        assert.ok(Math.abs(p - q) <= 1e-5 * mag + 1e-6, `${name} channel ${c} ${what}: native ${p}, tfjs ${q}`);
      }
      let sumG = 0;
      let sumH = 0;
      let cum = 0;
      for (let k = 0; k < h.counts.length; k++) {
        const d = g.counts[k]! - h.counts[k]!;
        moved += Math.abs(d);
        cum += d;
        emd += Math.abs(cum);
        sumG += g.counts[k]!;
        sumH += h.counts[k]!;
      }
      assert.equal(sumG, sumH, `${name} channel ${c}: every value binned once`);
      total += sumH;
      a.channels++;
      const d = Math.max(Math.abs(x.min[c]! - y.min[c]!), Math.abs(x.max[c]! - y.max[c]!));
      // Float32 rounding moves a range by a tiny fraction of a bin; a search step moves it by whole bins.
      if (d < 0.1 * h.width || h.width === 0) {
        assert.ok(d <= 1e-5 * mag + 1e-6, `${name} channel ${c}: range [${x.min[c]}, ${x.max[c]}] vs [${y.min[c]}, ${y.max[c]}]`);
        a.rangeRel = Math.max(a.rangeRel, d / mag);
        a.scaleRel = Math.max(a.scaleRel, Math.abs(qx.scale[c]! - qy.scale[c]!) / qy.scale[c]!);
        a.zeroPoint = Math.max(a.zeroPoint, Math.abs(qx.zeroPoint[c]! - qy.zeroPoint[c]!));
        continue;
      }
      // A different candidate: only a search over candidates can do that, and only between near-equal ones.
      assert.notEqual(kind, 'percentile', `${name} channel ${c}: percentile range [${x.min[c]}, ${x.max[c]}] vs [${y.min[c]}, ${y.max[c]}]`);
      a.stepped++;
      a.steppedBins = Math.max(a.steppedBins, d / h.width);
      const mine = score(kind, h, { min: y.min[c]!, max: y.max[c]! }, spec);
      const theirs = score(kind, h, { min: x.min[c]!, max: x.max[c]! }, spec);
      const gap = Math.abs(theirs - mine) / Math.abs(mine);
      // Near-equal on the reference's histogram, or else better on the native's own: the few counts float32
      // rounding moved across a bin edge (movedMass) can move a KL optimum; each search is then right on its data.
      const onNative = score(kind, g, { min: x.min[c]!, max: x.max[c]! }, spec);
      const refOnNative = score(kind, g, { min: y.min[c]!, max: y.max[c]! }, spec);
      if (gap > 1e-3 && onNative <= refOnNative * (1 + 1e-9)) a.steppedOwnBest++;
      else a.steppedGap = Math.max(a.steppedGap, gap);
    }
  }
  a.movedMass = moved / 2 / total;
  a.binsPerMove = moved === 0 ? 0 : emd / (moved / 2);
  return a;
}

/** The bounds of the module doc, on the figures of {@link agreement}. */
function assertAgreement(a: Agreement): void {
  assert.ok(a.movedMass <= 1e-3, `moved mass ${a.movedMass}`);
  assert.ok(a.binsPerMove <= 1.25, `moved counts travel ${a.binsPerMove} bins each`);
  assert.ok(a.scaleRel <= 1e-5, `scales differ by ${a.scaleRel} (relative)`);
  assert.ok(a.zeroPoint <= 1, `zero points differ by ${a.zeroPoint}`);
  assert.ok(a.stepped <= Math.max(1, 0.03 * a.channels), `${a.stepped} of ${a.channels} channels took another candidate`);
  assert.ok(a.steppedBins <= 2, `a stepped range moved ${a.steppedBins} bins`);
  assert.ok(a.steppedGap <= 1e-3, `a stepped range scores ${a.steppedGap} (relative) off the TensorFlow.js choice`);
}

function activationSpec(g: (typeof GRANULARITIES)[number]): QuantSpec {
  return { bits: 8, symmetric: g.symmetric, narrowRange: false, granularity: g.granularity };
}

async function both(graph: Graph, g: (typeof GRANULARITIES)[number], kind: EstimatorKind, part: BatchSource, indices: Int32Array) {
  const plan = planQuantization(graph, config({ activations: activationSpec(g) }));
  const estimator = Estimator.parse({ kind });
  const runtime = new GraphRuntime(graph, { trainable: false });
  const inputShape = inputNode(graph).outputShape;
  try {
    const t0 = performance.now();
    const reference = await calibrate(runtime, plan, estimator, () => makeBatches(part, indices, BATCH, inputShape));
    const t1 = performance.now();
    const progress: [number, number, number][] = [];
    const native = await calibrateOnnx(
      { graph, runtime, plan, estimator, part, indices, batchSize: BATCH, inputShape, threads: 2 },
      { onBatch: (pass, passes, done) => progress.push([pass, passes, done]) },
    );
    const t2 = performance.now();
    return { plan, reference, native, progress, tfjsSeconds: (t1 - t0) / 1000, nativeSeconds: (t2 - t1) / 1000 };
  } finally {
    runtime.dispose();
  }
}

describe('histogram estimators on onnxruntime against TensorFlow.js', { skip: !HAVE_FASHION && 'Debian dataset-fashion-mnist not installed' }, () => {
  let data: LoadedDataset;
  // 4 batches of 64 and a short one of 44.
  let indices: Int32Array;
  // The mobile-block model concatenates a rank-4 and rank-2 pool into one shared quantizer, which per-channel activations cannot take (on either runtime).
  const models: { name: string; load: () => Promise<Graph>; granularities: readonly (typeof GRANULARITIES)[number][] }[] = [
    { name: 'sample_cnn', load: async () => foldBatchNorm(await readTfjsLayersModel(SAMPLE_MODEL)).graph, granularities: GRANULARITIES },
    { name: 'fashion_dwsep', load: async () => foldBatchNorm(builtinModel('fashion_dwsep').build()).graph, granularities: GRANULARITIES },
    {
      name: 'mobile_mix (depthwise, residual Add)',
      load: async () => {
        const m = mobileMixModel();
        try {
          return foldBatchNorm(graphFromLayersModel(m)).graph;
        } finally {
          m.dispose();
        }
      },
      granularities: [GRANULARITIES[0]],
    },
  ];
  before(() => {
    data = loadDataset({ path: FASHION, format: 'idx', preprocessing: {} });
    indices = sampleSplit(300, data.parts.train.count, 7);
  });

  for (const model of models) {
    for (const g of model.granularities) {
      for (const kind of ESTIMATORS) {
        test(`${model.name}, ${kind}, ${g.granularity} ${g.symmetric ? 'symmetric' : 'asymmetric'} activations: same histograms, same qparams to float32 rounding`, async (t) => {
          const graph = await model.load();
          const { native, reference, progress, plan, tfjsSeconds, nativeSeconds } = await both(graph, g, kind, data.parts.train, indices);
          const a = agreement(kind, native, reference, activationSpec(g));
          t.diagnostic(`${JSON.stringify(a)} tfjs ${tfjsSeconds.toFixed(2)} s, onnxruntime ${nativeSeconds.toFixed(2)} s`);
          assert.equal(native.fallbackBatches, 0);
          assertAgreement(a);
          // Per-channel stays per-channel.
          const first = plan.activations.find((p) => !p.sharedWith && native.observers.get(p.name)!.range().min.length > 1);
          assert.equal(!!first, g.granularity === 'per-channel');
          for (const w of plan.weights) assert.deepEqual(native.qparams.get(w.name), reference.qparams.get(w.name), w.name);
          // Both passes reported, batch by batch, then the end.
          const starts = [0, 64, 128, 192, 256];
          assert.deepEqual(progress, [...starts.map((d) => [0, 2, d]), ...starts.map((d) => [1, 2, d]), [1, 2, 300]]);
          // Both passes' batch loops, without their sessions' creation or the kernels' observation.
          assert.ok(native.loopSeconds! > 0 && native.loopSeconds! < native.seconds, `loop ${native.loopSeconds} s of ${native.seconds} s`);
        });
      }
    }
  }
});

describe('histogram estimators on onnxruntime: non-finite batches, cancel, PTQ runs', () => {
  test('a batch with NaN/±Inf: TensorFlow.js observes it in both passes; same histograms and ranges as the TensorFlow.js path', { skip: !HAVE_FASHION && 'Debian dataset-fashion-mnist not installed' }, async (t) => {
    // One sample of the first batch holds 3e38 in every pixel: the first Dense overflows to ±Inf on it, the next ones make NaN.
    const graph = foldBatchNorm(builtinModel('dense_784_256_128_10').build()).graph;
    const train = loadDataset({ path: FASHION, format: 'idx', preprocessing: {} }).parts.train;
    const images = train.read(Int32Array.from({ length: 100 }, (_, i) => i));
    images.fill(3e38, 60 * train.sampleSize, 61 * train.sampleSize);
    const part: BatchSource = arrayPart(images, train.labels.slice(0, 100), train.sampleSize);
    for (const kind of ESTIMATORS) {
      const { native, reference } = await both(graph, GRANULARITIES[0], kind, part, Int32Array.from({ length: 100 }, (_, i) => i));
      assert.ok([...reference.observers.values()].some((o) => o.sawNonFinite), 'the reference saw non-finite values');
      assert.equal(native.fallbackBatches, 1);
      const a = agreement(kind, native, reference, activationSpec(GRANULARITIES[0]));
      t.diagnostic(`${kind}: ${JSON.stringify(a)}`);
      assertAgreement(a);
    }
  });

  test('a cancel from onBatch in the histogram pass stops before the next batch', async () => {
    const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
    const part = loadDataset(SAMPLE_DATA).parts.train;
    const plan = planQuantization(graph, config({}));
    const runtime = new GraphRuntime(graph, { trainable: false });
    const calls: number[][] = [];
    try {
      await assert.rejects(
        calibrateOnnx(
          { graph, runtime, plan, estimator: Estimator.parse({ kind: 'entropy' }), part, indices: sampleSplit(200, part.count, 1), batchSize: BATCH, inputShape: inputNode(graph).outputShape },
          {
            onBatch(pass, passes, done) {
              calls.push([pass, passes, done]);
              if (pass === 1 && done === BATCH) throw new CancelledError();
            },
          },
        ),
        CancelledError,
      );
      assert.deepEqual(calls, [[0, 2, 0], [0, 2, 64], [0, 2, 128], [0, 2, 192], [1, 2, 0], [1, 2, 64]]);
    } finally {
      runtime.dispose();
    }
  });

  test('the calibration batch of a histogram estimator leaves room in the memory budget for the binning temporaries', () => {
    const graph = foldBatchNorm(builtinModel('fashion_cnn').build()).graph;
    const budget = { bytes: 24 * 2 ** 20, source: 'request' as const };
    const minmax = runBatches(graph, budget, Estimator.parse({ kind: 'minmax' })).calibration;
    const perSample = activationValuesPerSample(graph) * 4;
    const withScratch = perSample + largestActivation(graph) * HISTOGRAM_SCRATCH_PER_VALUE;
    for (const kind of ESTIMATORS) {
      const batch = runBatches(graph, budget, Estimator.parse({ kind })).calibration;
      assert.equal(batch, Math.floor((budget.bytes - weightBytes(graph) * 2) / withScratch), kind);
      assert.ok(batch < minmax, `${kind}: ${batch} vs minmax ${minmax}`);
    }
    assert.equal(minmax, Math.floor((budget.bytes - weightBytes(graph) * 2) / perSample));
  });

  test('a PTQ run with each histogram estimator calibrates on onnxruntime, reporting both passes', async () => {
    const model = serializeGraph(builtinModel('fashion_cnn').build());
    for (const kind of ESTIMATORS) {
      const reports: { phase: string; done: number; total: number; message?: string }[] = [];
      const ctx: JobContext = {
        jobId: 1,
        progress(phase, done, total, message) {
          reports.push({ phase, done, total, ...(message ? { message } : {}) });
        },
        emit() {},
        cancelled: () => false,
        checkCancelled() {},
      };
      const r = await runPtq({ config: config({ estimator: { kind }, eval: { count: 100, seed: 1 } }), modelName: 'fashion_cnn', model, dataset: SAMPLE_DATA }, ctx);
      const how = (r.summary as { calibration: { runtime: string; estimator: string; nativeSkipped?: string; count: number } }).calibration;
      assert.equal(how.runtime, 'onnxruntime', kind);
      assert.equal(how.estimator, kind);
      assert.equal(how.nativeSkipped, undefined);
      assert.equal(how.count, 200);
      const calib = reports.filter((p) => p.phase === 'calibrate');
      assert.deepEqual([...new Set(calib.map((p) => p.message))], ['pass 1 of 2', 'pass 2 of 2']);
      for (let i = 1; i < calib.length; i++) assert.ok(calib[i]!.done >= calib[i - 1]!.done, 'progress never goes back');
      assert.deepEqual(calib.at(-1), { phase: 'calibrate', done: 400, total: 400, message: 'pass 2 of 2' });
      assert.ok(Number.isFinite(r.quantAccuracy));
    }
  });
});
