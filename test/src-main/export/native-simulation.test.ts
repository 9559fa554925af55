/**
 * The export simulation on onnxruntime (issue 13, item 1): each format's
 * simulation graph (ONNX QDQ: half-even fake quant with int32 biases;
 * TFLite: the lowered graph with its roundings, int32 biases, fixed grids,
 * the interpreter's tables and rounded means, the fused softmax's quantized
 * logits; TF.js: weight-only) against the TensorFlow.js simulation it
 * replaces, on PTQ runs of the bundled trained CNN and of mobile-op models
 * (the Fashion-MNIST mobile-block classifier: PAD, LOGISTIC, HARD_SWISH,
 * MEAN, MUL, LEAKY_RELU, SLICE, RESIZE, REDUCE_MAX, SOFTMAX; an EfficientNet
 * block: Rescaling + Normalization stem, swish, squeeze-and-excite; a
 * MobileNetV3 block: hard_swish, hard_sigmoid as ADD/MUL by int8 constants).
 *
 * Tolerance, float32 rounding: both runtimes compute the same op sequence on
 * the same float32 values, but their convolutions, matrix products, means
 * and softmax sum in different orders and their float Sigmoid / Softmax
 * (MLAS's against TF.js's) differ in the last bits, so a value is equal up
 * to a few ulps. Fake quant maps that to the same grid level except where
 * the value lies within those ulps of a rounding boundary; then the level
 * differs by one step, which travels on through the layers after it (and
 * through a softmax to the whole row). So: output values equal (to 1e-5 of
 * the output range) on ≥ 98% of them (measured: 98.6% on the mobile-block
 * model's QDQ simulation, whose swish computes a float sigmoid; 100% where
 * every nonlinearity is a table), every one within one output step on
 * ≥ 99.9%, and the top-1 decisions the same on ≥ 99.5% of the samples (the
 * verification's own goal). Where they differ on the ONNX QDQ simulation,
 * onnxruntime's is the one the exported file's outputs equal: it computes
 * the file's float ops as the file's runtime does.
 * A verification of each format records that onnxruntime simulated it; a
 * graph onnxruntime cannot take falls back to TensorFlow.js with the reason
 * recorded, never silently, and asking for onnxruntime there fails naming it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { compareOutputs, samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { runOnnx } from '../../../src-main/export/onnx/verify.js';
import { qdqSimulation } from '../../../src-main/export/simulate.js';
import { exportTfjs, weightOnlySimulation } from '../../../src-main/export/tfjs.js';
import { exportTflite, prepareTflite } from '../../../src-main/export/tflite/index.js';
import { quantizerAt } from '../../../src-main/engine/targets/tflite/quant.js';
import { tfliteSimulation } from '../../../src-main/export/tflite/simulate.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { runSimulation, type SimulationPlan, type SimulationRecord } from '../../../src-main/export/verify.js';
import { readTfjsLayersModel } from '../../../src-main/io/models/tfjs-layers.js';
import { tempDir } from '../../helpers/temp.js';
import { efficientNetBlock, mobileMixModel, mobileNetV3Block } from '../engine/graph/mobile-fixtures.js';
import { OPAQUE_LAYERS, opaqueModel } from '../engine/graph/opaque-fixtures.js';
import { ROOT, SAMPLE_DATA, config, context } from '../engine/ptq/ptq-fixtures.js';
import { npyDataset, ptqInput, withHead, withinSteps } from './tflite-mobile-fixtures.js';

const SAMPLE_MODEL = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');
const W8_PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
const W8_PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

let dir: string;
const runs = new Map<string, ExportInput>();

async function mobileRun(name: string, build: () => tf.LayersModel, range: [number, number] | null, seed: number): Promise<ExportInput> {
  const model = withHead(build());
  try {
    const shape = model.inputs[0]!.shape.slice(1) as number[];
    const data = range ? npyDataset(path.join(dir, `data-${name}`), shape, 400, range[0], range[1], seed) : SAMPLE_DATA;
    return await ptqInput(model, data, 200);
  } finally {
    model.dispose();
  }
}

/** PTQ of the bundled trained CNN (200 calibration images, 500 eval), qparams rebuilt from the stored records as an export from the store does. */
async function sampleRun(weights: typeof W8_PER_TENSOR | typeof W8_PER_CHANNEL): Promise<ExportInput> {
  const cfg = config({ weights, eval: { count: 500, seed: 1 } });
  const payload = { config: cfg, modelName: 'fashion_cnn_sample', model: serializeGraph(await readTfjsLayersModel(SAMPLE_MODEL)), dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return { modelName: 'fashion_cnn_sample', config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
}

before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-native-simulation-');
  assert.ok(existsSync(SAMPLE_MODEL), `the bundled sample model ${SAMPLE_MODEL} is missing`);
  runs.set('cnn-pt', await sampleRun(W8_PER_TENSOR));
  runs.set('cnn-pc', await sampleRun(W8_PER_CHANNEL));
  runs.set('mobile-mix', await mobileRun('mobile-mix', mobileMixModel, null, 0));
  runs.set('efficientnet-block', await mobileRun('efficientnet-block', () => efficientNetBlock(), [0, 255], 211));
  runs.set('mobilenetv3-block', await mobileRun('mobilenetv3-block', () => mobileNetV3Block(), [0, 255], 212));
});

