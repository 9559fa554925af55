/**
 * Integer kernels on cases small enough to work out by hand, run through the
 * real compile path (graph → plan → qparams → integer program).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RunConfig } from '../../../../src-main/api/run-config.js';
import type { Graph, GraphNode } from '../../../../src-main/engine/graph/types.js';
import { compileIntegerModel, IntegerReferenceError, runIntegerReference } from '../../../../src-main/engine/integer/index.js';
import { avgPool, maxPool } from '../../../../src-main/engine/integer/pool.js';
import { addInt, addParams } from '../../../../src-main/engine/integer/elementwise.js';
import { conv2dAcc, denseAcc, newPatch } from '../../../../src-main/engine/integer/conv.js';
import { conv2dAccPacked, denseAccPacked, laneChunk, newPackedPatch, packKernel } from '../../../../src-main/engine/integer/packed.js';
import { computeQParams, type QParams } from '../../../../src-main/engine/quant/qparams.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';

const WEIGHTS = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
const ACTS = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;

function cfg(extra: Record<string, unknown> = {}): RunConfig {
  return RunConfig.parse({ modelId: 1, datasetId: 1, weights: WEIGHTS, activations: ACTS, ...extra });
}

/**
 * Input 3×3×1 on scale 1/128 (range [0, 255/128], zero point 0), a 2×2 conv
 * with kernel [[1,2],[3,4]]/64 (symmetric, scale 1/64), bias 0.5 and ReLU,
 * output on scale 1/32. So acc = Σ q_x·q_w + 0.5/(1/8192) = Σ q_x·q_w + 4096,
 * and the output multiplier is (1/128)(1/64)/(1/32) = 1/256.
 */
function tinyConv(padding: 'valid' | 'same'): { graph: Graph; qparams: Map<string, QParams>; config: RunConfig } {
  const out = padding === 'valid' ? 2 : 3;
  const graph: Graph = {
    name: 'tiny',
    output: 'conv2d',
    nodes: [
      { op: 'input', name: 'input', inputs: [], outputShape: [3, 3, 1] },
      {
        op: 'conv2d',
        name: 'conv2d',
        inputs: ['input'],
        outputShape: [out, out, 1],
        filters: 1,
        kernelSize: [2, 2],
        strides: [1, 1],
        padding,
        dilation: [1, 1],
        activation: 'relu',
        weights: { kernel: { shape: [2, 2, 1, 1], values: Float32Array.of(1 / 64, 2 / 64, 3 / 64, 4 / 64) }, bias: { shape: [1], values: Float32Array.of(0.5) } },
      },
    ],
  };
  const config = cfg();
  const qparams = new Map<string, QParams>([
    ['input', computeQParams([0], [255 / 128], ACTS)],
    ['conv2d/kernel', computeQParams([-127 / 64], [127 / 64], WEIGHTS)],
    ['conv2d/output', computeQParams([0], [255 / 32], ACTS)],
  ]);
  return { graph, qparams, config };
}

/** x = 10·k/128 for k = 1..9 (row-major): input integers 10·k exactly. */
const TINY_IMAGE = Float32Array.from({ length: 9 }, (_, i) => (10 * (i + 1)) / 128);

