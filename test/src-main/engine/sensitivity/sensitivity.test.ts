/**
 * Sensitivity analysis (engine/sensitivity) on the bundled trained CNN and
 * the bundled Fashion-MNIST subset, against independent references:
 *  - one switched quantizer against the fixed fake quant it replaces
 *    (onnx/fake-quant.ts fakeQuantNodes), in one onnxruntime graph: on, bit
 *    for bit its values; off, bit for bit the input;
 *  - the switched session against the PTQ evaluation graph
 *    (native/evaluate-onnx.ts: constants, no switches) built from a plan
 *    that planQuantization made with float overrides: everything on = the
 *    PTQ simulation, a layer "float alone" = the PTQ run with `LAYER:float`,
 *    a layer "quantized alone" = the PTQ run with every other layer float.
 *    Kernels fed as inputs instead of constants change onnxruntime's
 *    convolution path, so outputs agree to float32 rounding: accuracy
 *    within one sample, output SQNR within 0.1 dB;
 *  - everything off is the float model itself: SQNR reported exact (null);
 *  - 16-bit quantizers cost about 48 dB more than 8-bit ones (6.02 dB a bit),
 *    so at 16 bits every case is within one sample of float; the input
 *    quantizer is lossless at 8 bits already (pixels k/255 on a [0, 1] grid).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { RunConfig } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { buildEvaluationModels, QUANT_OUTPUT } from '../../../../src-main/engine/native/evaluate-onnx.js';
import { createSession, loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';
import { encodeOnnx, ONNX_INPUT, ONNX_OUTPUT } from '../../../../src-main/engine/onnx/build.js';
import { OnnxBuilder, onnxValue } from '../../../../src-main/engine/onnx/builder.js';
import { fakeQuantNodes, switchedFakeQuantNodes, switchInputs } from '../../../../src-main/engine/onnx/fake-quant.js';
import { prepare } from '../../../../src-main/engine/prepare.js';
import { calibrateOnBestRuntime, preparePtq } from '../../../../src-main/engine/ptq/run.js';
import { computeQParams, type QParams } from '../../../../src-main/engine/quant/qparams.js';
import { runSensitivity } from '../../../../src-main/engine/sensitivity/run.js';
import { SwitchedSimulation } from '../../../../src-main/engine/sensitivity/switched-simulation.js';
import { sensitivityUnits } from '../../../../src-main/engine/sensitivity/units.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import type { QuantPlan } from '../../../../src-main/engine/transform/plan.js';
import { gatherSamples } from '../../../../src-main/io/data/split.js';
import { readModelFile } from '../../../../src-main/io/models/registry.js';
import { CancelledError } from '../../../../src-main/jobs/protocol.js';
import { ROOT, SAMPLE_DATA, config, context } from '../ptq/ptq-fixtures.js';

const SUBSET = 300;
let sample: Uint8Array;
let sampleGraph: Graph;

before(async () => {
  await initBackend('wasm');
  sampleGraph = (await readModelFile(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'))).graph;
  sample = serializeGraph(sampleGraph);
});

describe('a switched quantizer', () => {
  /** x → fixed fake quant and switched fake quant, both graph outputs. */
  async function run(shape: number[], qp: QParams, channelAxis: number | null, x: Float32Array, on: boolean) {
    const b = new OnnxBuilder('named');
    b.input('x', shape);
    const v = onnxValue('x', shape.slice(1), channelAxis === 1);
    const fixed = fakeQuantNodes(b, v, 'fixed', qp, channelAxis);
    const switched = switchedFakeQuantNodes(b, v, 'sw', qp.scale.length, channelAxis);
    b.output('fixed_out', fixed);
    b.output('switched_out', switched.output);
    const model = b.model('switch', { opset: 13, irVersion: 7, producerVersion: '0', domain: 'test', modelVersion: 1, docString: '', metadata: {} });
    const ort = await loadOnnxRuntime();
    const { session } = await createSession(encodeOnnx(model), { threads: 1 });
    const names = switchInputs('sw');
    try {
      const out = await session.run({
        x: new ort.Tensor('float32', x, shape),
        [names.on]: new ort.Tensor('bool', Uint8Array.of(on ? 1 : 0), []),
        [names.scale]: new ort.Tensor('float32', Float32Array.from(qp.scale), switched.dims),
        [names.nudgedMin]: new ort.Tensor('float32', Float32Array.from(qp.nudgedMin), switched.dims),
        [names.levels]: new ort.Tensor('float32', Float32Array.of(qp.qmax - qp.qmin), []),
      });
      return { fixed: out.fixed_out!.data as Float32Array, switched: out.switched_out!.data as Float32Array };
    } finally {
      await session.release();
    }
  }

  /** Values across the range, beyond it, and on the rounding boundaries (x = nudged_min + (k + 0.5)·scale). */
  function values(n: number, qp: QParams, channelOf: (i: number) => number): Float32Array {
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const c = channelOf(i);
      const lo = qp.nudgedMin[c]!;
      const s = qp.scale[c]!;
      x[i] = i % 3 === 0 ? Math.fround(lo + ((i % 257) + 0.5) * s) : Math.fround(lo - 2 + ((i * 7919) % 1000) / 1000 * (qp.qmax - qp.qmin + 4) * s);
    }
    return x;
  }

  test('per tensor: on gives the fixed fake quant bit for bit, off the input', async () => {
    const qp = computeQParams([-1.3], [2.7], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
    const shape = [4, 1000];
    const x = values(4000, qp, () => 0);
    const on = await run(shape, qp, null, x, true);
    assert.deepEqual(Buffer.from(on.switched.buffer), Buffer.from(on.fixed.buffer));
    assert.ok(on.fixed.some((v, i) => v !== x[i]), 'the fake quant changes values');
    const off = await run(shape, qp, null, x, false);
    assert.deepEqual(Buffer.from(off.switched.buffer), Buffer.from(x.buffer));
  });

  test('per channel on NCHW (axis 1), 4 bits: on bit for bit, off the input', async () => {
    const channels = 6;
    const qp = computeQParams(Array.from({ length: channels }, (_, c) => -0.5 - c), Array.from({ length: channels }, (_, c) => 1 + 0.3 * c), { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-channel' }, { axis: 1 });
    const shape = [3, channels, 5, 7];
    const x = values(3 * channels * 35, qp, (i) => Math.floor(i / 35) % channels);
    const on = await run(shape, qp, 1, x, true);
    assert.deepEqual(Buffer.from(on.switched.buffer), Buffer.from(on.fixed.buffer));
    const off = await run(shape, qp, 1, x, false);
    assert.deepEqual(Buffer.from(off.switched.buffer), Buffer.from(x.buffer));
  });
});

/** Calibrated sample CNN, its subset, and the switched session on it. */
async function calibrated(c: RunConfig) {
  const payload = { config: c, modelName: 'fashion_cnn_sample', model: sample, dataset: SAMPLE_DATA };
  const prep = preparePtq(payload);
  const runtime = new GraphRuntime(prep.graph, { trainable: false });
  try {
    const { calibration } = await calibrateOnBestRuntime(payload, prep, runtime, 'wasm', {});
    const indices = prep.evalIdx.subarray(0, SUBSET);
    return { prep, qparams: calibration.qparams, indices };
  } finally {
    runtime.dispose();
  }
}

/** The PTQ evaluation graph (constants, no switches) of `plan`: accuracy and output SQNR of its simulated branch on the subset. */
async function ptqReference(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, data: ReturnType<typeof preparePtq>['data'], indices: Int32Array) {
  const models = buildEvaluationModels({ graph, plan, qparams, histogramSpan: new Map(), bins: 16 });
  const ort = await loadOnnxRuntime();
  const { session } = await createSession(models.plain);
  const shape = inputNode(graph).outputShape;
  let correct = 0;
  let floatCorrect = 0;
  let signal = 0;
  let noise = 0;
  try {
    for (let start = 0; start < indices.length; start += 100) {
      const idx = indices.subarray(start, Math.min(indices.length, start + 100));
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(data.parts.test, idx), [idx.length, ...shape]) });
      const f = out[ONNX_OUTPUT]!.data as Float32Array;
      const q = out[QUANT_OUTPUT]!.data as Float32Array;
      const k = f.length / idx.length;
      for (let i = 0; i < idx.length; i++) {
        const argmax = (v: Float32Array) => {
          let best = 0;
          for (let j = 1; j < k; j++) if (v[i * k + j]! > v[i * k + best]!) best = j;
          return best;
        };
        if (argmax(q) === data.parts.test.labels[idx[i]!]) correct++;
        if (argmax(f) === data.parts.test.labels[idx[i]!]) floatCorrect++;
      }
      for (let i = 0; i < f.length; i++) {
        signal += f[i]! * f[i]!;
        noise += (f[i]! - q[i]!) ** 2;
      }
    }
  } finally {
    await session.release();
  }
  return { accuracy: correct / indices.length, floatAccuracy: floatCorrect / indices.length, sqnr: 10 * Math.log10(signal / noise) };
}

