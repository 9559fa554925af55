/**
 * The training step on onnxruntime's NCHWc kernels (native/train/nchwc.ts:
 * depthwise forward, stride-1 input gradient and filter gradient; forward
 * and stride-1 input gradient of wider-than-1×1 convolutions) against
 * the same step in standard ONNX operators, which step-graph, dag-step and
 * apps-step check against TF.js autodiff: from the same weights and batch,
 * float training, every gradient, the loss and the moving statistics agree
 * to float32 rounding (relative to each tensor's scale). Batches of 8 and 5
 * (the Scan runs per sample, whatever the batch). Runs where the probe finds
 * NCHWc kernels (x86-64 with AVX2 or AVX-512, where it must find them);
 * elsewhere the step keeps the standard operators and there is nothing to
 * compare.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../../src-main/engine/backend.js';
import type { Conv2DNode, Graph, GraphNode } from '../../../../../src-main/engine/graph/types.js';
import { loadOnnxRuntime } from '../../../../../src-main/engine/native/session.js';
import { NCHWC_DOMAIN, nchwcBlockSize } from '../../../../../src-main/engine/native/train/nchwc.js';
import { buildStepGraph, maskDims } from '../../../../../src-main/engine/native/train/step-graph.js';
import { decodeModel } from '../../../../../src-main/engine/onnx/proto.js';
import { rng } from '../../graph/fixtures.js';
import { act, batchNorm, conv, dense, flatten, graphOf, input, randomizeStatistics } from '../../transform/graphs.js';
import { apps } from './app-graphs.js';
import { depthwiseStrided, zeroPad } from './dag-graphs.js';
import { assertClose } from './step-reference.js';

let block: number | null = null;

before(async () => {
  await initBackend('wasm');
  block = await nchwcBlockSize(await loadOnnxRuntime());
});

/**
 * Depthwise layers NCHWc takes (16 and 32 channels: whole blocks of 8 and
 * 16): stride 1 'same' with a bias and a fused relu6, a 5×5 one, stride 2
 * 'valid' after ZeroPadding2D and stride 2 'same'; one it leaves to the
 * standard operators (multiplier 2).
 */
function depthwiseChain(): Graph {
  const x = input('input', [10, 10, 3]);
  const c = conv('c', x, 16, { activation: 'relu6' });
  const dw1 = depthwiseStrided('dw1', c, { mult: 1, k: 3, stride: 1, padding: 'same', activation: 'relu6', bias: true });
  const pw = conv('pw', dw1, 32, { k: 1, bias: false });
  const bn = batchNorm('bn', pw);
  const r = act('r', bn, 'relu6');
  const dw5 = depthwiseStrided('dw5', r, { mult: 1, k: 5, stride: 1, padding: 'same', bias: false });
  const pad = zeroPad('pad', dw5, [[0, 1], [0, 1]]);
  const dwPad = depthwiseStrided('dw_pad', pad, { mult: 1, k: 3, stride: 2, padding: 'valid', bias: false });
  const bn2 = batchNorm('bn2', dwPad);
  const dwSame = depthwiseStrided('dw_same', bn2, { mult: 1, k: 3, stride: 2, padding: 'same', activation: 'relu', bias: true });
  const dwMult = depthwiseStrided('dw_mult', dwSame, { mult: 2, k: 3, stride: 1, padding: 'same', bias: false });
  const f = flatten('flatten', dwMult);
  const d = dense('d', f, 3, { activation: 'softmax' });
  return randomizeStatistics(graphOf('depthwise_chain', x, c, dw1, pw, bn, r, dw5, pad, dwPad, bn2, dwSame, dwMult, f, d), 41);
}

/**
 * Convolutions NCHWc takes (16 and 32 channels in and out: whole blocks of
 * 8 and 16, kernels wider than 1×1): stride 1 'same' with a bias and a
 * fused relu, a dilated 5×5 one under a BatchNorm, stride 2 'valid' (its
 * input gradient stays ConvTranspose); ones it leaves to the standard
 * operators: the RGB stem (3 channels in), a 1×1 one, 24 channels out.
 */
function convChain(): Graph {
  const x = input('input', [12, 12, 3]);
  const stem = conv('stem', x, 16, { activation: 'relu6' });
  const c1 = conv('c1', stem, 32, { activation: 'relu' });
  const dil: Conv2DNode = { ...(conv('dil', c1, 16, { k: 5, bias: false }) as Conv2DNode), dilation: [2, 2] };
  const bn = batchNorm('bn', dil);
  const r = act('r', bn, 'relu6');
  const down: Conv2DNode = { ...(conv('down', r, 32, {}) as Conv2DNode), outputShape: [5, 5, 32], strides: [2, 2], padding: 'valid' };
  const pw = conv('pw', down, 16, { k: 1 });
  const odd = conv('odd', pw, 24, { activation: 'relu' });
  const f = flatten('flatten', odd);
  const d = dense('d', f, 3, { activation: 'softmax' });
  return randomizeStatistics(graphOf('conv_chain', x, stem, c1, dil, bn, r, down, pw, odd, f, d), 43);
}