describe('integer conv: a closed-form case', () => {
  test("'valid': acc = 10·Σ k·w + 4096 → MBQM(acc, 1/256) = 17, 18, 19, 19", () => {
    const { graph, qparams, config } = tinyConv('valid');
    assert.equal(qparams.get('input')!.scale[0], 1 / 128);
    assert.equal(qparams.get('conv2d/kernel')!.scale[0], 1 / 64);
    const model = { graph, plan: planQuantization(graph, config), qparams };
    // Windows: 1·1+2·2+4·3+5·4 = 37, 47, 67, 77 → acc 4466, 4566, 4766, 4866 → /256 = 17.45, 17.84, 18.62, 19.01.
    const out = runIntegerReference(model, TINY_IMAGE, 1);
    assert.deepEqual(Array.from(out, (v) => v * 32), [17, 18, 19, 19]);
    // The int8 tensor behind it: zero point −128 in TFLite's signed domain.
    const program = compileIntegerModel(model);
    program.runSample(TINY_IMAGE, 0, new Float32Array(4), 0);
    assert.deepEqual(Array.from(program.tensor('conv2d').data), [17 - 128, 18 - 128, 19 - 128, 19 - 128]);
    assert.deepEqual(Array.from(program.tensor('input').data), Array.from({ length: 9 }, (_, i) => 10 * (i + 1) - 128));
  });

  test("'same' pads after (TF): border windows see only the real taps", () => {
    const { graph, qparams, config } = tinyConv('same');
    const model = { graph, plan: planQuantization(graph, config), qparams };
    // e.g. (0,2): 3·1 + 6·3 = 21 → 4306/256 = 16.82 → 17; (2,2): 9·1 → 4186/256 = 16.35 → 16.
    const out = runIntegerReference(model, TINY_IMAGE, 1);
    assert.deepEqual(Array.from(out, (v) => v * 32), [17, 18, 17, 19, 19, 17, 17, 17, 16]);
  });

  test('the fused ReLU clamps at the zero point: a bias of −1 makes every output 0', () => {
    const { graph, qparams, config } = tinyConv('valid');
    (graph.nodes[1] as Extract<GraphNode, { op: 'conv2d' }>).weights.bias!.values[0] = -1; // acc = 10·Σ − 8192 < 0
    const out = runIntegerReference({ graph, plan: planQuantization(graph, config), qparams }, TINY_IMAGE, 1);
    assert.deepEqual(Array.from(out), [0, 0, 0, 0]);
  });

  test('per-channel on an input axis, a float-override layer and a missing quantizer are refused naming the layer', () => {
    const { graph, qparams } = tinyConv('valid');
    const config = cfg({ overrides: [{ layer: 'conv2d', float: true }] });
    assert.throws(
      () => compileIntegerModel({ graph, plan: planQuantization(graph, config), qparams }),
      (e: unknown) => e instanceof IntegerReferenceError && e.layer === 'conv2d' && /kept in float by the plan \(override\)/.test(e.message),
    );
    const wrongAxis = cfg({ weights: { ...WEIGHTS, granularity: 'per-channel', axis: 2 } });
    const plan = planQuantization({ ...graph, nodes: graph.nodes.map((n) => (n.op === 'conv2d' ? { ...n, weights: { ...n.weights, kernel: { shape: [2, 2, 2, 1], values: new Float32Array(8).fill(0.1) } } } : n)) }, wrongAxis);
    const qp = new Map(qparams);
    qp.set('conv2d/kernel', computeQParams([-1, -1], [1, 1], { ...WEIGHTS, granularity: 'per-channel' }, { axis: 2 }));
    assert.throws(() => compileIntegerModel({ graph, plan, qparams: qp }), (e: unknown) => e instanceof IntegerReferenceError && e.layer === 'conv2d' && /axis 2, not its output channels/.test(e.message));
    const missing = new Map(qparams);
    missing.delete('conv2d/output');
    assert.throws(() => compileIntegerModel({ graph, plan: planQuantization(graph, cfg()), qparams: missing }), (e: unknown) => e instanceof IntegerReferenceError && e.layer === 'conv2d');
  });

  test('an opaque layer (no integer kernel) is named', () => {
    const { graph, qparams } = tinyConv('valid');
    const opaque: Graph = {
      ...graph,
      output: 'leaky',
      nodes: [...graph.nodes, { op: 'layer', name: 'leaky', inputs: ['conv2d'], outputShape: [2, 2, 1], className: 'LeakyReLU', config: {}, weights: {} }],
    };
    const plan = planQuantization(opaque, cfg({ unsupported: 'keep-float' }));
    assert.throws(() => compileIntegerModel({ graph: opaque, plan, qparams }), (e: unknown) => e instanceof IntegerReferenceError && e.layer === 'leaky' && /LeakyReLU/.test(e.message));
  });
});