describe('the switched simulation against the PTQ evaluation with overrides', () => {
  const W8A8 = config({ eval: { count: SUBSET, seed: 1 } });
  const ONE_SAMPLE = 1 / SUBSET + 1e-9;

  test('everything on is the PTQ simulation; a layer float alone is the PTQ run with LAYER:float; quantized alone is the run with every other layer float', async () => {
    const { prep, qparams, indices } = await calibrated(W8A8);
    const { graph, plan, data } = prep;
    const sim = await SwitchedSimulation.open({ graph, plan, qparams, part: data.parts.test, indices, inputShape: inputNode(graph).outputShape, batchSize: 128, holdInputs: true });
    try {
      const float = await sim.evaluate(new Map());
      assert.equal(float.sqnr, null, 'everything off is the reference itself');
      const all = sim.allOn();
      const whole = await sim.evaluate(all);
      const ref = await ptqReference(graph, plan, qparams, data, indices);
      assert.ok(Math.abs(float.accuracy - ref.floatAccuracy) <= ONE_SAMPLE, `float ${float.accuracy} vs ${ref.floatAccuracy}`);
      assert.ok(Math.abs(whole.accuracy - ref.accuracy) <= ONE_SAMPLE, `all on ${whole.accuracy} vs PTQ ${ref.accuracy}`);
      assert.ok(Math.abs(whole.sqnr! - ref.sqnr) <= 0.1, `all on SQNR ${whole.sqnr} vs PTQ ${ref.sqnr}`);

      const units = sensitivityUnits(graph, plan);
      assert.deepEqual(
        units.map((u) => [u.layer, u.weight, u.activation]),
        [
          [inputNode(graph).name, null, 'input'],
          ...plan.weights.map((w) => [w.layer, w.name, `${w.layer}/output`]),
        ].sort((a, b) => graph.nodes.findIndex((n) => n.name === a[0]) - graph.nodes.findIndex((n) => n.name === b[0])),
      );
      for (const u of units.filter((x) => x.weight)) {
        // Float alone: the PTQ plan with this layer overridden float (planQuantization's path, not the switches).
        const except = new Map(all);
        except.delete(u.weight!);
        except.delete(u.activation!);
        const mine = await sim.evaluate(except);
        const overridden = prepare(sample, { ...W8A8, overrides: [{ layer: u.layer, float: true }] }).plan;
        const refFloat = await ptqReference(graph, overridden, qparams, data, indices);
        assert.ok(Math.abs(mine.accuracy - refFloat.accuracy) <= ONE_SAMPLE, `${u.layer} float alone ${mine.accuracy} vs PTQ ${refFloat.accuracy}`);
        assert.ok(Math.abs(mine.sqnr! - refFloat.sqnr) <= 0.1, `${u.layer} float alone SQNR ${mine.sqnr} vs ${refFloat.sqnr}`);
        // Quantized alone: every other unit's head layer overridden float.
        const alone = await sim.evaluate(new Map([[u.weight!, all.get(u.weight!)!], [u.activation!, all.get(u.activation!)!]]));
        const others = units.filter((x) => x !== u).map((x) => ({ layer: x.layer, float: true }));
        const onlyPlan = prepare(sample, { ...W8A8, overrides: others }).plan;
        assert.deepEqual(onlyPlan.weights.map((w) => w.name), [u.weight]);
        const refAlone = await ptqReference(graph, onlyPlan, qparams, data, indices);
        assert.ok(Math.abs(alone.accuracy - refAlone.accuracy) <= ONE_SAMPLE, `${u.layer} alone ${alone.accuracy} vs PTQ ${refAlone.accuracy}`);
        assert.ok(Math.abs(alone.sqnr! - refAlone.sqnr) <= 0.1, `${u.layer} alone SQNR ${alone.sqnr} vs ${refAlone.sqnr}`);
        // One quantizer costs less than all of them: a layer alone has a higher output SQNR than the whole model.
        assert.ok(alone.sqnr! > whole.sqnr!, `${u.layer} alone ${alone.sqnr} dB ≤ whole ${whole.sqnr} dB`);
      }
    } finally {
      await sim.release();
    }
  });

  test('other bits through the same session: 4-bit kernels are fed without a new graph and cost about 4 × 6 dB', async () => {
    const { prep, qparams, indices } = await calibrated(W8A8);
    const { graph, plan, data } = prep;
    const sim = await SwitchedSimulation.open({ graph, plan, qparams, part: data.parts.test, indices, inputShape: inputNode(graph).outputShape, batchSize: 128, holdInputs: false });
    try {
      const dense = plan.weights.find((w) => w.op === 'dense')!;
      const node = graph.nodes.find((n) => n.name === dense.layer) as { weights: { kernel: { values: Float32Array } } };
      const perChannel = (bits: number) => {
        const k = node.weights.kernel.values;
        const [rows, cols] = dense.view as [number, number];
        const min = new Float32Array(cols).fill(Infinity);
        const max = new Float32Array(cols).fill(-Infinity);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
          min[c] = Math.min(min[c]!, k[r * cols + c]!);
          max[c] = Math.max(max[c]!, k[r * cols + c]!);
        }
        return computeQParams(min, max, { ...dense.spec, bits }, { axis: dense.axis ?? undefined });
      };
      const at8 = await sim.evaluate(new Map([[dense.name, perChannel(8)]]));
      const at4 = await sim.evaluate(new Map([[dense.name, perChannel(4)]]));
      const calibrated8 = await sim.evaluate(new Map([[dense.name, qparams.get(dense.name)!]]));
      assert.equal(at8.sqnr, calibrated8.sqnr, 'exact min/max 8-bit ranges are the calibrated weight ranges');
      const drop = at8.sqnr! - at4.sqnr!;
      assert.ok(drop > 18 && drop < 30, `8 → 4 bits costs ${drop.toFixed(1)} dB at the output, expected about 24`);
    } finally {
      await sim.release();
    }
  });
});

