/**
 * The calibration probes that read image tensors in onnxruntime's blocked
 * NCHWc layout (calibrate-onnx.ts, blockedLayoutProbe). References: the
 * watched tensors themselves, run out of the same float graph and reduced in
 * JS (the probes must give their minimum and maximum bit for bit); with
 * zeroFloor, a ReLU / ReLU6 output records 0 as its minimum; and ORT's own
 * optimized graph (what the session runs), which must copy no full
 * activation back to NCHW for a per-tensor probe — the point of the probes —
 * while per-channel probes (ReduceMin/Max over three axes) still do.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import type { Graph } from '../../../../src-main/engine/graph/types.js';
import { buildProbedModel, probeStats } from '../../../../src-main/engine/native/calibrate-onnx.js';
import { createSession, loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { floatGraphWithWatched } from '../../../../src-main/engine/native/watched-activations.js';
import { encodeOnnx, ONNX_INPUT } from '../../../../src-main/engine/onnx/build.js';
import { decodeModel, valueInfo } from '../../../../src-main/engine/onnx/proto.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization, type QuantPlan } from '../../../../src-main/engine/transform/plan.js';
import { tempDir } from '../../../helpers/temp.js';
import { rng } from '../graph/fixtures.js';
import { config } from '../ptq/ptq-fixtures.js';
import { apps } from './train/app-graphs.js';

const BATCH = 3;

before(async () => {
  await initBackend('wasm');
});

function mobileNet(granularity: 'per-tensor' | 'per-channel'): { graph: Graph; plan: QuantPlan; x: Float32Array } {
  const { graph: g, inputRange } = apps.mobileNetV2!();
  const { graph } = foldBatchNorm(g);
  const plan = planQuantization(graph, config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity } }));
  const next = rng(5);
  const [lo, hi] = inputRange;
  return { graph, plan, x: Float32Array.from({ length: BATCH * 32 * 32 * 3 }, () => lo + (hi - lo) * next()) };
}

async function run(bytes: Uint8Array, x: Float32Array) {
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(bytes, { threads: 2 });
  try {
    return await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [BATCH, 32, 32, 3]) });
  } finally {
    await session.release();
  }
}

describe('calibration probes on the blocked layout', () => {
  test('MobileNetV2 (alpha 0.35, 32x32, seeded), per-tensor: every probe gives its tensor’s min and max bit for bit; zeroFloor records 0 at ReLU6 outputs only', async () => {
    const { graph, plan, x } = mobileNet('per-tensor');
    const { model, watched } = floatGraphWithWatched(graph, plan);
    model.graph!.output = watched.map((w) => valueInfo(w.value.name));
    const tensors = await run(encodeOnnx(model), x);
    const exact = buildProbedModel(graph, plan);
    const floored = buildProbedModel(graph, plan, { zeroFloor: true });
    const [outExact, outFloored] = [await run(exact.bytes, x), await run(floored.bytes, x)];
    assert.equal(exact.probes.length, watched.length);
    let relu6 = 0;
    watched.forEach((w, i) => {
      const values = tensors[w.value.name]!.data as Float32Array;
      const min = values.reduce((a, b) => Math.min(a, b), Infinity);
      const max = values.reduce((a, b) => Math.max(a, b), -Infinity);
      const a = probeStats(outExact, exact.probes[i]!);
      assert.deepEqual([a.min[0], a.max[0]], [min, max], `${w.node.name}: exact probe`); // deepEqual tells 0 from −0
      assert.ok(Number.isFinite(a.sum));
      const b = probeStats(outFloored, floored.probes[i]!);
      const isRelu6 = 'activation' in w.node && w.node.activation === 'relu6';
      if (isRelu6) relu6++;
      assert.equal(floored.probes[i]!.min === null, isRelu6, `${w.node.name}: floored only at ReLU6`);
      assert.deepEqual([b.min[0], b.max[0]], [isRelu6 ? 0 : min, max], `${w.node.name}: floored probe`);
    });
    assert.ok(relu6 > 10 && relu6 < watched.length, `${relu6} of ${watched.length} probes at ReLU6 outputs`);
  });

  test('ORT’s optimized graph copies no activation back to NCHW for per-tensor probes beyond one per tensor the float graph cannot keep blocked (per-channel ReduceMin/Max still copy)', async () => {
    const ort = await loadOnnxRuntime();
    const dir = tempDir('studio-probes-');
    const fullCopies = async (granularity: 'per-tensor' | 'per-channel', zeroFloor: boolean | 'no probes') => {
      const { graph, plan } = mobileNet(granularity);
      const file = path.join(dir, `${granularity}-${zeroFloor}.onnx`);
      const bytes = zeroFloor === 'no probes' ? encodeOnnx(floatGraphWithWatched(graph, plan).model) : buildProbedModel(graph, plan, { zeroFloor }).bytes;
      const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: file });
      await session.release();
      const nodes = decodeModel(readFileSync(file)).graph!.node;
      const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n.opType] as const)));
      const reorders = nodes.filter((n) => n.opType === 'ReorderOutput');
      assert.ok(reorders.length > 0, 'the CPU provider ran the graph in its blocked layout');
      // A pool's [N, C, 1, 1] result is a small copy; anything else is a whole activation.
      return reorders.filter((n) => !/^Global(Max|Average)Pool$/.test(producer.get(n.input[0]!) ?? '')).length;
    };
    // The float graph's own copies: with AVX-512's 16-channel blocks, the 8-channel bottlenecks go back to NCHW for the convolutions that read
    // them (with AVX2's 8, none). A probe's widening convolution reads them there too, so at most one copy per such tensor is the probes'.
    const own = await fullCopies('per-tensor', 'no probes');
    const { graph, plan } = mobileNet('per-tensor');
    const unaligned = floatGraphWithWatched(graph, plan).watched.filter((w) => w.value.nchw && w.node.outputShape.at(-1)! % 16 !== 0).length;
    const copies = [await fullCopies('per-tensor', false), await fullCopies('per-tensor', true), await fullCopies('per-channel', false)];
    assert.ok(unaligned > 0, 'the model has watched tensors whose channel count is not a multiple of 16');
    assert.ok(copies[0]! <= own + unaligned && copies[1]! <= own + unaligned, `per-tensor probes: ${copies[0]} and ${copies[1]} full copies, the float graph ${own}`);
    assert.ok(copies[2]! > own + unaligned, `per-channel probes: ${copies[2]} full copies`);
  });

  test('ORT runs each probe right after its activation is computed, not all probes after the whole float graph', async () => {
    const ort = await loadOnnxRuntime();
    const dir = tempDir('studio-probe-order-');
    const { graph, plan, x } = mobileNet('per-tensor');
    const { bytes, probes } = buildProbedModel(graph, plan, { zeroFloor: true });
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 1, enableProfiling: true, profileFilePrefix: path.join(dir, 'profile') });
    await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [BATCH, 32, 32, 3]) });
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.startsWith('profile'));
    assert.ok(file, 'ORT wrote its profile');
    const events = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { cat: string; name: string }[];
    // The kernels of the one run, in the order they ran (ORT's NCHWc rewrite keeps the names' prefixes).
    const ran = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).map((e) => e.name);
    const probeOf = (name: string) => /^probe(\d+)\//.exec(name)?.[1];
    const first = probes.map((_, k) => ran.findIndex((n) => probeOf(n) === String(k)));
    assert.ok(first.every((i) => i >= 0), 'every probe ran');
    for (let k = 1; k < probes.length; k++) {
      const [a, b] = [probes[k - 1]!.at, probes[k]!.at];
      assert.ok(first[k - 1]! < first[k]!, `probe ${k - 1} (${a}) runs before probe ${k} (${b})`);
      const between = ran.slice(first[k - 1]!, first[k]!).filter((n) => probeOf(n) === undefined && !n.startsWith('ReorderOutput'));
      assert.ok(between.length > 0, `a float node runs between probe ${k - 1} (${a}) and probe ${k} (${b})`);
    }
  });
});