async function runStep(graph: Graph, freezeBatchNorm: boolean, nchwcBlock: number | null, n: number, [lo, hi]: [number, number]): Promise<{ out: Record<string, Float32Array>; nchwcNodes: number }> {
  const step = buildStepGraph({ graph, plan: null, folded: [], activationEstimator: { kind: 'minmax', decay: 0 }, freezeBatchNorm, optimizer: null, nchwcBlock });
  const model = decodeModel(step.bytes);
  const nchwcNodes = model.graph!.node.filter((x) => x.domain === NCHWC_DOMAIN).length;
  const ort = await loadOnnxRuntime();
  const shape = graph.nodes[0]!.outputShape;
  const next = rng(29);
  const xs = Float32Array.from({ length: n * shape.reduce((a, b) => a * b, 1) }, () => lo + (hi - lo) * next());
  const onehot = new Float32Array(n * step.classes).map((_, i) => (i % step.classes === Math.floor(i / step.classes) % step.classes ? 1 : 0));
  const byName = new Map(graph.nodes.map((x) => [x.name, x]));
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
    x: new ort.Tensor('float32', xs, [n, ...shape]),
    onehot: new ort.Tensor('float32', onehot, [n, step.classes]),
    invBatch: new ort.Tensor('float32', Float32Array.of(1 / n), []),
  };
  // Dropout keeps everything (the masks are not what is compared).
  for (const d of step.dropouts) feeds[`mask/${d.node}`] = new ort.Tensor('float32', new Float32Array(maskDims(d, n).reduce((a, b) => a * b, 1)).fill(1), maskDims(d, n));
  for (const w of step.weights) feeds[`w/${w.node}/${w.weight}`] = new ort.Tensor('float32', (byName.get(w.node) as GraphNode & { weights: Record<string, { values: Float32Array }> }).weights[w.weight]!.values, w.shape);
  const session = await ort.InferenceSession.create(step.bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
  try {
    const out = await session.run(feeds);
    return { out: Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array])), nchwcNodes };
  } finally {
    await session.release();
  }
}

/**
 * The small chain to float32 rounding (1e-4 of each tensor's scale). The
 * applications with BatchNorm frozen (batch statistics make some gradients
 * float noise on both sides, a BatchNorm's β before a linear conv and
 * another BatchNorm) to 2e-3: through a deep net, the gradients of the first
 * layers carry float rounding amplified many times (the TF.js comparisons
 * lock their forward passes node by node for that), which a wrong layout or
 * kernel flip would still exceed by orders of magnitude.
 */
const cases: { what: string; freeze: boolean; tolerance: number; graph: () => { graph: Graph; inputRange: [number, number] } }[] = [
  { what: 'depthwise layers of every kind NCHWc takes, and one it does not', freeze: false, tolerance: 1e-4, graph: () => ({ graph: depthwiseChain(), inputRange: [-1, 1] }) },
  { what: 'the same, BatchNorm frozen', freeze: true, tolerance: 1e-4, graph: () => ({ graph: depthwiseChain(), inputRange: [-1, 1] }) },
  { what: 'convolutions of every kind NCHWc takes, and ones it does not', freeze: false, tolerance: 1e-4, graph: () => ({ graph: convChain(), inputRange: [-1, 1] }) },
  { what: 'MobileNetV2 (alpha 0.35), BatchNorm frozen', freeze: true, tolerance: 2e-3, graph: apps['mobileNetV2']! },
  { what: 'EfficientNetB0 (5×5 depthwise, swish), BatchNorm frozen', freeze: true, tolerance: 2e-3, graph: apps['efficientNetB0']! },
];

describe('the training step on NCHWc kernels against standard ONNX operators', () => {
  test('the probe finds the NCHWc kernels (on x86-64, which has them since AVX2) and their block size', () => {
    assert.ok(block === null || [4, 8, 16, 32].includes(block), `block size ${block}`);
    if (process.arch === 'x64') assert.notEqual(block, null, 'onnxruntime has NCHWc kernels for x86-64 CPUs with AVX2, but the probe found none that agree');
  });

  for (const c of cases) {
    for (const n of [8, 5]) {
      test(`${c.what}, batch ${n}`, async (t) => {
        if (block === null) return t.skip('no NCHWc kernels here');
        const { graph, inputRange } = c.graph();
        const portable = await runStep(graph, c.freeze, null, n, inputRange);
        const nchwc = await runStep(graph, c.freeze, block, n, inputRange);
        assert.equal(portable.nchwcNodes, 0);
        assert.ok(nchwc.nchwcNodes > 0, 'the step uses NCHWc kernels');
        const keys = Object.keys(portable.out).filter((k) => k.startsWith('grad/') || k.startsWith('next/'));
        assert.ok(keys.some((k) => /grad\/.*\/kernel$/.test(k)));
        let worst = 0;
        for (const key of keys) worst = Math.max(worst, assertClose(nchwc.out[key]!, portable.out[key]!, c.tolerance, key));
        const [a, b] = [nchwc.out['loss']![0]!, portable.out['loss']![0]!];
        assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `loss ${a} vs ${b}`);
        t.diagnostic(`worst difference ${worst.toExponential(1)} of a tensor's scale`);
      });
    }
  }
});