describe('runSensitivity', () => {
  test('the bundled CNN: every layer, four cases where it has two quantizers, baselines, progress; 16 bits ≈ float', async () => {
    const ctx = context();
    const r = await runSensitivity({ config: config({ eval: { count: 1000, seed: 1 }, sensitivity: { subset: SUBSET } }), modelName: 'fashion_cnn_sample', model: sample, dataset: SAMPLE_DATA }, ctx);
    assert.deepEqual(ctx.phases, ['calibrate', 'sensitivity']);
    assert.equal((r.summary!.sensitivity as { subset: number }).subset, SUBSET);
    assert.ok(r.floatAccuracy! > 0.7, `the trained sample is accurate (${r.floatAccuracy})`);
    const input = r.sensitivity[0]!;
    assert.equal(input.weight, null);
    // Fashion-MNIST pixels are k/255 and the input range is [0, 1]: its 8-bit grid holds them all, so only float rounding is left.
    assert.ok(input.quantizedAlone.sqnr! > 100, `input alone ${input.quantizedAlone.sqnr} dB`);
    assert.equal(input.quantizedAlone.accuracy, r.floatAccuracy);
    assert.equal(input.weightsAlone, null);
    assert.deepEqual(input.activationAlone, input.quantizedAlone, 'one quantizer: activation alone is quantized alone');
    const weighted = r.sensitivity.filter((l) => l.weight);
    assert.equal(weighted.length, 4);
    for (const l of r.sensitivity) {
      for (const c of [l.quantizedAlone, l.floatAlone, l.weightsAlone, l.activationAlone]) if (c) assert.ok(c.accuracy >= 0 && c.accuracy <= 1);
      // Quantizing one layer loses less signal than quantizing all but it, only where the rest is not near-lossless; at least it never beats float.
      assert.ok(l.quantizedAlone.sqnr !== null && l.quantizedAlone.sqnr > 0, `${l.layer} alone SQNR ${l.quantizedAlone.sqnr}`);
    }
    for (const l of weighted) assert.ok(l.weightsAlone && l.activationAlone, `${l.layer} has both single-quantizer cases`);
    const ctx16 = context();
    const at16 = await runSensitivity(
      { config: config({ eval: { count: 1000, seed: 1 }, sensitivity: { subset: SUBSET }, weights: { bits: 16, symmetric: true, narrowRange: true, granularity: 'per-channel' }, activations: { bits: 16, symmetric: false, narrowRange: false, granularity: 'per-tensor' } }), modelName: 'fashion_cnn_sample', model: sample, dataset: SAMPLE_DATA },
      ctx16,
    );
    for (const l of at16.sensitivity.filter((x) => x.weight)) {
      const eight = r.sensitivity.find((x) => x.layer === l.layer)!;
      assert.ok(Math.abs(l.quantizedAlone.accuracy - at16.floatAccuracy!) <= 1 / SUBSET + 1e-9, `${l.layer} at 16 bits`);
      assert.ok(l.quantizedAlone.sqnr! > eight.quantizedAlone.sqnr! + 30, `${l.layer}: 16 bits ${l.quantizedAlone.sqnr} dB vs 8 bits ${eight.quantizedAlone.sqnr} dB`);
    }
  });

  test('cancel stops within one case and returns nothing', async () => {
    // The first sensitivity progress report comes after calibration's reports; cancel a few reports in.
    const ctx = context(12);
    await assert.rejects(
      runSensitivity({ config: config({ sensitivity: { subset: 100 } }), modelName: 'fashion_cnn_sample', model: sample, dataset: SAMPLE_DATA }, ctx),
      CancelledError,
    );
  });

  test('accuracy recovery is refused, naming why', async () => {
    await assert.rejects(
      runSensitivity({ config: config({ recovery: { cle: true, relu6: 'skip', highBiasAbsorption: false, biasCorrection: 'off' } }), modelName: 'm', model: sample, dataset: SAMPLE_DATA }, context()),
      /accuracy recovery .* is not part of a sensitivity run/,
    );
  });
});
