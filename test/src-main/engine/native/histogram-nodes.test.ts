/**
 * The in-graph histogram on a HistogramObserver's grid (observerHistogram)
 * against the observer's own JS fill, on the same float32 values: the
 * counts must be identical, bin for bin. The values are chosen to sit where
 * float32 and float64 bin-index arithmetic part ways: every bin edge
 * lo + k·width rounded to float32, its float32 neighbours, values beyond the
 * span (edge bins), −0, a width-0 channel, a channel with no finite pass-0
 * value (not binned), a channel whose span overflows float32 (±3e38) and one
 * of denormal width. The test also counts how many of these values a float32
 * bin computation would put elsewhere, to show that the data do probe the
 * edges. NaN and ±Inf are not binned in the graph but flagged by its sum
 * output, checked on its own.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Estimator, type QuantSpec } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { observerHistogram, type ObserverGrid } from '../../../../src-main/engine/native/histogram-nodes.js';
import { createSession, loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { createGraph, createModel, DT, encodeModel, opsetImport, tensorType, valueInfo, type NodeProto, type TensorProto } from '../../../../src-main/engine/onnx/proto.js';
import { createObserver, HistogramObserver } from '../../../../src-main/engine/quant/observers/index.js';
import { mulberry32 } from '../../../../src-main/io/data/dataset.js';

before(async () => {
  await initBackend('wasm');
});

const BINS = 2048;

function spec(granularity: 'per-tensor' | 'per-channel', symmetric: boolean): QuantSpec {
  return { bits: 8, symmetric, narrowRange: false, granularity };
}

/** A graph of one float32 input `x` of `dims` and its histogram on `grid` (counts `h/hist`, sum `h/sum`) as outputs. */
function histogramModel(dims: number[], channelAxis: number | null, grid: ObserverGrid): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const out = observerHistogram({ nodes, inits, prefix: 'h' }, 'x', dims.length, channelAxis, grid);
  const graph = createGraph({
    name: 'histogram',
    node: nodes,
    initializer: inits,
    input: [valueInfo('x', tensorType(DT.FLOAT, dims))],
    output: [valueInfo(out.counts), valueInfo(out.sum)],
  });
  return encodeModel(createModel({ irVersion: 8n, opsetImport: [opsetImport(17)], graph }));
}

/** Values on and beside every bin edge of a channel [lo, lo + bins·width], plus uniform ones and out-of-span ones. */
function edgeValues(lo: number, width: number, abs: boolean, rand: () => number): number[] {
  const out: number[] = [];
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const step = (v: number, d: number) => {
    f[0] = v;
    if (v === 0) return d > 0 ? 1e-45 : -1e-45;
    u[0] = u[0]! + (v > 0 ? d : -d);
    return f[0]!;
  };
  for (let k = 0; k <= BINS; k++) {
    const e = Math.fround(lo + k * width);
    for (const v of [e, step(e, 1), step(e, -1)]) out.push(abs && rand() < 0.5 ? -v : v);
  }
  for (let i = 0; i < 3000; i++) out.push(Math.fround(lo + rand() * BINS * width) * (abs && rand() < 0.5 ? -1 : 1));
  return out;
}

/** The graph's outputs for `data` of `dims`. */
async function runHistogram(dims: number[], channelAxis: number | null, grid: ObserverGrid, data: Float32Array): Promise<{ counts: Int32Array; sum: number }> {
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(histogramModel(dims, channelAxis, grid), { threads: 2 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', data, dims) });
    return { counts: out['h/hist']!.data as Int32Array, sum: (out['h/sum']!.data as Float32Array)[0]! };
  } finally {
    await session.release();
  }
}

/** Runs the JS observer and the graph on the same pass-1 values; returns the graph's observer and the reference. */
async function compare(
  granularity: 'per-tensor' | 'per-channel',
  symmetric: boolean,
  pass0: { data: Float32Array; shape: number[] },
  pass1: { data: Float32Array; shape: number[] },
  onnxLayout?: { data: Float32Array; dims: number[]; channelAxis: number },
) {
  const est = Estimator.parse({ kind: 'percentile', bins: BINS });
  const [js, native] = [0, 1].map(() => createObserver(est, spec(granularity, symmetric), { name: 't' }) as HistogramObserver);
  for (const o of [js, native]) tf.tidy(() => o.observe(tf.tensor(pass0.data, pass0.shape), 0));
  const grid = native.histogramGrid(pass1.shape);
  const layout = onnxLayout ?? { data: pass1.data, dims: pass1.shape, channelAxis: pass1.shape.length - 1 };
  const { counts, sum } = await runHistogram(layout.dims, granularity === 'per-channel' ? layout.channelAxis : null, grid, layout.data);
  assert.equal(counts.length, grid.lo.length * grid.bins);
  native.observeBatchCounts(pass1.shape, counts, false);
  tf.tidy(() => js.observe(tf.tensor(pass1.data, pass1.shape), 1));
  return { js, native, grid, sum };
}

/** How many finite values a float32 bin computation ((v − lo) / width, all in float32) puts in another bin than fill()'s float64 one. */
function float32Misbinned(values: ArrayLike<number>, lo: number, width: number, abs: boolean): number {
  let moved = 0;
  const last = BINS - 1;
  const bin = (t: number) => (t >= last ? last : t > 0 ? Math.floor(t) : 0);
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    if (!Number.isFinite(v)) continue;
    if (abs && v < 0) v = -v;
    if (bin((v - lo) / width) !== bin(Math.fround(Math.fround(v - Math.fround(lo)) / Math.fround(width)))) moved++;
  }
  return moved;
}

