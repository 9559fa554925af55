/**
 * The TFLite full-integer export of the keras.applications layer set: a PTQ
 * run (runPtq, per-channel W8A8, nothing kept float) of a small seeded model
 * per op and of one block each of MobileNetV2, MobileNetV3 (squeeze-and-excite,
 * hard_swish, hard_sigmoid) and EfficientNet (Rescaling + Normalization stem,
 * swish, squeeze-and-excite), and of the mobile-block Fashion-MNIST
 * classifier, is exported, read back and audited, then run in the TFLite
 * interpreter (tfjs-tflite's wasm build in Node) on 200 eval samples against
 *  - the studio's TFLite simulation: top-1 agreement ≥ 99% and ≥ 99.9% of
 *    outputs within one output step (the seeded models are untrained and
 *    predict nearly one class, so values are what tells);
 *  - the integer reference on the model the file holds: ≥ 99.9% of outputs
 *    within one step;
 * and the integer reference on the run's model (elementwise 'float', ONNX's
 * uint8 / half-even) against onnxruntime on the ONNX export: ≥ 99.9% within one step.
 */
import type { LayerDiffReport } from '../../../src-main/export/diff/layer-diff.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../src-main/engine/backend.js';
import { runIntegerReference } from '../../../src-main/engine/integer/index.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { auditTflite } from '../../../src-main/export/tflite/audit.js';
import { decodeTflite, encodeTflite } from '../../../src-main/export/tflite/build.js';
import { LeakyReluOptionsT, TensorType } from '../../../src-main/export/tflite/schema/generated/schema_generated.js';
import { runOnnx } from '../../../src-main/export/onnx/verify.js';
import { exportTflite, preprocessingOf, prepareTflite } from '../../../src-main/export/tflite/index.js';
import { resizeMatchesNearest } from '../../../src-main/export/tflite/mobile-ops.js';
import { fileModel, quantizerAt } from '../../../src-main/engine/targets/tflite/quant.js';
import { simulateTflite } from '../../../src-main/export/tflite/simulate.js';
import { preprocessedSamples, runTflite, TFLITE_INTEGER_OPTIONS } from '../../../src-main/export/tflite/verify.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { mobileNetV2, mobileNetV3Small } from '../../helpers/applications/index.js';
import { tempDir } from '../../helpers/temp.js';
import { activationModel, efficientNetBlock, fusedActivationModel, LAYER_CASES, mobileMixModel, mobileNetV2Block, mobileNetV3Block } from '../engine/graph/mobile-fixtures.js';
import { SAMPLE_DATA } from '../engine/ptq/ptq-fixtures.js';
import { leakyClassifierModel, midAffineModel, npyDataset, ptqInput, sigmoidTanhModel, top1Agreement, withHead, withinSteps } from './tflite-mobile-fixtures.js';

const EVAL = 200;
let dir: string;
/** The PTQ runs of the cases, by case name, for the tests after them. */
const runs = new Map<string, ExportInput>();

before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-tflite-mobile-');
});

const layerCase = (prefix: string) => LAYER_CASES.find((c) => c.name.startsWith(prefix))!.build;

interface Case {
  name: string;
  build: () => tf.LayersModel;
  /** Uniform input range of the random dataset; absent: the bundled Fashion-MNIST. */
  range?: [number, number];
  /** TFLite operators the file must hold. */
  ops: string[];
}