interface Agreement {
  equal: number;
  withinStep: number;
  top1: number;
  maxAbsDiff: number;
}

/** The native and TF.js simulations of `plan` on the run's samples, compared (`step`: the output grid's). */
async function bothRuntimes(input: ExportInput, plan: SimulationPlan, step: number): Promise<{ agreement: Agreement; native: SimulationRecord; tfjs: SimulationRecord }> {
  const native = await runSimulation(plan, input.samples!, { runtime: 'onnxruntime' });
  const tfjs = await runSimulation(plan, input.samples!, { runtime: 'tfjs' });
  assert.equal(native.record.runtime, 'onnxruntime');
  assert.equal(tfjs.record.runtime, 'tfjs');
  const a = native.outputs;
  const b = tfjs.outputs;
  assert.equal(a.length, b.length);
  let range = 0;
  for (const v of b) range = Math.max(range, Math.abs(v));
  let equal = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) <= 1e-5 * Math.max(range, 1e-30)) equal++;
  const labels = input.samples!.labels;
  const cmp = compareOutputs(a, b, labels, a.length / labels.length);
  return { agreement: { equal: equal / a.length, withinStep: withinSteps(a, b, step), top1: cmp.agreement, maxAbsDiff: cmp.maxAbsDiff }, native: native.record, tfjs: tfjs.record };
}

function assertAgrees(name: string, a: Agreement): void {
  assert.ok(a.equal >= 0.98, `${name}: ${a.equal} of the outputs equal to float32 rounding`);
  assert.ok(a.withinStep >= 0.999, `${name}: ${a.withinStep} of the outputs within one output step`);
  assert.ok(a.top1 >= 0.995, `${name}: top-1 agreement ${a.top1}`);
}

/** The output step of the run's ONNX simulation: its output quantizer's scale. */
function onnxStep(input: ExportInput): number {
  const out = input.plan.activations.find((x) => x.at === input.graph.output)!;
  return input.qparams.get(out.sharedWith ?? out.name)!.scale[0]!;
}

/** The output step of the TFLite simulation: the file's output grid. */
async function tfliteStep(input: ExportInput): Promise<number> {
  const quant = await prepareTflite(input);
  return quant.act.get(quantizerAt(quant.model.plan, quant.model.graph.output)!.name)!.scale[0]!;
}

async function tflitePlanOf(input: ExportInput): Promise<SimulationPlan> {
  const quant = await prepareTflite(input);
  return tfliteSimulation(input.graph, input.plan, input.qparams, quant.softmax, quant.logits, 'TFLite simulation');
}

describe('the export simulation on onnxruntime agrees with the TensorFlow.js simulation to float32 rounding', () => {
  for (const key of ['cnn-pt', 'cnn-pc', 'mobile-mix', 'efficientnet-block', 'mobilenetv3-block']) {
    test(`${key}: ONNX QDQ (half-even, int32 biases); the exported file's outputs equal the onnxruntime simulation at least as often as the TF.js one`, async (t) => {
      const input = runs.get(key)!;
      const plan = qdqSimulation(input.graph, input.plan, input.qparams);
      const { agreement, native, tfjs } = await bothRuntimes(input, plan, onnxStep(input));
      const file = path.join(dir, `${key}.onnx`);
      await exportOnnx(input, file, { verify: false });
      const runtime = await runOnnx(file, input.samples!);
      const equalToFile = async (runtimeChoice: 'onnxruntime' | 'tfjs') => withinSteps(runtime, (await runSimulation(plan, input.samples!, { runtime: runtimeChoice })).outputs, 0, 0);
      const [nativeFile, tfjsFile] = [await equalToFile('onnxruntime'), await equalToFile('tfjs')];
      t.diagnostic(`${key} ONNX: ${JSON.stringify(agreement)}; equal to the file's outputs: onnxruntime ${nativeFile}, tfjs ${tfjsFile}; onnxruntime ${native.seconds.toFixed(2)} s (batch ${native.batchSize}), tfjs ${tfjs.seconds.toFixed(2)} s`);
      assertAgrees(key, agreement);
      assert.ok(nativeFile >= tfjsFile, `equal to the file's outputs: onnxruntime simulation ${nativeFile}, TF.js ${tfjsFile}`);
    });
    test(`${key}: TFLite (roundings, int32 biases, fixed grids, interpreter kernels)`, async (t) => {
      const input = runs.get(key)!;
      const { agreement, native, tfjs } = await bothRuntimes(input, await tflitePlanOf(input), await tfliteStep(input));
      t.diagnostic(`${key} TFLite: ${JSON.stringify(agreement)}; onnxruntime ${native.seconds.toFixed(2)} s (batch ${native.batchSize}), tfjs ${tfjs.seconds.toFixed(2)} s`);
      assertAgrees(key, agreement);
    });
  }
  test('mobile-mix TFLite: the comparison sees a missing piece (the interpreter kernels, the 1/256 softmax grid) and agrees again when both leave it out', async () => {
    const input = runs.get('mobile-mix')!;
    const quant = await prepareTflite(input);
    const plan = (opts: Parameters<typeof tfliteSimulation>[6]) => tfliteSimulation(input.graph, input.plan, input.qparams, quant.softmax, quant.logits, 'TFLite simulation', opts);
    const reference = (await runSimulation(plan({}), input.samples!, { runtime: 'tfjs' })).outputs;
    const step = await tfliteStep(input);
    for (const opts of [{ interpreterOps: false }, { softmaxGrid: false }]) {
      const native = (await runSimulation(plan(opts), input.samples!, { runtime: 'onnxruntime' })).outputs;
      const same = (await runSimulation(plan(opts), input.samples!, { runtime: 'tfjs' })).outputs;
      const missing = withinSteps(native, reference, 0, 0);
      assert.ok(missing < 0.95, `${JSON.stringify(opts)}: ${missing} of the outputs equal the full simulation's`);
      assert.ok(withinSteps(native, same, step) >= 0.999, `${JSON.stringify(opts)}: within one step of TF.js with the same option on ${withinSteps(native, same, step)}`);
    }
  });
  test('cnn-pc: TF.js weight-only (float activations)', async (t) => {
    const input = runs.get('cnn-pc')!;
    const { agreement } = await bothRuntimes(input, weightOnlySimulation(input.graph, input.plan, input.qparams), 1e-3);
    t.diagnostic(`weight-only: ${JSON.stringify(agreement)}`);
    assert.equal(agreement.top1, 1);
    assert.ok(agreement.maxAbsDiff < 1e-5, `max |diff| ${agreement.maxAbsDiff}`);
  });
});