describe('integer pooling and add', () => {
  const geometry = (n: number) => ({ inH: 1, inW: n, inC: 1, outH: 1, outW: 1, outC: 1, kh: 1, kw: n, strideH: 1, strideW: n, dilationH: 1, dilationW: 1, padTop: 0, padLeft: 0 });
  const avg = (values: number[]) => {
    const out = new Int32Array(1);
    avgPool(geometry(values.length), Int32Array.from(values), -128, 127, out);
    return out[0];
  };

  test('AVERAGE_POOL_2D rounds the stored values half away from zero', () => {
    assert.equal(avg([1, 2]), 2); // 1.5
    assert.equal(avg([-1, -2]), -2); // −1.5
    assert.equal(avg([-1, 0]), -1); // −0.5
    assert.equal(avg([1, 0]), 1); // 0.5
    assert.equal(avg([1, 1, 2, 2]), 2); // 1.5 with n = 4
    assert.equal(avg([1, 1, 1, 2]), 1); // 1.25
    assert.equal(avg([-128, -127, -127]), -127); // −127.33
  });

  test('MAX_POOL_2D takes the largest stored value, clamped to the activation range', () => {
    const out = new Int32Array(1);
    maxPool(geometry(3), Int32Array.of(-5, 7, 3), -128, 127, out);
    assert.equal(out[0], 7);
    maxPool(geometry(3), Int32Array.of(-5, 7, 3), -128, 5, out);
    assert.equal(out[0], 5);
  });

  test('ADD with left shift 20 equals the real sum within one output LSB', () => {
    const a = { name: 'a', scale: 0.02, zeroPoint: -10, qmin: -128, qmax: 127 };
    const b = { name: 'b', scale: 0.05, zeroPoint: 3, qmin: -128, qmax: 127 };
    const o = { name: 'o', scale: 0.07, zeroPoint: -1, qmin: -128, qmax: 127 };
    const p = addParams([a, b], o, -128, 127, 'double');
    const xa = Int32Array.from({ length: 256 }, (_, i) => i - 128);
    const xb = Int32Array.from({ length: 256 }, (_, i) => 127 - ((i * 37) % 256));
    const out = new Int32Array(256);
    addInt(p, [xa, xb], out);
    for (let i = 0; i < 256; i++) {
      const real = (xa[i]! - a.zeroPoint) * a.scale + (xb[i]! - b.zeroPoint) * b.scale;
      const want = Math.min(127, Math.max(-128, Math.round(real / o.scale) + o.zeroPoint));
      assert.ok(Math.abs(out[i]! - want) <= 1, `${xa[i]} + ${xb[i]}: ${out[i]} vs ${want}`);
    }
    // Hand-worked: both at their zero points → the output zero point.
    addInt(p, [Int32Array.of(-10), Int32Array.of(3)], out.subarray(0, 1));
    assert.equal(out[0], -1);
  });
});

describe('two channels per multiply (packed.ts) equals the plain int32 kernels', () => {
  let seed = 5;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const ints = (n: number, lo: number, hi: number, zeroShare = 0) => Int32Array.from({ length: n }, () => (rand() < zeroShare ? lo : lo + Math.floor(rand() * (hi - lo + 1))));

  test('Conv2D: odd channel counts, strides, dilation, and chunks of 1, 3 and the 2^25 bound', () => {
    for (const [outC, stride, dilation] of [[7, 1, 1], [13, 2, 1], [1, 1, 2], [16, 1, 1]] as const) {
      const g = { inH: 6, inW: 5, inC: 3, outH: 6, outW: 5, outC, kh: 3, kw: 3, strideH: 1, strideW: 1, dilationH: dilation, dilationW: dilation, padTop: dilation, padLeft: dilation };
      if (stride === 2) Object.assign(g, { strideH: 2, strideW: 2, outH: 3, outW: 3, padTop: 1, padLeft: 1 });
      const taps = 27;
      const x = ints(6 * 5 * 3, -128, 127, 0.3);
      const w = ints(taps * outC, -127, 127);
      const bias = ints(outC, -5000, 5000);
      const want = new Int32Array(g.outH * g.outW * outC);
      conv2dAcc(g, x, -128, w, bias, want, newPatch(taps));
      for (const chunk of [1, 3, laneChunk(255, 127)]) {
        const got = new Int32Array(want.length);
        conv2dAccPacked(g, x, -128, packKernel(w, taps, outC), chunk, bias, got, newPackedPatch(taps));
        assert.deepEqual(got, want, `outC ${outC}, stride ${stride}, dilation ${dilation}, chunk ${chunk}`);
      }
    }
    assert.equal(laneChunk(255, 127), 1036); // (2^25 − 1) / (255·127)
  });

  test('Dense: 3136 inputs at the extremes need several chunks and stay exact', () => {
    const inF = 3136;
    const outF = 11;
    const x = ints(inF, 127, 127); // every x − zp = 255
    const w = ints(inF * outF, -127, -127); // every w = −127: each sum is −101,556,480, beyond one chunk's 2^25
    const bias = ints(outF, -100, 100);
    const want = new Int32Array(outF);
    denseAcc(1, inF, outF, x, -128, w, bias, want, newPatch(inF));
    assert.equal(want[0], bias[0]! - 3136 * 255 * 127);
    const got = new Int32Array(outF);
    denseAccPacked(1, inF, outF, x, -128, packKernel(w, inF, outF), laneChunk(255, 127), bias, got, newPackedPatch(inF));
    assert.deepEqual(got, want);
    const xr = ints(2 * inF, -128, 127, 0.5);
    const wr = ints(inF * outF, -127, 127);
    const want2 = new Int32Array(2 * outF);
    denseAcc(2, inF, outF, xr, -128, wr, bias, want2, newPatch(inF));
    const got2 = new Int32Array(2 * outF);
    denseAccPacked(2, inF, outF, xr, -128, packKernel(wr, inF, outF), laneChunk(255, 127), bias, got2, newPackedPatch(inF));
    assert.deepEqual(got2, want2);
  });
});