const CASES: Case[] = [
  { name: 'ZeroPadding2D', build: layerCase('ZeroPadding2D'), range: [-1, 1], ops: ['PAD'] },
  { name: 'Cropping2D', build: layerCase('Cropping2D'), range: [-1, 1], ops: ['SLICE'] },
  { name: 'UpSampling2D', build: layerCase('UpSampling2D'), range: [-1, 1], ops: ['RESIZE_NEAREST_NEIGHBOR'] },
  { name: 'Multiply by a sigmoid gate', build: layerCase('Multiply of an image and a [1,1,c]'), range: [-1, 1], ops: ['MEAN', 'LOGISTIC', 'MUL'] },
  { name: 'Multiply by a rank-1 gate', build: layerCase('Multiply of an image and a rank-1'), range: [-1, 1], ops: ['FULLY_CONNECTED', 'RESHAPE', 'MUL'] },
  { name: 'global pools', build: layerCase('GlobalAveragePooling2D'), range: [-1, 1], ops: ['MEAN', 'REDUCE_MAX'] },
  { name: 'SeparableConv2D', build: layerCase('SeparableConv2D'), range: [-1, 1], ops: ['DEPTHWISE_CONV_2D', 'CONV_2D'] },
  { name: 'Rescaling as preprocessing', build: layerCase('Rescaling'), range: [-1, 1], ops: ['CONV_2D'] },
  { name: 'Rescaling and Normalization mid-model', build: midAffineModel, range: [-1, 1], ops: ['MUL', 'ADD'] },
  { name: 'sigmoid and tanh', build: sigmoidTanhModel, range: [-2, 2], ops: ['LOGISTIC', 'TANH'] },
  { name: 'Conv2D and Dense with swish', build: () => fusedActivationModel('swish'), range: [-2, 2], ops: ['LOGISTIC', 'MUL'] },
  { name: "Conv2D and Dense with Keras 3's hard_sigmoid", build: () => fusedActivationModel('keras3HardSigmoid'), range: [-3, 3], ops: ['ADD', 'MUL'] },
  { name: "Conv2D and Dense with Keras 2's hard_sigmoid", build: () => fusedActivationModel('hardSigmoid'), range: [-3, 3], ops: ['MUL', 'ADD'] },
  { name: 'Conv2D and Dense with hard_swish', build: () => fusedActivationModel('hardSwish'), range: [-3, 3], ops: ['HARD_SWISH'] },
  { name: 'swish layer on a vector', build: () => activationModel('swish'), range: [-6, 6], ops: ['LOGISTIC', 'MUL'] },
  { name: 'LeakyReLU and Softmax layers', build: leakyClassifierModel, range: [-2, 2], ops: ['LEAKY_RELU', 'SOFTMAX'] },
  { name: 'MobileNetV2 block', build: () => mobileNetV2Block(), range: [-1, 1], ops: ['PAD', 'DEPTHWISE_CONV_2D', 'ADD'] },
  { name: 'MobileNetV3 block', build: () => mobileNetV3Block(), range: [0, 255], ops: ['HARD_SWISH', 'MEAN', 'MUL', 'ADD'] },
  { name: 'EfficientNet block', build: () => efficientNetBlock(), range: [0, 255], ops: ['LOGISTIC', 'MUL', 'AVERAGE_POOL_2D'] },
  { name: 'mobile-block classifier on Fashion-MNIST', build: mobileMixModel, ops: ['PAD', 'LOGISTIC', 'HARD_SWISH', 'MEAN', 'MUL', 'LEAKY_RELU', 'SLICE', 'RESIZE_NEAREST_NEIGHBOR', 'REDUCE_MAX', 'SOFTMAX'] },
];

async function ptqOf(c: Case, i: number): Promise<ExportInput> {
  const model = withHead(c.build());
  try {
    const shape = model.inputs[0]!.shape.slice(1) as number[];
    const classes = model.outputs[0]!.shape.at(-1)!;
    const data = c.range ? npyDataset(path.join(dir, `data-${i}`), shape, 400, c.range[0], c.range[1], 100 + i, classes) : SAMPLE_DATA;
    return await ptqInput(model, data, EVAL);
  } finally {
    model.dispose();
  }
}