describe('a verification of each format records the runtime that simulated it', () => {
  test('ONNX, TFLite and TF.js exports are verified against a simulation run on onnxruntime', async () => {
    const input = runs.get('cnn-pc')!;
    const exports: [string, () => Promise<{ verification: unknown }>][] = [
      ['onnx', () => exportOnnx(input, path.join(dir, 'cnn.onnx'))],
      ['tflite', () => exportTflite(input, path.join(dir, 'cnn.tflite'))],
      ['tfjs', () => exportTfjs(input, path.join(dir, 'cnn-tfjs'))],
    ];
    for (const [format, write] of exports) {
      const v = (await write()).verification as { simulation: SimulationRecord; passed: boolean; agreement: number };
      assert.equal(v.simulation.runtime, 'onnxruntime', `${format}: ${JSON.stringify(v.simulation)}`);
      assert.equal(v.simulation.reason, undefined);
      assert.ok(v.simulation.batchSize > 0 && v.simulation.seconds > 0 && v.simulation.description.length > 0, JSON.stringify(v.simulation));
      assert.ok(v.passed, `${format}: agreement ${v.agreement}`);
    }
  });

  test('asked for TF.js, the verification says so; a graph onnxruntime cannot take falls back to TF.js with the reason, or fails when onnxruntime is asked for', async () => {
    const input = runs.get('cnn-pc')!;
    const asked = (await exportOnnx(input, path.join(dir, 'asked.onnx'), { simulationRuntime: 'tfjs' })).verification as { simulation: SimulationRecord; passed: boolean };
    assert.equal(asked.simulation.runtime, 'tfjs');
    assert.match(asked.simulation.reason!, /asks for tfjs/);
    assert.ok(asked.passed);
    // Layers the IR does not model (Conv2DTranspose, ELU…) run in float through tfjs and have no ONNX form.
    const model = opaqueModel();
    let opaque: ExportInput;
    try {
      opaque = await ptqInput(model, SAMPLE_DATA, 100, { unsupported: 'keep-float' });
    } finally {
      model.dispose();
    }
    assert.ok(opaque.graph.nodes.some((n) => n.op === 'layer' && n.name === OPAQUE_LAYERS[0]!.name));
    const r = await exportTfjs(opaque, path.join(dir, 'opaque-tfjs'));
    const v = r.verification as { simulation: SimulationRecord; passed: boolean; maxAbsDiff: number };
    assert.equal(v.simulation.runtime, 'tfjs');
    assert.match(v.simulation.reason!, new RegExp(`the simulation has no ONNX form: .*${OPAQUE_LAYERS[0]!.name}`));
    assert.ok(v.passed && v.maxAbsDiff < 1e-3, JSON.stringify(v));
    await assert.rejects(exportTfjs(opaque, path.join(dir, 'opaque-tfjs-native'), { simulationRuntime: 'onnxruntime' }), /the export simulation on onnxruntime was asked for, but the simulation has no ONNX form/);
  });
});
