/**
 * The ONNX lowering of the keras.applications layer set: the float ONNX
 * model of each small seeded model (buildOnnxGraph with an empty plan, as
 * the native calibration builds it) runs in onnxruntime-node and equals
 * tfjs's model.predict to 1e-4, with graph optimizations disabled (the graph
 * as written) and at level 'all' (ORT's fusions, e.g. Mul + Sigmoid). The
 * block models run both with their BatchNormalizations and BN-folded. Then
 * the QDQ export of a PTQ run of the mobile-block model (bundled
 * Fashion-MNIST subset) is audited and agrees with the studio's simulation.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src-main/engine/backend.js';
import { graphFromLayersModel } from '../../../src-main/engine/graph/from-layers.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { foldBatchNorm } from '../../../src-main/engine/transform/index.js';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../../../src-main/engine/onnx/build.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { randomInput } from '../engine/graph/fixtures.js';
import { ACTIVATION_CASES, activationModel, BLOCKS, fusedActivationModel, LAYER_CASES, leakySoftmaxModel, mobileMixModel } from '../engine/graph/mobile-fixtures.js';
import { SAMPLE_DATA, config, context } from '../engine/ptq/ptq-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

before(async () => {
  await initBackend('wasm');
});

const LEVELS = ['disabled', 'all'] as const;

/** The graph as a float ONNX model: no weight or activation quantizer. */
function floatOnnx(graph: Graph): Uint8Array {
  const plan = { graph: graph.name, weights: [], activations: [], float: [], tensors: [] };
  return encodeOnnx(buildOnnxGraph({ graph, plan, qparams: new Map() }).model);
}

async function runOrt(bytes: Uint8Array, x: tf.Tensor, level: (typeof LEVELS)[number]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: level, intraOpNumThreads: 1 });
  try {
    const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape) });
    return Float32Array.from(out[ONNX_OUTPUT]!.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** ORT's output at both levels against model.predict, relative to the output's scale. */
async function checkOnnx(model: tf.LayersModel, graphs: Graph[], scale = 1): Promise<void> {
  const x = tf.tidy(() => tf.sub(tf.mul(randomInput([3, ...(model.inputs[0]!.shape.slice(1) as number[])], 11), 2 * scale), scale));
  const expected = model.predict(x) as tf.Tensor;
  const want = expected.dataSync();
  const tol = 1e-4 * Math.max(1, ...Array.from(want, Math.abs));
  try {
    for (const graph of graphs) {
      const bytes = floatOnnx(graph);
      for (const level of LEVELS) {
        const got = await runOrt(bytes, x, level);
        assert.equal(got.length, want.length);
        let worst = 0;
        got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]!))));
        assert.ok(worst <= tol, `${graph.name} (${graph.nodes.length} nodes), level ${level}: max abs diff ${worst} > ${tol}`);
      }
    }
  } finally {
    tf.dispose([x, expected]);
  }
}

for (const c of LAYER_CASES) {
  test(`${c.name}: the float ONNX model equals model.predict`, async () => {
    const model = c.build();
    const graph = graphFromLayersModel(model);
    await checkOnnx(model, [graph, foldBatchNorm(graph).graph]);
    model.dispose();
  });
}

for (const b of BLOCKS) {
  test(`${b.name}: the float ONNX model, with and without its BatchNormalizations folded, equals model.predict`, async () => {
    const model = b.build();
    const graph = graphFromLayersModel(model);
    await checkOnnx(model, [graph, foldBatchNorm(graph).graph], b.inputScale);
    model.dispose();
  });
}

test('activations as layers and as activation= of Conv2D / Dense: ONNX equals model.predict on [-6, 6]', async () => {
  for (const a of ACTIVATION_CASES) {
    for (const build of [activationModel, fusedActivationModel]) {
      const model = build(a.tfjs);
      await checkOnnx(model, [graphFromLayersModel(model)], 6);
      model.dispose();
    }
  }
  const model = leakySoftmaxModel();
  await checkOnnx(model, [graphFromLayersModel(model)], 3);
  model.dispose();
});