CASES.forEach((c, i) => {
  test(`${c.name}: TFLite export audited; interpreter vs simulation and integer reference within one output step; integer reference vs onnxruntime`, async (t) => {
    const input = await ptqOf(c, i);
    runs.set(c.name, input);
    assert.deepEqual(input.plan.float, [], 'nothing kept float');
    const samples = input.samples!;
    const file = path.join(dir, `case-${i}.tflite`);
    const r = await exportTflite(input, file);
    const audit = r.audit as { ok: boolean; problems: string[]; operators: string[] };
    assert.equal(audit.ok, true, audit.problems.join('\n'));
    for (const op of c.ops) assert.ok(audit.operators.includes(op), `${op} in ${audit.operators.join(' ')}`);
    const v = r.verification as unknown as { count: number; agreement: number; layerDiff: LayerDiffReport };
    assert.equal(v.count, EVAL);
    t.diagnostic(`layer diff: first divergence ${v.layerDiff.firstDivergence ?? 'none'}; max steps ${JSON.stringify(v.layerDiff.layers.map((l) => l.maxSteps))}`);

    const quant = await prepareTflite(input);
    const runtime = await runTflite(file, preprocessedSamples(samples, preprocessingOf(quant)));
    const sim = simulateTflite(input.graph, input.plan, input.qparams, quant.softmax, quant.logits, samples);
    const outQ = quantizerAt(quant.model.plan, quant.model.graph.output)!;
    const step = quant.act.get(outQ.name)!.scale[0]!;
    const classes = runtime.length / EVAL;
    const integer = runIntegerReference(fileModel(quant), samples.batch(0, EVAL), EVAL, TFLITE_INTEGER_OPTIONS);
    const simOk = withinSteps(runtime, sim, step);
    const intOk = withinSteps(runtime, integer, step);
    const exact = withinSteps(runtime, integer, step, 0);
    const top1 = top1Agreement(runtime, sim, classes);

    // The run's model on onnxruntime (QDQ: float activations between uint8 grids) against the integer reference computing as it does.
    const onnxFile = path.join(dir, `case-${i}.onnx`);
    await exportOnnx(input, onnxFile, { verify: false });
    const ort = await runOnnx(onnxFile, samples);
    const onnxInteger = runIntegerReference(input, samples.batch(0, EVAL), EVAL, { domain: 'unsigned', quantizeRounding: 'half-even', requantRounding: 'single', elementwise: 'float' });
    const runOut = input.plan.activations.find((a) => a.at === input.graph.output)!;
    const onnxStep = input.qparams.get(runOut.sharedWith ?? runOut.name)!.scale[0]!;
    const ortOk = withinSteps(ort, onnxInteger, onnxStep);
    t.diagnostic(
      `${c.name}: top-1 ${top1}, within one step of the interpreter: simulation ${simOk}, integer ${intOk} (equal ${exact}); integer vs onnxruntime ${ortOk}; ops ${audit.operators.filter((o) => o !== 'QUANTIZE' && o !== 'DEQUANTIZE').join(' ')}`,
    );
    assert.ok(top1 >= 0.99 && v.agreement >= 0.99, `top-1 agreement ${top1} (verification ${v.agreement})`);
    assert.ok(simOk >= 0.999, `simulation within one step of the interpreter on ${simOk} of the outputs`);
    assert.ok(intOk >= 0.999, `integer reference within one step of the interpreter on ${intOk} of the outputs`);
    assert.ok(ortOk >= 0.999, `integer reference within one step of onnxruntime on ${ortOk} of the outputs`);
  });
});

const runOf = (name: string) => {
  const input = runs.get(name);
  assert.ok(input, `needs the run of case ${name} above`);
  return input;
};

test('int8 input/output of a model with preprocessing: the file takes the preprocessed tensor, listed in its metadata', async () => {
  const input = runOf('EfficientNet block');
  const file = path.join(dir, 'eff-int8.tflite');
  const r = await exportTflite(input, file, { tfliteIo: 'int8' });
  const v = r.verification as unknown as { agreement: number; integer: { agreementWithRuntime: number; maxAbsDiffRuntime: number } };
  assert.ok(v.agreement >= 0.99, `agreement ${v.agreement}`);
  assert.equal(v.integer.agreementWithRuntime, 1);
  const model = decodeTflite(readFileSync(file));
  const sg = model.subgraphs[0]!;
  const inTensor = sg.tensors[sg.inputs[0]!]!;
  assert.equal(inTensor.type, TensorType.INT8);
  assert.equal(String(inTensor.name), 'input');
  const meta = JSON.parse(new TextDecoder().decode(Uint8Array.from(model.buffers[model.metadata[0]!.buffer]!.data))) as { preprocessing: { layer: string }[] };
  assert.deepEqual(
    meta.preprocessing.map((p) => p.layer),
    ['rescaling', 'normalization', 'rescaling_1'],
  );
});

