/**
 * Fake quant as ONNX float ops (engine/onnx/fake-quant.ts) in each rounding
 * mode, and the table lookup of an integer kernel (engine/onnx/table.ts), run
 * in onnxruntime against the TensorFlow.js op they mirror
 * (engine/quant/fake-quant.ts), bit for bit: per tensor and per channel
 * (NCHW, channel axis 1), on exact ties in the signed domain (±0.5, ±1.5,
 * ±2.5 steps, odd zero points), on values clamped at both ends, and on
 * random values. The three modes differ on those ties, so a mode computed as
 * another would fail here.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { OnnxBuilder, encodeModel, onnxValue } from '../../../../src-main/engine/onnx/builder.js';
import { fakeQuantNodes, rowsView } from '../../../../src-main/engine/onnx/fake-quant.js';
import { tableLookupNodes } from '../../../../src-main/engine/onnx/table.js';
import { fakeQuant, ROUNDING_MODES, type RoundingMode } from '../../../../src-main/engine/quant/fake-quant.js';
import { computeQParams, type QParams } from '../../../../src-main/engine/quant/qparams.js';
import { rng } from '../graph/fixtures.js';

before(async () => {
  await initBackend('wasm');
});

const C = 3;
const H = 2;
const W = 8;

/** Runs a one-input graph on x (default [1, C, H, W], NCHW) and returns its output. */
async function runGraph(build: (b: OnnxBuilder) => string, x: Float32Array, shape = [1, C, H, W], optimization: 'disabled' | 'all' = 'disabled'): Promise<Float32Array> {
  const ort = await loadOnnxRuntime();
  const b = new OnnxBuilder('named');
  b.input('x', shape);
  b.output('y', build(b), shape);
  const model = b.model('fq', { opset: 13, irVersion: 7, domain: 'test' });
  const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: optimization, executionProviders: ['cpu'] });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, shape) });
    return Float32Array.from(out['y']!.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Values at every tie k + 0.5 of each channel's grid (signed domain: x / scale), clamped ends, and random values; NCHW. */
function inputs(qp: QParams): Float32Array {
  const random = rng(11);
  const x = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) {
    const s = qp.scale[qp.scale.length === 1 ? 0 : c]!;
    const ties = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, -3.5];
    for (let i = 0; i < H * W; i++) {
      const k = c * H * W + i;
      x[k] = i < ties.length ? Math.fround(ties[i]! * s) : i === 8 ? 1e3 : i === 9 ? -1e3 : Math.fround((random() * 2 - 1) * 200 * s);
    }
  }
  return x;
}

/** The TF.js fake quant of x (NCHW) on channel axis 1, or per tensor. */
function tfjsFakeQuant(x: Float32Array, qp: QParams, rounding: RoundingMode): Float32Array {
  return tf.tidy(() => {
    const t = tf.tensor(x, [1, C, H, W], 'float32');
    return Float32Array.from(fakeQuant(t, qp, { rounding, ...(qp.granularity === 'per-channel' ? { axis: 1 } : {}) }).dataSync() as Float32Array);
  });
}