test('the lowering uses the ops it says: Pad, Slice, Resize (nearest, asymmetric, floor), GlobalMaxPool, Mul, HardSigmoid (1/6, 1/2 and 0.2, 1/2), LeakyRelu', () => {
  const opsOf = (build: () => tf.LayersModel) => {
    const model = build();
    const graph = graphFromLayersModel(model);
    model.dispose();
    const plan = { graph: graph.name, weights: [], activations: [], float: [], tensors: [] };
    return buildOnnxGraph({ graph, plan, qparams: new Map() }).model.graph!.node!;
  };
  const types = (build: () => tf.LayersModel) => new Set(opsOf(build).map((n) => n.opType));
  const caseBuild = (prefix: string) => LAYER_CASES.find((c) => c.name.startsWith(prefix))!.build;
  assert.ok(types(caseBuild('ZeroPadding2D')).has('Pad'));
  assert.ok(types(caseBuild('Cropping2D')).has('Slice'));
  const resize = opsOf(caseBuild('UpSampling2D')).find((n) => n.opType === 'Resize')!;
  const attr = (name: string) => new TextDecoder().decode(resize.attribute!.find((a) => a.name === name)!.s!);
  assert.deepEqual([attr('mode'), attr('coordinate_transformation_mode'), attr('nearest_mode')], ['nearest', 'asymmetric', 'floor']);
  assert.ok(types(caseBuild('GlobalAveragePooling2D')).has('GlobalMaxPool'));
  const hardSigmoids = (fn: string) =>
    opsOf(() => activationModel(fn))
      .filter((n) => n.opType === 'HardSigmoid')
      .map((n) => n.attribute!.map((a) => Math.fround(a.f!)));
  assert.deepEqual(hardSigmoids('keras3HardSigmoid'), [[Math.fround(1 / 6), 0.5]]);
  assert.deepEqual(hardSigmoids('hardSigmoid'), [[Math.fround(0.2), 0.5]]);
  assert.deepEqual(hardSigmoids('hardSwish'), [[Math.fround(1 / 6), 0.5]]);
  assert.ok(types(leakySoftmaxModel).has('LeakyRelu'));
});

test('QDQ export of a PTQ run of the mobile-block model: audited, and onnxruntime agrees with the half-even simulation', async () => {
  const model = mobileMixModel();
  const bytes = serializeGraph(graphFromLayersModel(model));
  model.dispose();
  const weights = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
  const payload = { config: config({ weights, unsupported: 'stop', calibration: { count: 100, seed: 0 }, eval: { count: 200, seed: 1 } }), modelName: 'mobile_mix', model: bytes, dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const input = {
    modelName: 'mobile_mix',
    config: payload.config,
    graph: prep.graph,
    plan: prep.plan,
    qparams: qparamsFromRecords(prep.plan, results.tensors),
    records: results.tensors,
    samples: samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape),
  };
  const file = path.join(tempDir('onnx-mobile-'), 'mobile_mix.onnx');
  const r = await exportOnnx(input, file);
  const audit = r.audit as { ok: boolean; checked: { kind: string }[] };
  assert.equal(audit.ok, true);
  assert.equal(audit.checked.filter((c) => c.kind === 'activation').length, prep.plan.activations.length);
  const v = r.verification as unknown as { agreement: number; count: number; maxAbsDiff: number };
  assert.equal(v.count, 200);
  assert.ok(v.agreement >= 0.99, `top-1 agreement ${v.agreement}`);
  // The seeded model is untrained (its top-1 hardly varies), so the real check is on values: both
  // outputs lie on the output quantizer's grid and differ by at most one step where a value
  // upstream fell on a rounding boundary in one float arithmetic and not the other.
  const out = prep.plan.activations.find((a) => a.at === prep.graph.output)!;
  const step = input.qparams.get(out.name)!.scale[0]!;
  assert.ok(v.maxAbsDiff <= step * 1.001, `max abs diff ${v.maxAbsDiff} > one output step ${step}`);
});