test('the audit names the tensor of each corrupted new-op detail: the LOGISTIC grid, a PAD output grid, a MUL constant, the LEAKY_RELU alpha', async () => {
  const check = async (name: string, corrupt: (m: ReturnType<typeof decodeTflite>) => void, expected: RegExp) => {
    const input = runOf(name);
    const file = path.join(dir, `audit-${name.replace(/\W+/g, '_')}.tflite`);
    await exportTflite(input, file, { verify: false });
    const model = decodeTflite(readFileSync(file));
    corrupt(model);
    const report = auditTflite(encodeTflite(model), input.graph, input.plan, input.qparams, await prepareTflite(input), 'float');
    assert.equal(report.ok, false);
    assert.match(report.problems.join('\n'), expected);
  };
  const tensor = (m: ReturnType<typeof decodeTflite>, name: string) => m.subgraphs[0]!.tensors.find((t) => String(t.name) === name)!;
  await check('sigmoid and tanh', (m) => (tensor(m, 'sig/output').quantization!.scale = [1 / 255]), /sig\/output: .*LOGISTIC output on scale 0\.0039215\d*, zero point -128; TFLite's int8 LOGISTIC needs scale 0\.00390625/);
  await check('ZeroPadding2D', (m) => (tensor(m, 'pad').quantization!.zeroPoint = [5n]), /pad: PAD output on scale .*, zero point 5, its input .* TFLite's int8 PAD keeps its input's scale and zero point/);
  await check(
    'Rescaling and Normalization mid-model',
    (m) => {
      const t = tensor(m, 'rescale/scaled/multiplier');
      m.buffers[t.buffer]!.data[0] = 3;
    },
    /rescale\/scaled\/multiplier: stored integers \[3,/,
  );
  await check(
    'LeakyReLU and Softmax layers',
    (m) => {
      const sg = m.subgraphs[0]!;
      const out = sg.tensors.findIndex((t) => String(t.name) === 'leaky/output');
      (sg.operators.find((o) => o.outputs[0] === out)!.builtinOptions as LeakyReluOptionsT).alpha = 0.5;
    },
    /leaky\/output: LEAKY_RELU alpha 0\.5 stored, 0\.15 expected/,
  );
});

test('a Dense / Conv2D applying swish itself (a graph imported before activations were split) and a Multiply of three tensors are refused, naming the layer', async () => {
  const input = runOf('Conv2D and Dense with swish');
  const unsplit: Graph = {
    ...input.graph,
    nodes: input.graph.nodes.filter((n) => n.name !== 'conv/swish').map((n) => (n.name === 'conv' && n.op === 'conv2d' ? { ...n, activation: 'swish' as const } : n.inputs[0] === 'conv/swish' ? { ...n, inputs: ['conv'] } : n)),
  };
  const plan = { ...input.plan, activations: input.plan.activations.filter((a) => a.name !== 'conv/swish/output') };
  await assert.rejects(exportTflite({ ...input, graph: unsplit, plan }, path.join(dir, 'unsplit.tflite')), (e: unknown) => e instanceof ExportError && e.code === 'unsupported' && e.details.tensor === 'conv' && /applies swish itself/.test(e.message));
  const gate = runOf('Multiply by a sigmoid gate');
  const three: Graph = { ...gate.graph, nodes: gate.graph.nodes.map((n) => (n.op === 'multiply' ? { ...n, inputs: [...n.inputs, n.inputs[0]!] } : n)) };
  await assert.rejects(exportTflite({ ...gate, graph: three }, path.join(dir, 'three.tflite')), (e: unknown) => e instanceof ExportError && e.details.tensor === 'mul' && /3 inputs/.test(e.message));
});

test("TFLite's nearest-neighbour source index (both kernels' arithmetic) is floor(i / factor) for whole factors 1–16 from sizes 1–64", () => {
  for (let size = 1; size <= 64; size++) for (let factor = 1; factor <= 16; factor++) assert.ok(resizeMatchesNearest(size, size * factor, factor), `${size} × ${factor}`);
  // A resize that is no whole-factor up-sampling does not match: 5 → 7 reads row floor(i · 5/7), not i.
  assert.equal(resizeMatchesNearest(5, 7, 1), false);
});

test('a whole seeded MobileNetV3Small (32×32, 10 classes): the integer reference equals the interpreter on every output', async (t) => {
  const model = mobileNetV3Small({ inputSize: 32, classes: 10, seed: 3 });
  const data = npyDataset(path.join(dir, 'data-v3small'), [32, 32, 3], 400, -1, 1, 303);
  let input: ExportInput;
  try {
    input = await ptqInput(model, data, EVAL);
  } finally {
    model.dispose();
  }
  const file = path.join(dir, 'v3small.tflite');
  const r = await exportTflite(input, file);
  assert.equal((r.audit as { ok: boolean }).ok, true);
  const v = r.verification as unknown as { agreement: number; integer: { agreementWithRuntime: number; maxAbsDiffRuntime: number } };
  // 130 untrained layers amplify the simulation's float near-ties (a conv output one step off) into other outputs; the integer reference has none.
  t.diagnostic(`simulation top-1 agreement ${v.agreement}; integer reference ${v.integer.agreementWithRuntime}, max |diff| ${v.integer.maxAbsDiffRuntime}`);
  const d = (r.verification as { layerDiff: LayerDiffReport }).layerDiff;
  t.diagnostic(`layer diff (${d.layers.length} tensors, ${d.seconds.toFixed(1)} s): first divergence ${d.firstDivergence ?? 'none'}; ${d.layers.filter((l) => l.maxSteps > 1).length} beyond one step`);
  assert.equal(v.integer.agreementWithRuntime, 1);
  assert.equal(v.integer.maxAbsDiffRuntime, 0);
});

test("a whole seeded MobileNetV2 (48×48, 10 classes): the simulation computes the interpreter's integers, every int8 tensor 0 steps apart (xnnpack-exact.ts)", async (t) => {
  const model = mobileNetV2({ inputSize: 48, classes: 10, seed: 5 });
  const data = npyDataset(path.join(dir, 'data-v2'), [48, 48, 3], 400, -1, 1, 505);
  let input: ExportInput;
  try {
    input = await ptqInput(model, data, EVAL);
  } finally {
    model.dispose();
  }
  const r = await exportTflite(input, path.join(dir, 'v2.tflite'));
  const v = r.verification as unknown as { agreement: number; maxAbsDiff: number };
  const d = (r.verification as { layerDiff: LayerDiffReport }).layerDiff;
  const apart = d.layers.filter((l) => l.maxSteps > 0);
  t.diagnostic(`${d.layers.length} tensors; apart: ${apart.map((l) => `${l.tensor} ${l.maxSteps}`).join(', ') || 'none'}; top-1 agreement ${v.agreement}`);
  // Convolutions, depthwise, the residual ADDs, the input QUANTIZE and the mean: the file's own integers.
  // Only the softmax output may differ (float softmax on the 1/256 grid), by a step.
  for (const l of d.layers) {
    if (l.tensor.endsWith('/output') && l.layer === 'predictions') assert.ok(l.maxSteps <= 1, `${l.tensor}: ${l.maxSteps} steps`);
    else assert.equal(l.maxSteps, 0, `${l.tensor}: ${l.maxSteps} steps from the file`);
  }
  assert.equal(v.agreement, 1);
});
