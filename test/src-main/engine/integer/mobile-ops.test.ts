/**
 * The integer reference's kernels of the keras.applications ops against the
 * real TFLite interpreter (tfjs-tflite's wasm build), op by op, on every int8
 * input value or on random tensors, for random grids:
 *  - LOGISTIC (gemmlowp's fixed-point logistic, no table) and HARD_SWISH
 *    (int16 fixed point): TFLite's reference arithmetic, equal to the
 *    interpreter's on every input;
 *  - PAD, SLICE, RESIZE_NEAREST_NEIGHBOR, REDUCE_MAX: the stored integers moved;
 *  - MUL, ADD, MEAN, LEAKY_RELU: the interpreter runs them through XNNPACK.
 *    With the xnnpack option the reference computes XNNPACK's forms and equals
 *    the interpreter; TFLite's reference forms (the default) differ by at most
 *    one step, where the exact value is a tie (MUL, MEAN) or where XNNPACK's
 *    Q8 slope rounds the leaky ReLU's multiplier.
 * Then the compiled program on a small graph of every new op, calibrated by
 * the studio's calibrate(): the integer reference computing as a QDQ runtime
 * does stays within a few output steps of the fake-quant simulation.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph, WeightData } from '../../../../src-main/engine/graph/types.js';
import { hardSwishInt, hardSwishParams, leakyReluInt, leakyReluParams, logisticInt, logisticParams } from '../../../../src-main/engine/integer/activations.js';
import { addBroadcastInt, broadcastIndex, mulInt, mulParams, xnnpackAddInt, xnnpackAddParams } from '../../../../src-main/engine/integer/binary.js';
import { addParams } from '../../../../src-main/engine/integer/elementwise.js';
import { logistic } from '../../../../src-main/engine/integer/gemmlowp.js';
import { compileIntegerModel, runIntegerReference } from '../../../../src-main/engine/integer/index.js';
import { quantizeMultiplier } from '../../../../src-main/engine/integer/fixed-point.js';
import { cropInt, globalMaxInt, padInt, resizeNearestInt } from '../../../../src-main/engine/integer/layout-ops.js';
import { spatialMean, xnnpackMean, xnnpackMeanScale } from '../../../../src-main/engine/integer/pool.js';
import type { ActQParams } from '../../../../src-main/engine/integer/tensor.js';
import { calibrate } from '../../../../src-main/engine/ptq/calibrate.js';
import type { QParams } from '../../../../src-main/engine/quant/qparams.js';
import { planQuantization, type QuantPlan } from '../../../../src-main/engine/transform/plan.js';
import { exportSimulationHooks } from '../../../../src-main/export/simulate.js';
import { BuiltinOperator, BuiltinOptions, LeakyReluOptionsT, MulOptionsT, AddOptionsT, PadOptionsT, ReducerOptionsT, ResizeNearestNeighborOptionsT, SliceOptionsT } from '../../../../src-main/export/tflite/schema/generated/schema_generated.js';
import { samplesFromArray } from '../../../../src-main/engine/eval-samples.js';
import { simulate } from '../../../../src-main/export/verify.js';
import { ALL_INT8, runOps, seeded } from './tflite-single-op.js';

const f = Math.fround;
const grid = (scale: number, zeroPoint: number): ActQParams => ({ name: 'g', scale: f(scale), zeroPoint, qmin: -128, qmax: 127 });
const rand = seeded(2024);
const randomGrid = (lo: number, hi: number) => grid(lo + rand() * (hi - lo), Math.floor(rand() * 256) - 128);
const randomInts = (n: number) => Int8Array.from({ length: n }, () => Math.floor(rand() * 256) - 128);
const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > 0) count++;
    max = Math.max(max, d);
  }
  return { max, count };
};
const unary = (code: BuiltinOperator, qin: ActQParams, qout: { scale: number; zeroPoint: number }, optionsType?: BuiltinOptions, options?: unknown) =>
  runOps(
    [
      { shape: [1, 256], scale: qin.scale, zeroPoint: qin.zeroPoint },
      { shape: [1, 256], scale: qout.scale, zeroPoint: qout.zeroPoint },
    ],
    [{ code, inputs: [0], outputs: [1], ...(optionsType ? { optionsType, options: options as never } : {}), version: code === BuiltinOperator.HARD_SWISH ? 1 : 2 }],
    [0],
    [1],
    [ALL_INT8],
  ).then((o) => o[0]!);

before(async () => {
  await initBackend('wasm');
});

test('gemmlowp logistic: Q4.27 in, Q0.31 out, within 2^-23 of 1 / (1 + e^-x) on [-16, 16)', () => {
  let worst = 0;
  for (let i = -8000; i < 8000; i++) {
    const x = i / 500;
    const raw = Math.round(x * 2 ** 27);
    worst = Math.max(worst, Math.abs(logistic(raw, 4) / 2 ** 31 - 1 / (1 + Math.exp(-raw / 2 ** 27))));
  }
  assert.ok(worst < 2 ** -23, `max error ${worst}`);
});

test('LOGISTIC: the fixed-point reference equals the interpreter on every int8 input of 30 random grids and of input scales up to 1000 (output 1/256, zero point -128)', async () => {
  const large = [0.5, 1, 2, 3, 4, 6, 8, 16, 100, 1000].map((s) => grid(s, Math.floor(rand() * 256) - 128));
  for (let k = 0; k < 30 + large.length; k++) {
    const qin = k < 30 ? randomGrid(0.002, 0.3) : large[k - 30]!;
    const y = await unary(BuiltinOperator.LOGISTIC, qin, { scale: 1 / 256, zeroPoint: -128 });
    for (const rounding of ['single', 'double'] as const) {
      const out = new Int32Array(256);
      logisticInt(logisticParams(qin, rounding), Int32Array.from(ALL_INT8), out);
      assert.deepEqual(Array.from(out), y, `input grid ${qin.scale}, ${qin.zeroPoint}, ${rounding} rounding`);
    }
  }
});

test('HARD_SWISH: the int16 fixed-point reference equals the interpreter on every int8 input of 30 random grid pairs', async () => {
  for (let k = 0; k < 30; k++) {
    const qin = randomGrid(0.005, 0.2);
    const qout = randomGrid(0.005, 0.1);
    const y = await unary(BuiltinOperator.HARD_SWISH, qin, qout, BuiltinOptions.HardSwishOptions, null);
    const out = new Int32Array(256);
    hardSwishInt(hardSwishParams(qin, qout, 'single'), Int32Array.from(ALL_INT8), out);
    assert.deepEqual(Array.from(out), y, `grids ${JSON.stringify([qin, qout])}`);
  }
});

test("LEAKY_RELU: XNNPACK's Q8 form equals the interpreter; TFLite's reference form is within one step", async () => {
  let refDiffs = 0;
  for (let k = 0; k < 30; k++) {
    const qin = randomGrid(0.005, 0.3);
    const qout = randomGrid(0.005, 0.1);
    const alpha = f(0.05 + rand() * 0.3);
    const y = await unary(BuiltinOperator.LEAKY_RELU, qin, qout, BuiltinOptions.LeakyReluOptions, new LeakyReluOptionsT(alpha));
    const xnn = new Int32Array(256);
    leakyReluInt(leakyReluParams(qin, qout, alpha, 'single', true), Int32Array.from(ALL_INT8), xnn);
    assert.deepEqual(Array.from(xnn), y);
    const ref = new Int32Array(256);
    leakyReluInt(leakyReluParams(qin, qout, alpha, 'single'), Int32Array.from(ALL_INT8), ref);
    const d = diff(ref, y);
    assert.ok(d.max <= 1, `reference form ${d.max} steps away`);
    refDiffs += d.count;
  }
  assert.ok(refDiffs > 0, 'the two forms do differ (the Q8 slope)');
});

test("MUL and ADD, broadcasting [1,h,w,c]·[1,1,1,c] and element by element: XNNPACK's forms equal the interpreter; TFLite's reference differs only at ties", async () => {
  const [h, w, c] = [4, 4, 16];
  const mulOpts = { optionsType: BuiltinOptions.MulOptions, options: new MulOptionsT(0) };
  const addOpts = { optionsType: BuiltinOptions.AddOptions, options: new AddOptionsT(0) };
  for (let k = 0; k < 20; k++) {
    const [qa, qb, qo] = [randomGrid(0.01, 0.2), randomGrid(0.002, 0.05), randomGrid(0.005, 0.1)];
    const a = randomInts(h * w * c);
    for (const bcast of [true, false]) {
      const b = randomInts(bcast ? c : h * w * c);
      const tensors = [
        { shape: [1, h, w, c], scale: qa.scale, zeroPoint: qa.zeroPoint },
        { shape: bcast ? [1, 1, 1, c] : [1, h, w, c], scale: qb.scale, zeroPoint: qb.zeroPoint },
        { shape: [1, h, w, c], scale: qo.scale, zeroPoint: qo.zeroPoint },
      ];
      const [ym] = await runOps(tensors, [{ code: BuiltinOperator.MUL, inputs: [0, 1], outputs: [2], ...mulOpts }], [0, 1], [2], [a, b]);
      const [ya] = await runOps(tensors, [{ code: BuiltinOperator.ADD, inputs: [0, 1], outputs: [2], ...addOpts }], [0, 1], [2], [a, b]);
      const ib = bcast ? broadcastIndex([h, w, c], [1, 1, c]) : null;
      const [ai, bi] = [Int32Array.from(a), Int32Array.from(b)];
      const out = new Int32Array(h * w * c);
      mulInt(mulParams(qa, qb, qo, -128, 127, 'single', true), ai, null, bi, ib, out);
      assert.deepEqual(Array.from(out), ym, 'MUL, XNNPACK form');
      mulInt(mulParams(qa, qb, qo, -128, 127, 'single'), ai, null, bi, ib, out);
      assert.ok(diff(out, ym!).max <= 1, 'MUL, reference form');
      xnnpackAddInt(xnnpackAddParams(qa, qb, qo, -128, 127), ai, null, bi, ib, out);
      assert.deepEqual(Array.from(out), ya, 'ADD, XNNPACK form');
      addBroadcastInt(addParams([qa, qb], qo, -128, 127, 'single'), ai, null, bi, ib, out);
      assert.ok(diff(out, ya!).max <= 1, 'ADD, reference form');
    }
  }
  // Exact ties: s_a = s_b = 1, s_out = 2, so every odd product or sum is a half. XNNPACK's MUL rounds them to even, ADD up.
  const tie = Int8Array.from({ length: 16 }, (_, i) => i - 8);
  const tensors = [{ shape: [1, 16], scale: 1, zeroPoint: 0 }, { shape: [1, 16], scale: 1, zeroPoint: 0 }, { shape: [1, 16], scale: 2, zeroPoint: 0 }];
  const [ym] = await runOps(tensors, [{ code: BuiltinOperator.MUL, inputs: [0, 1], outputs: [2], ...mulOpts }], [0, 1], [2], [tie, Int8Array.from({ length: 16 }, () => 1)]);
  assert.deepEqual(ym, [-4, -4, -3, -2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2, 3, 4], 'MUL of x·1 / 2: halves to even');
  const [ya] = await runOps(tensors, [{ code: BuiltinOperator.ADD, inputs: [0, 1], outputs: [2], ...addOpts }], [0, 1], [2], [tie, new Int8Array(16)]);
  assert.deepEqual(ya, [-4, -3, -3, -2, -2, -1, -1, 0, 0, 1, 1, 2, 2, 3, 3, 4], 'ADD of x + 0 / 2: halves up');
});

test("MEAN over H and W (keepdims): XNNPACK's float32 average pooling equals the interpreter; reference_integer_ops::Mean is within one step", async () => {
  for (const [h, w, c] of [
    [2, 2, 32],
    [5, 4, 24],
    [7, 7, 8],
  ] as const) {
    for (let k = 0; k < 6; k++) {
      const [qi, qo] = k % 2 ? [randomGrid(0.01, 0.1), randomGrid(0.01, 0.1)] : (() => {
        const g = randomGrid(0.01, 0.1);
        return [g, g];
      })();
      const x = randomInts(h * w * c);
      const [y] = await runOps(
        [{ shape: [1, h, w, c], scale: qi.scale, zeroPoint: qi.zeroPoint }, { shape: [2], type: 'int32', data: Int32Array.of(1, 2) }, { shape: [1, 1, 1, c], scale: qo.scale, zeroPoint: qo.zeroPoint }],
        [{ code: BuiltinOperator.MEAN, inputs: [0, 1], outputs: [2], optionsType: BuiltinOptions.ReducerOptions, options: new ReducerOptionsT(true) }],
        [0],
        [2],
        [x],
      );
      const out = new Int32Array(c);
      xnnpackMean(h, w, c, Int32Array.from(x), qi.zeroPoint, xnnpackMeanScale(qi.scale, qo.scale, h * w), qo.zeroPoint, -128, 127, out);
      assert.deepEqual(Array.from(out), y, `${h}×${w}×${c}`);
      spatialMean(h, w, c, Int32Array.from(x), qi.zeroPoint, quantizeMultiplier(qi.scale / qo.scale, 'single'), qo.zeroPoint, -128, 127, 'single', out);
      assert.ok(diff(out, y!).max <= 1);
    }
  }
});

test('PAD (with the zero point), SLICE, RESIZE_NEAREST_NEIGHBOR and REDUCE_MAX move the stored integers as the interpreter does', async () => {
  for (const [h, w, c, fh, fw] of [
    [3, 4, 2, 2, 3],
    [5, 7, 3, 2, 2],
    [2, 3, 1, 7, 6],
  ] as const) {
    const x = randomInts(h * w * c);
    const g = randomGrid(0.01, 0.1);
    const xin = { shape: [1, h, w, c], scale: g.scale, zeroPoint: g.zeroPoint };
    const like = (shape: number[]) => ({ shape, scale: g.scale, zeroPoint: g.zeroPoint });
    const xi = Int32Array.from(x);

    const pad: [[number, number], [number, number]] = [[1, 2], [0, 3]];
    const [padded] = await runOps([xin, { shape: [4, 2], type: 'int32', data: Int32Array.of(0, 0, 1, 2, 0, 3, 0, 0) }, like([1, h + 3, w + 3, c])], [{ code: BuiltinOperator.PAD, inputs: [0, 1], outputs: [2], optionsType: BuiltinOptions.PadOptions, options: new PadOptionsT() }], [0], [2], [x]);
    const p = new Int32Array((h + 3) * (w + 3) * c);
    padInt(h, w, c, pad, g.zeroPoint, xi, p);
    assert.deepEqual(Array.from(p), padded);

    const [ch, cw] = [h - 1, w - 2];
    const [sliced] = await runOps(
      [xin, { shape: [4], type: 'int32', data: Int32Array.of(0, 1, 1, 0) }, { shape: [4], type: 'int32', data: Int32Array.of(1, ch, cw, c) }, like([1, ch, cw, c])],
      [{ code: BuiltinOperator.SLICE, inputs: [0, 1, 2], outputs: [3], optionsType: BuiltinOptions.SliceOptions, options: new SliceOptionsT() }],
      [0],
      [3],
      [x],
    );
    const s = new Int32Array(ch * cw * c);
    cropInt(w, c, [[1, 0], [1, 1]], ch, cw, xi, s);
    assert.deepEqual(Array.from(s), sliced);

    const [oh, ow] = [h * fh, w * fw];
    const [resized] = await runOps(
      [xin, { shape: [2], type: 'int32', data: Int32Array.of(oh, ow) }, like([1, oh, ow, c])],
      [{ code: BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, inputs: [0, 1], outputs: [2], optionsType: BuiltinOptions.ResizeNearestNeighborOptions, options: new ResizeNearestNeighborOptionsT(false, false) }],
      [0],
      [2],
      [x],
    );
    const r = new Int32Array(oh * ow * c);
    const rows = Int32Array.from({ length: oh }, (_, i) => Math.floor(i / fh));
    const cols = Int32Array.from({ length: ow }, (_, i) => Math.floor(i / fw));
    resizeNearestInt(w, c, rows, cols, xi, r);
    assert.deepEqual(Array.from(r), resized);

    const [maxed] = await runOps(
      [xin, { shape: [2], type: 'int32', data: Int32Array.of(1, 2) }, like([1, 1, 1, c])],
      [{ code: BuiltinOperator.REDUCE_MAX, inputs: [0, 1], outputs: [2], optionsType: BuiltinOptions.ReducerOptions, options: new ReducerOptionsT(true) }],
      [0],
      [2],
      [x],
    );
    const m = new Int32Array(c);
    globalMaxInt(h, w, c, xi, m);
    assert.deepEqual(Array.from(m), maxed);
  }
});

// ---------------------------------------------------------------------------
// The compiled program on a graph of every new op.

const wrand = seeded(7);
const weight = (shape: number[], scale: number): WeightData => ({ shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (wrand() * 2 - 1) * scale) });
const conv = (name: string, input: string, shape: number[], inC: number, outC: number, k: number) => ({
  op: 'conv2d' as const,
  name,
  inputs: [input],
  outputShape: shape,
  filters: outC,
  kernelSize: [k, k] as [number, number],
  strides: [1, 1] as [number, number],
  padding: 'same' as const,
  dilation: [1, 1] as [number, number],
  activation: 'linear' as const,
  weights: { kernel: weight([k, k, inC, outC], 0.6), bias: weight([outC], 0.2) },
});
const act = (name: string, input: string, shape: number[], activation: 'swish' | 'hard_sigmoid' | 'hard_sigmoid_keras2' | 'hard_swish' | 'sigmoid' | 'leaky_relu', alpha?: number) => ({
  op: 'activation' as const,
  name,
  inputs: [input],
  outputShape: shape,
  activation,
  ...(alpha !== undefined ? { alpha } : {}),
});

const GRAPH: Graph = {
  name: 'mobile_ops',
  output: 'dense',
  nodes: [
    { op: 'input', name: 'input', inputs: [], outputShape: [5, 5, 2] },
    { op: 'affine', name: 'rescale', inputs: ['input'], outputShape: [5, 5, 2], scale: [2, 0.5], offset: [-1, 0.25], kerasClass: 'Rescaling' },
    { op: 'zeroPad2d', name: 'pad', inputs: ['rescale'], outputShape: [6, 7, 2], padding: [[1, 0], [1, 1]] },
    conv('conv', 'pad', [6, 7, 4], 2, 4, 3),
    act('swish', 'conv', [6, 7, 4], 'swish'),
    { op: 'crop2d', name: 'crop', inputs: ['swish'], outputShape: [4, 4, 4], cropping: [[1, 1], [2, 1]] },
    { op: 'upSample2d', name: 'up', inputs: ['crop'], outputShape: [8, 8, 4], size: [2, 2] },
    act('hswish', 'up', [8, 8, 4], 'hard_swish'),
    { op: 'globalAvgPool2d', name: 'squeeze', inputs: ['hswish'], outputShape: [1, 1, 4], keepdims: true },
    conv('excite', 'squeeze', [1, 1, 4], 4, 4, 1),
    act('gate', 'excite', [1, 1, 4], 'hard_sigmoid'),
    { op: 'multiply', name: 'mul', inputs: ['hswish', 'gate'], outputShape: [8, 8, 4] },
    { op: 'affine', name: 'norm', inputs: ['mul'], outputShape: [8, 8, 4], scale: [1.5, -0.5, 0.8, 2], offset: [0.1, 0.2, -0.3, 0], kerasClass: 'Normalization' },
    act('leaky', 'norm', [8, 8, 4], 'leaky_relu', 0.2),
    act('hsig2', 'leaky', [8, 8, 4], 'hard_sigmoid_keras2'),
    act('sig', 'hsig2', [8, 8, 4], 'sigmoid'),
    { op: 'globalMaxPool2d', name: 'gmax', inputs: ['sig'], outputShape: [4] },
    { op: 'dense', name: 'dense', inputs: ['gmax'], outputShape: [6], units: 6, activation: 'linear', weights: { kernel: weight([4, 6], 1), bias: weight([6], 0.3) } },
  ],
};

const N = 64;
const images = Float32Array.from({ length: N * 50 }, () => rand() * 2 - 1);
let plan: QuantPlan;
let qparams: Map<string, QParams>;

test('the compiled program of every new op (QDQ arithmetic) stays within two output steps of the fake-quant simulation; preprocessing is the input quantization', async () => {
  const config = RunConfig.parse({ modelId: 1, datasetId: 1, weights: { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } });
  plan = planQuantization(GRAPH, config);
  const runtime = new GraphRuntime(GRAPH, { trainable: false });
  try {
    qparams = (await calibrate(runtime, plan, config.estimator, () => [{ x: tf.tensor(images, [N, 5, 5, 2]), size: N }])).qparams;
  } finally {
    runtime.dispose();
  }
  assert.deepEqual(plan.activations.find((a) => a.role === 'input')!.layers, ['input', 'rescale']);
  const model = { graph: GRAPH, plan, qparams };
  const options = { quantizeRounding: 'half-even', requantRounding: 'single', elementwise: 'float' } as const;
  const int = runIntegerReference(model, images, N, options);
  const sim = simulate(GRAPH, exportSimulationHooks(GRAPH, plan, qparams, { rounding: 'half-even' }), samplesFromArray(images, new Int32Array(N), [5, 5, 2]));
  const step = qparams.get('dense/output')!.scale[0]!;
  let max = 0;
  for (let i = 0; i < int.length; i++) max = Math.max(max, Math.abs(int[i]! - sim[i]!) / step);
  assert.ok(max <= 2 + 1e-3, `max difference ${max} output steps`);
  // TFLite's int8 kernels where they exist (hard_swish, leaky_relu) stay close too.
  const tfl = runIntegerReference(model, images, N, { ...options, elementwise: 'tflite' });
  let maxT = 0;
  for (let i = 0; i < tfl.length; i++) maxT = Math.max(maxT, Math.abs(tfl[i]! - sim[i]!) / step);
  assert.ok(maxT <= 3 + 1e-3, `tflite kernels: max difference ${maxT} output steps`);
  // The input slot is the rescaled input quantized: rescale's output grid.
  const program = compileIntegerModel(model, options);
  program.runSample(images, 0, new Float32Array(program.outputSize), 0);
  const q = program.tensor('rescale');
  assert.equal(q.qp.name, 'input');
  const x0 = f(f(images[0]! * 2) - 1);
  assert.equal(q.data[0], Math.min(q.qp.qmax, Math.max(q.qp.qmin, Math.round(f(x0 / q.qp.scale)) + q.qp.zeroPoint)));
});