// Asymmetric 8-bit grids whose zero points are odd and even (an odd zero point turns a signed-domain tie into an unsigned-domain one of the other parity).
const PER_TENSOR = computeQParams([-1.3], [2.1], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
const PER_CHANNEL = computeQParams([-1.3, -0.2, -4], [2.1, 0.9, 3], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' });
const NARROW = computeQParams([-1], [1], { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' });

for (const [name, qp] of [['per-tensor', PER_TENSOR], ['per-channel', PER_CHANNEL], ['4-bit narrow symmetric', NARROW]] as const) {
  test(`fake quant as ONNX ops equals TF.js's bit for bit in every rounding mode: ${name}`, async () => {
    const x = inputs(qp);
    const results = new Map<RoundingMode, Float32Array>();
    for (const rounding of ROUNDING_MODES) {
      const onnxOut = await runGraph((b) => fakeQuantNodes(b, onnxValue('x', [H, W, C], true), 'q', qp, qp.granularity === 'per-channel' ? 1 : null, rounding), x);
      const want = tfjsFakeQuant(x, qp, rounding);
      assert.deepEqual(Array.from(onnxOut, (v) => v + 0), Array.from(want, (v) => v + 0), `${name}, ${rounding}`);
      results.set(rounding, onnxOut);
    }
    // The ties tell the modes apart (half-up and half-away agree above zero, half-even on neither).
    assert.notDeepEqual(Array.from(results.get('half-even')!), Array.from(results.get('half-away')!));
    assert.notDeepEqual(Array.from(results.get('half-up')!), Array.from(results.get('half-away')!));
  });
}

// A ReLU / ReLU6 output's grid has zero point 0 (nudged min 0): x − 0 and q·scale + 0 are left out of the graph.
for (const granularity of ['per-tensor', 'per-channel'] as const) {
  test(`fake quant on a grid from 0 (no shift ops) equals TF.js's bit for bit, signed zeros too: ${granularity}`, async () => {
    const qp = granularity === 'per-tensor' ? computeQParams([0], [6], { bits: 8, symmetric: false, narrowRange: false, granularity }) : computeQParams([0, 0, 0], [6, 0.7, 3.1], { bits: 8, symmetric: false, narrowRange: false, granularity });
    assert.ok(Array.from(qp.nudgedMin).every((m) => m === 0));
    const x = inputs(qp);
    x[10] = -0;
    x[11] = 0;
    let ops: string[] = [];
    for (const rounding of ROUNDING_MODES) {
      const got = await runGraph((b) => {
        const out = fakeQuantNodes(b, onnxValue('x', [H, W, C], true), 'q', qp, granularity === 'per-channel' ? 1 : null, rounding);
        if (rounding === 'half-up') ops = b.model('probe', { opset: 13, irVersion: 7, domain: 'test' }).graph!.node.map((n) => n.opType);
        return out;
      }, x);
      const want = tfjsFakeQuant(x, qp, rounding);
      // Half-up (the ops changed here) to the sign of zero; the signed-domain modes as the tests above compare them.
      if (rounding === 'half-up') got.forEach((v, i) => assert.ok(Object.is(v, want[i]!), `${granularity}, value ${i}: ${v} vs ${want[i]}`));
      else assert.deepEqual(Array.from(got, (v) => v + 0), Array.from(want, (v) => v + 0), `${granularity}, ${rounding}`);
    }
    assert.ok(!ops.includes('Sub'), `half-up ops: ${ops.join(', ')}`);
    assert.equal(ops.filter((o) => o === 'Add').length, 1, 'only the + 0.5');
  });
}

// Per tensor, half-up clips x to the nudged range first (a Clip onnxruntime fuses into a Conv before it); a ReLU6 clip
// that x is merges into it, to the intersection of both ranges, unless another node reads the ReLU6's output.
for (const [min, max] of [[0, 4], [0, 9], [-0.7, 7.3], [-3, 2.5]] as const) {
  test(`fake quant taking over a ReLU6 clip (range [${min}, ${max}]) equals TF.js's relu6 then fake quant bit for bit, with one Clip`, async () => {
    const qp = computeQParams([min], [max], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
    const random = rng(5);
    // Ties of the grid, both clips' ends and values past them, zeros, random values around both ranges.
    const special = [0, -0, 6, 6.000001, 5.999999, -1e-30, 1e-30, qp.nudgedMin[0]!, qp.nudgedMax[0]!, 1e3, -1e3];
    const x = Float32Array.from({ length: C * H * W }, (_, i) =>
      i < special.length ? special[i]! : i < special.length + 16 ? Math.fround(qp.nudgedMin[0]! + (i - special.length + 0.5) * qp.scale[0]!) : Math.fround(random() * 14 - 4),
    );
    const want = tf.tidy(() => Float32Array.from(fakeQuant(tf.clipByValue(tf.tensor(x, [1, C, H, W], 'float32'), 0, 6), qp, { rounding: 'half-up' }).dataSync() as Float32Array));
    for (const alsoRead of [false, true]) {
      let clips: number[][] = [];
      const got = await runGraph((b) => {
        const relu6 = b.op('Clip', ['x', b.f32(0, [], 'relu6_min'), b.f32(6, [], 'relu6_max')], {}, 'relu6');
        if (alsoRead) b.output('relu6_out', relu6);
        const out = fakeQuantNodes(b, onnxValue(relu6, [H, W, C], true), 'q', qp, null, 'half-up', { ownClip: true });
        const graph = b.model('probe', { opset: 13, irVersion: 7, domain: 'test' }).graph!;
        const scalar = (name: string) => {
          const raw = graph.initializer.find((t) => t.name === name)!.rawData;
          return new DataView(raw.buffer, raw.byteOffset, 4).getFloat32(0, true);
        };
        clips = graph.node.filter((n) => n.opType === 'Clip').map((n) => [scalar(n.input[1]!), scalar(n.input[2]!)]);
        assert.equal(graph.initializer.some((t) => t.name === 'relu6_min'), alsoRead, 'the ReLU6 bounds go with its clip');
        return out;
      }, x, [1, C, H, W], 'all');
      got.forEach((v, i) => assert.ok(Object.is(v + 0, want[i]! + 0), `range [${min}, ${max}], value ${x[i]}: ${v} vs ${want[i]}`));
      const inter = [Math.max(0, qp.nudgedMin[0]!), Math.min(6, qp.nudgedMax[0]!)];
      assert.deepEqual(clips, alsoRead ? [[0, 6], [qp.nudgedMin[0]!, qp.nudgedMax[0]!]] : [inter], `clips when the ReLU6 output is ${alsoRead ? '' : 'not '}read elsewhere`);
    }
  });
}

/** x [1, C, H, W] → [1, H, W, C]. */
function toNhwc(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) out[i * C + c] = x[c * H * W + i]!;
  return out;
}

// The ops run on a reshaped view (rowsView); channels last (NHWC, and [rows, C]) take the other reshape than NCHW's, and a graph optimized at 'all' the same.
for (const [name, qp] of [['per-tensor', PER_TENSOR], ['per-channel', PER_CHANNEL]] as const) {
  test(`fake quant with channels last equals TF.js's bit for bit in every rounding mode: ${name}`, async () => {
    const x = toNhwc(inputs(qp));
    const axis = qp.granularity === 'per-channel' ? { axis: -1 } : {};
    for (const rounding of ROUNDING_MODES) {
      const want = tf.tidy(() => Float32Array.from(fakeQuant(tf.tensor(x, [1, H, W, C], 'float32'), qp, { rounding, ...axis }).dataSync() as Float32Array));
      const channel = qp.granularity === 'per-channel' ? 3 : null;
      const nhwc = await runGraph((b) => fakeQuantNodes(b, onnxValue('x', [H, W, C], false), 'q', qp, channel, rounding), x, [1, H, W, C], 'all');
      assert.deepEqual(Array.from(nhwc, (v) => v + 0), Array.from(want, (v) => v + 0), `${name}, ${rounding}, [1, H, W, C]`);
      const rows = await runGraph((b) => fakeQuantNodes(b, onnxValue('x', [C], false), 'q', qp, channel === null ? null : 1, rounding), x, [H * W, C], 'all');
      assert.deepEqual(Array.from(rows, (v) => v + 0), Array.from(want, (v) => v + 0), `${name}, ${rounding}, [H·W, C]`);
    }
  });
}

test('the fake quant runs on long rows: one vector per tensor, [outer, C, inner] or [rows, C] per channel', () => {
  assert.deepEqual(rowsView(4, null, 1), { shape: [-1], constDims: [] });
  assert.equal(rowsView(1, null, 1), null);
  assert.deepEqual(rowsView(4, 1, 32), { shape: [0, 32, -1], constDims: [1, 32, 1] });
  assert.deepEqual(rowsView(4, 3, 32), { shape: [-1, 32], constDims: [1, 32] });
  assert.equal(rowsView(2, 1, 10), null);
});

test('a table lookup indexes each channel row by the level of x on its input grid, clamped to the grid', async () => {
  const grid = { scale: 0.25, zeroPoint: -3, qmin: -8, qmax: 7 };
  const levels = grid.qmax - grid.qmin + 1;
  const values = Float32Array.from({ length: C * levels }, (_, i) => i * 10);
  const x = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) x[c * H * W + i] = Math.fround((i - 8) * grid.scale + (i === 15 ? 5 : 0));
  const out = await runGraph((b) => tableLookupNodes(b, onnxValue('x', [H, W, C], true), 'act', values, C, grid).name, x);
  for (let c = 0; c < C; c++)
    for (let i = 0; i < H * W; i++) {
      const level = Math.min(levels - 1, Math.max(0, Math.round(x[c * H * W + i]! / grid.scale) + grid.zeroPoint - grid.qmin));
      assert.equal(out[c * H * W + i], values[c * levels + level], `channel ${c}, value ${x[c * H * W + i]}`);
    }
});