describe('in-graph histogram on an observer grid', () => {
  for (const symmetric of [false, true]) {
    test(`per-tensor, ${symmetric ? 'symmetric (|x| from 0)' : 'asymmetric'}: identical bins on every edge and beyond the span`, async (t) => {
      const rand = mulberry32(symmetric ? 5 : 4);
      const lo = Math.fround(-0.3172);
      const hi = Math.fround(4.71);
      const pass0 = Float32Array.of(lo, hi, 1, NaN);
      // The grid the observer will fix (setSpan): abs histograms span [0, max|x|].
      const gLo = symmetric ? 0 : lo;
      const width = (hi - gLo) / BINS;
      const values = [...edgeValues(gLo, width, symmetric, rand), -0, 0, lo, hi, -7, 9, 1e30, -1e30];
      const pass1 = Float32Array.from(values);
      const { js, native, grid, sum } = await compare('per-tensor', symmetric, { data: pass0, shape: [4] }, { data: pass1, shape: [pass1.length] });
      assert.equal(grid.lo[0], gLo);
      assert.equal(grid.width[0], width);
      assert.ok(Number.isFinite(sum));
      assert.deepEqual(native.state(), js.state());
      assert.deepEqual(native.range(), js.range());
      const moved = float32Misbinned(pass1, gLo, width, symmetric);
      t.diagnostic(`float32 bin arithmetic would move ${moved} of ${pass1.length} values; the float64 graph moves none`);
      assert.ok(moved > 100, `a float32 bin index would move ${moved} of ${pass1.length} values: the data sit on the edges`);
    });
  }

  test('per-channel [n, C]: width-0, unset, overflowing (±3e38) and denormal-width channels bin as fill() does', async () => {
    const rand = mulberry32(11);
    const C = 5;
    // Pass 0: channel 0 [-1, 2], 1 constant 0.25 (width 0), 2 no finite value, 3 [-3e38, 3e38], 4 [0, 1e-40].
    const rows0 = [
      [-1, 0.25, NaN, -3e38, 0],
      [2, 0.25, Infinity, 3e38, 1e-40],
      [0.5, 0.25, NaN, 1, 5e-41],
    ];
    const pass0 = Float32Array.from(rows0.flat());
    // Pass 1: per channel, its edges and neighbours, values beyond the span, and non-finite ones, laid out [n, C].
    const columns: number[][] = [
      edgeValues(-1, 3 / BINS, false, rand),
      [0.25, 0.2, 0.3, -5, 5, 0.25],
      [1, 2, 3],
      edgeValues(Math.fround(-3e38), (Math.fround(3e38) - Math.fround(-3e38)) / BINS, false, rand),
      edgeValues(0, Math.fround(1e-40) / BINS, false, rand),
    ];
    const n = Math.max(...columns.map((c) => c.length));
    const pass1 = new Float32Array(n * C);
    for (let r = 0; r < n; r++) for (let c = 0; c < C; c++) pass1[r * C + c] = columns[c]![r % columns[c]!.length]!;
    const { js, native, grid, sum } = await compare('per-channel', false, { data: pass0, shape: [3, C] }, { data: pass1, shape: [n, C] });
    // Finite values whose sum overflows float32 flag the batch as well (the caller then observes it elsewhere): the one false alarm.
    assert.equal(Number.isFinite(sum), false);
    assert.equal(grid.width[1], 0);
    assert.ok(Number.isNaN(grid.width[2]!), 'channel 2 has no span');
    assert.ok(!Number.isFinite(Math.fround(grid.width[3]! * BINS)), 'channel 3 spans more than float32 holds');
    assert.deepEqual(native.state(), js.state());
    for (const c of [0, 3, 4]) {
      const moved = float32Misbinned(columns[c]!, grid.lo[c]!, grid.width[c]!, false);
      assert.ok(moved > 0, `channel ${c}: the data sit on the edges (${moved} would move in float32)`);
    }
  });

  test('per-channel rank 4: NCHW in the graph, NHWC in JS, symmetric', async () => {
    const rand = mulberry32(12);
    const [N, H, W, C] = [3, 5, 7, 4];
    const size = N * H * W * C;
    const nhwc0 = Float32Array.from({ length: size }, (_, i) => (rand() * 2 - 1) * (1 + (i % C)));
    // Pass 1: the same layout, every third value replaced by a bin edge of its channel (±).
    const nhwc1 = Float32Array.from(nhwc0, (v) => v * (0.5 + rand()));
    const est = Estimator.parse({ kind: 'percentile', bins: BINS });
    const probe = createObserver(est, spec('per-channel', true)) as HistogramObserver;
    tf.tidy(() => probe.observe(tf.tensor(nhwc0, [N, H, W, C]), 0));
    const g = probe.histogramGrid([N, H, W, C]);
    for (let i = 0; i < size; i += 3) {
      const c = i % C;
      const k = Math.floor(rand() * BINS);
      nhwc1[i] = Math.fround(k * g.width[c]!) * (rand() < 0.5 ? -1 : 1);
    }
    const nchw = new Float32Array(size);
    for (let b = 0; b < N; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) nchw[((b * C + c) * H + y) * W + x] = nhwc1[((b * H + y) * W + x) * C + c]!;
    const { js, native } = await compare('per-channel', true, { data: nhwc0, shape: [N, H, W, C] }, { data: nhwc1, shape: [N, H, W, C] }, { data: nchw, dims: [N, C, H, W], channelAxis: 1 });
    assert.deepEqual(native.state(), js.state());
    assert.equal(native.sawNonFinite, false);
  });

  test('the observer API for values binned elsewhere keeps the two-pass order and checks what it is given', () => {
    const est = Estimator.parse({ kind: 'mse', bins: 128 });
    const o = createObserver(est, spec('per-channel', false), { name: 'a' }) as HistogramObserver;
    assert.throws(() => o.histogramGrid([2, 3]), /the histogram grid needs pass 0 first/);
    assert.throws(() => o.observeBatchCounts([2, 3], new Int32Array(3 * 128), false), /pass 1 before any pass-0 batch/);
    assert.throws(() => o.observeBatchRange([2, 3], { min: Float32Array.of(0, 0), max: Float32Array.of(1, 1), nonFinite: false }), /2 minima, 2 maxima for 3 channels/);
    o.observeBatchRange([2, 3], { min: Float32Array.of(-1, 0, Infinity), max: Float32Array.of(1, 0, -Infinity), nonFinite: true });
    const g = o.histogramGrid([2, 3]);
    assert.deepEqual([...g.lo.slice(0, 2)], [-1, 0]);
    assert.deepEqual([...g.width.slice(0, 2)], [2 / 128, 0]);
    assert.ok(Number.isNaN(g.width[2]!), 'a channel without finite values has no bins');
    assert.throws(() => o.observeBatchCounts([2, 3], new Int32Array(128), false), /128 bin counts for 3 channels of 128 bins/);
    const counts = new Int32Array(3 * 128);
    counts[5] = 2;
    counts[128] = 2;
    counts[2 * 128 + 7] = 2; // an unset channel's counts are dropped, as fill() skips it
    o.observeBatchCounts([2, 3], counts, false);
    assert.deepEqual([...o.histogram(0)!.counts.slice(4, 7)], [0, 2, 0]);
    assert.equal(o.histogram(2), null);
    assert.equal(o.sawNonFinite, true);
    assert.throws(() => o.observeBatchRange([2, 3], { min: Float32Array.of(0, 0, 0), max: Float32Array.of(1, 1, 1), nonFinite: false }), /pass 0 after pass 1 has started/);
    assert.throws(() => o.range(), /channel 2 saw no finite values/);
  });

  test('NaN or ±Inf anywhere in the tensor makes the sum output non-finite (the batch is flagged, its counts dropped)', async () => {
    const rand = mulberry32(13);
    const grid: ObserverGrid = { bins: BINS, abs: false, lo: Float64Array.of(-1, -1), width: Float64Array.of(2 / BINS, 2 / BINS) };
    const finite = Float32Array.from({ length: 4000 }, () => rand() * 2 - 1);
    assert.ok(Number.isFinite((await runHistogram([2000, 2], 1, grid, finite)).sum));
    for (const bad of [NaN, Infinity, -Infinity]) {
      const data = finite.slice();
      data[1237] = bad;
      const { counts, sum } = await runHistogram([2000, 2], 1, grid, data);
      assert.equal(Number.isFinite(sum), false, `${bad}`);
      assert.equal(counts.reduce((a, b) => a + b, 0), data.length, 'every index stayed in bounds');
    }
  });
});
