/**
 * One lowering per op: the inference graph (onnx/build.ts, which
 * calibration, evaluation and the ONNX export run) and the training step
 * (native/train) emit each op's forward through engine/onnx/ops. On the same
 * float graph and batch, with onnxruntime's graph optimizations off (so each
 * graph runs op for op as written), every layer's value is the same in both,
 * bit for bit, and the inference graph agrees with the TF.js runtime to
 * float32 rounding. The DAGs cover convolutions (depthwise, strided),
 * activations (swish, hard_swish, hard sigmoids, leaky_relu, softmax…),
 * pools, squeeze-and-excite Multiplies with Keras's rank broadcasting,
 * Concatenate, affine, up-sampling, cropping, Reshape, and Dense on rank-3
 * and rank-4 inputs (which the inference graph takes since it shares the
 * training step's Dense).
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { buildStepGraph } from '../../../../src-main/engine/native/train/step-graph.js';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT } from '../../../../src-main/engine/onnx/build.js';
import { valueInfo } from '../../../../src-main/engine/onnx/proto.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { rng } from '../graph/fixtures.js';
import { concatenated, reshaped, residual, squeezeExcite } from '../native/train/dag-graphs.js';

before(async () => {
  await initBackend('wasm');
});

const N = 4;

/** NHWC values of an NCHW tensor [N, C, H, W]. */
function toNhwc(v: Float32Array, [h, w, c]: number[]): Float32Array {
  const out = new Float32Array(v.length);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++) for (let k = 0; k < c!; k++) out[((n * h! + y) * w! + x) * c! + k] = v[((n * c! + k) * h! + y) * w! + x]!;
  return out;
}

/** Largest difference and largest reference magnitude. */
function gap(got: Float32Array, ref: Float32Array): { diff: number; scale: number } {
  assert.equal(got.length, ref.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return { diff, scale };
}

async function run(bytes: Uint8Array, feeds: Record<string, { data: Float32Array; dims: number[] }>): Promise<Record<string, Float32Array>> {
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  try {
    const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', f.data, f.dims)])));
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

for (const [name, make] of Object.entries({ residual, squeezeExcite, concatenated, reshaped })) {
  test(`${name}: the inference graph and the training step give every layer the same value; TF.js agrees`, async () => {
    const { graph } = foldBatchNorm(make(0));
    const shape = graph.nodes[0]!.outputShape;
    const next = rng(3);
    const xs = Float32Array.from({ length: N * shape.reduce((a, b) => a * b, 1) }, () => next() * 2 - 0.5);
    const compared = graph.nodes.filter((n) => n.op !== 'input' && n.name !== graph.output);

    // The inference graph, every layer's value an output (NHWC for comparison).
    const built = buildOnnxGraph({ graph, plan: { graph: graph.name, weights: [], activations: [], float: [], tensors: [] }, qparams: new Map() });
    built.model.graph!.output = compared.map((n) => valueInfo(built.values.get(n.name)!.name));
    const inference = await run(encodeOnnx(built.model), { [ONNX_INPUT]: { data: xs, dims: [N, ...shape] } });
    const nhwc = (n: Graph['nodes'][number], data: Float32Array, nchw: boolean) => (nchw && n.outputShape.length === 3 ? toNhwc(data, n.outputShape) : data);

    // The float training step on the same graph (its layer values are NCHW images), gradients left aside.
    const step = buildStepGraph({ graph, plan: null, folded: [], activationEstimator: { kind: 'minmax', decay: 0 }, freezeBatchNorm: false, optimizer: null, exposeValues: true });
    const byName = new Map(graph.nodes.map((n) => [n.name, n]));
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      x: { data: xs, dims: [N, ...shape] },
      onehot: { data: new Float32Array(N * step.classes).map((_, i) => (i % step.classes === 0 ? 1 : 0)), dims: [N, step.classes] },
      invBatch: { data: Float32Array.of(1 / N), dims: [] },
    };
    for (const w of step.weights) feeds[`w/${w.node}/${w.weight}`] = { data: (byName.get(w.node) as { weights: Record<string, { values: Float32Array }> }).weights[w.weight]!.values, dims: w.shape };
    const training = await run(step.bytes, feeds);

    // TF.js, every layer's value.
    const runtime = new GraphRuntime(graph, { trainable: false });
    const reference = new Map<string, Float32Array>();
    tf.tidy(() => {
      runtime.apply(tf.tensor(xs, [N, ...shape]), { hooks: { output: (n, y) => (reference.set(n.name, y.dataSync() as Float32Array), y) } });
    });
    runtime.dispose();

    for (const n of compared) {
      const v = built.values.get(n.name)!;
      const inf = nhwc(n, inference[v.name]!, v.nchw);
      const trained = nhwc(n, training[`value/${n.name}`]!, true);
      assert.deepEqual(trained, inf, `${n.name} (${n.op}): the training step's value differs from the inference graph's`);
      const { diff, scale } = gap(inf, reference.get(n.name)!);
      assert.ok(diff <= 1e-5 * scale + 1e-7, `${n.name} (${n.op}): onnxruntime differs from TF.js by ${diff} at scale ${scale}`);
    }
  });
}
