/**
 * TFLite full-integer export of real PTQ results, read back and audited, then
 * run in the real TFLite interpreter (the wasm build in @tensorflow/tfjs-tflite,
 * loaded in Node) and compared with the studio's TFLite simulation. Goal
 * (issue 6): top-1 agreement ≥ 99.5%, accuracy within 0.1 point, on the
 * bundled trained sample CNN (W8A8, per-tensor and per-channel) with 500
 * eval images of the bundled Fashion-MNIST subset; the built-in depthwise
 * net covers DEPTHWISE_CONV_2D and the global average pool.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import type { RunConfigInput } from '../../../src-main/api/run-config.js';
import { initBackend } from '../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { fakeQuant, type RoundingMode } from '../../../src-main/engine/quant/fake-quant.js';
import { computeQParams } from '../../../src-main/engine/quant/qparams.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import { auditTflite } from '../../../src-main/export/tflite/audit.js';
import { decodeTflite, encodeTflite, FLOAT_INPUT } from '../../../src-main/export/tflite/build.js';
import { exportTflite, finishTflite, int8Ends, prepareTflite } from '../../../src-main/export/tflite/index.js';
import { TfliteInterpreter } from '../../../src-main/export/tflite/runtime.js';
import { simulateTflite } from '../../../src-main/export/tflite/simulate.js';
import { TFLITE_INPUT_ROUNDING, TFLITE_ROUNDING } from '../../../src-main/engine/targets/tflite/simulation.js';
import * as flatbuffers from 'flatbuffers';
import {
  BufferT,
  BuiltinOperator,
  Model,
  BuiltinOptions,
  DequantizeOptionsT,
  ModelT,
  OperatorCodeT,
  OperatorT,
  QuantizationParametersT,
  QuantizeOptionsT,
  SubGraphT,
  TensorT,
  TensorType,
} from '../../../src-main/export/tflite/schema/generated/schema_generated.js';
import { runTflite } from '../../../src-main/export/tflite/verify.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { compareOutputs, samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import { builtinModel } from '../../../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../../../src-main/io/models/tfjs-layers.js';
import { ROOT, SAMPLE_DATA, config, context } from '../engine/ptq/ptq-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

const W8_PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
const W8_PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
const SAMPLE_MODEL = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');

/** PTQ of a model (200 calibration images), qparams rebuilt from the stored records as an export from the store does. */
async function ptq(name: string, bytes: Uint8Array, extra: Partial<RunConfigInput>, evalCount: number): Promise<ExportInput> {
  const cfg = config({ eval: { count: evalCount, seed: 1 }, ...extra });
  const payload = { config: cfg, modelName: name, model: bytes, dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return { modelName: name, config: cfg, graph: prep.graph, plan: prep.plan, qparams: qparamsFromRecords(prep.plan, results.tensors), records: results.tensors, samples };
}

interface Verified {
  count: number;
  agreement: number;
  runtimeAccuracy: number;
  simulationAccuracy: number;
  maxAbsDiff: number;
  passed: boolean;
  runtime: string;
}
interface Audit {
  ok: boolean;
  operators: string[];
  checked: { tensor: string; kind: string; channels: number; axis: number | null; dtype: string; range: [number, number] | null }[];
  problems: string[];
}

let dir: string;
const runs: Record<string, ExportInput> = {};
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-tflite-');
  assert.ok(existsSync(SAMPLE_MODEL), `the bundled sample model ${SAMPLE_MODEL} is missing`);
  const sample = serializeGraph(await readTfjsLayersModel(SAMPLE_MODEL));
  runs['cnn-pt'] = await ptq('fashion_cnn_sample', sample, { weights: W8_PER_TENSOR }, 500);
  runs['cnn-pc'] = await ptq('fashion_cnn_sample', sample, { weights: W8_PER_CHANNEL }, 500);
  runs['dwsep-pc'] = await ptq('fashion_dwsep', serializeGraph(builtinModel('fashion_dwsep').build()), { weights: W8_PER_CHANNEL }, 200);
});

describe('TFLite full-integer export, verified in the TFLite interpreter', () => {
  for (const [key, io] of [
    ['cnn-pt', 'float'],
    ['cnn-pt', 'int8'],
    ['cnn-pc', 'float'],
    ['cnn-pc', 'int8'],
    ['dwsep-pc', 'float'],
  ] as const) {
    test(`${key}, ${io} input/output: audit passes; agreement ≥ 99.5% and accuracy within 0.1 point of the simulation`, async () => {
      const input = runs[key]!;
      const file = path.join(dir, `${key}-${io}.tflite`);
      const r = await exportTflite(input, file, { tfliteIo: io });
      const v = r.verification as unknown as Verified;
      assert.equal(v.count, input.samples!.labels.length);
      assert.match(v.runtime, /TFLite interpreter/);
      assert.ok(v.agreement >= 0.995, `${key}: agreement ${v.agreement}`);
      assert.ok(Math.abs(v.runtimeAccuracy - v.simulationAccuracy) <= 0.001 + 1e-12, `${key}: accuracy ${v.runtimeAccuracy} vs ${v.simulationAccuracy}`);
      assert.ok(v.passed);
      if (key.startsWith('cnn')) assert.ok(v.runtimeAccuracy > 0.8, `the trained sample model classifies (${v.runtimeAccuracy})`);

      const audit = r.audit as unknown as Audit;
      assert.equal(audit.ok, true, audit.problems.join('\n'));
      for (const wq of input.plan.weights) {
        const c = audit.checked.find((x) => x.tensor === wq.name)!;
        assert.equal(c.dtype, 'int8');
        assert.equal(c.channels, wq.channels, `${wq.name} channels`);
        // Per-channel axis in TFLite's layouts: conv OHWI and FC [out,in] → 0, depthwise [1,h,w,c] → 3.
        if (wq.axis !== null) assert.equal(c.axis, wq.op === 'depthwiseConv2d' ? 3 : 0, `${wq.name} axis`);
        else assert.equal(c.channels, 1);
        // Narrow-range symmetric int8: [−127, 127].
        assert.ok(c.range![0] >= -127 && c.range![1] <= 127, `${wq.name} range ${c.range}`);
        assert.equal(audit.checked.find((x) => x.tensor === `${wq.layer}/bias`)!.dtype, 'int32');
      }
      assert.equal(audit.checked.filter((x) => x.kind === 'activation').length, input.plan.activations.length + 1, 'every planned activation plus the logits');

      // Read back independently: what the interpreter is fed and what the tensors hold.
      const model = decodeTflite(readFileSync(file));
      const sg = model.subgraphs[0]!;
      assert.equal(sg.tensors[sg.inputs[0]!]!.type, io === 'float' ? TensorType.FLOAT32 : TensorType.INT8);
      assert.equal(sg.tensors[sg.outputs[0]!]!.type, io === 'float' ? TensorType.FLOAT32 : TensorType.INT8);
      const floats = sg.tensors.filter((t) => t.type === TensorType.FLOAT32).map((t) => String(t.name));
      assert.deepEqual(floats.sort(), io === 'float' ? ['float_input', 'float_output'] : []);
      // Softmax output on TFLite's int8 grid: scale 1/256, zero point −128.
      const softmaxOut = sg.tensors.find((t) => t.name === input.plan.activations.at(-1)!.name)!;
      assert.deepEqual([softmaxOut.quantization!.scale[0], Number(softmaxOut.quantization!.zeroPoint[0])], [1 / 256, -128]);
      // A bias scale is the input scale times the filter scale, per channel.
      const conv1 = input.plan.weights.find((w) => w.layer === 'conv2d_1')!;
      if (conv1) {
        const filter = sg.tensors.find((t) => t.name === conv1.name)!;
        const bias = sg.tensors.find((t) => t.name === 'conv2d_1/bias')!;
        const xIn = sg.tensors.find((t) => t.name === conv1.input)!;
        const s = filter.quantization!.scale;
        assert.equal(bias.type, TensorType.INT32);
        assert.deepEqual(bias.quantization!.scale, s.map((w) => Math.fround(w * xIn.quantization!.scale[0]!)));
      }
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    });
  }

  test('the interpreter runs integer kernels: int8 input/output tensors, and outputs move with a stored scale', async () => {
    const input = runs['cnn-pc']!;
    const file = path.join(dir, 'int8-io.tflite');
    await exportTflite(input, file, { tfliteIo: 'int8', verify: false });
    const interp = await TfliteInterpreter.create(readFileSync(file));
    try {
      assert.equal(interp.inputs()[0]!.dataType, 'int8');
      assert.equal(interp.outputs()[0]!.dataType, 'int8');
      assert.deepEqual(interp.inputs()[0]!.shape, [1, 28, 28, 1]);
    } finally {
      interp.close();
    }
    const one = { ...input.samples!, labels: input.samples!.labels.subarray(0, 20) };
    const ends = int8Ends(input, await prepareTflite(input));
    const before = await runTflite(file, one, { int8: ends });
    // Halve the stored scale of the first conv's output: the interpreter must read it.
    const model = decodeTflite(readFileSync(file));
    const t = model.subgraphs[0]!.tensors.find((x) => x.name === 'conv2d/output')!;
    t.quantization!.scale = [t.quantization!.scale[0]! / 2];
    const changed = path.join(dir, 'int8-io-changed.tflite');
    writeFileSync(changed, encodeTflite(model));
    const after = await runTflite(changed, one, { int8: ends });
    assert.notDeepEqual(Array.from(after), Array.from(before));
  });

  test('cause: rounding — the interpreter’s QUANTIZE rounds halves to even, its requantization rounds them up, and so does the simulation', async () => {
    // float x → QUANTIZE (int8, scale 1) → QUANTIZE (int8, scale 2: a requantization) → DEQUANTIZE, on exact ties.
    const x = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, -3, -5];
    const grid = (s: number) => new QuantizationParametersT([], [], [s], [0n]);
    const tensors = [
      new TensorT([1, 8], TensorType.FLOAT32, 0, 'x'),
      new TensorT([1, 8], TensorType.INT8, 0, 'q', grid(1)),
      new TensorT([1, 8], TensorType.INT8, 0, 'r', grid(2)),
      new TensorT([1, 8], TensorType.FLOAT32, 0, 'y'),
    ];
    const ops = [
      new OperatorT(0, [0], [1], BuiltinOptions.QuantizeOptions, new QuantizeOptionsT()),
      new OperatorT(0, [1], [2], BuiltinOptions.QuantizeOptions, new QuantizeOptionsT()),
      new OperatorT(1, [2], [3], BuiltinOptions.DequantizeOptions, new DequantizeOptionsT()),
    ];
    const codes = [new OperatorCodeT(BuiltinOperator.QUANTIZE, null, 2, BuiltinOperator.QUANTIZE), new OperatorCodeT(BuiltinOperator.DEQUANTIZE, null, 2, BuiltinOperator.DEQUANTIZE)];
    const model = new ModelT(3, codes, [new SubGraphT(tensors, [0], [1, 2, 3], ops, 'rounding')], 'rounding', [new BufferT()]);
    const interp = await TfliteInterpreter.create(encodeTflite(model));
    let q: number[];
    let r: number[];
    try {
      interp.inputs()[0]!.data().set(x);
      interp.invoke();
      [q, r] = interp.outputs().slice(0, 2).map((o) => Array.from(o.data()));
    } finally {
      interp.close();
    }
    assert.deepEqual(q!, [-2, -2, 0, 0, 2, 2, -3, -5], 'QUANTIZE: half to even');
    assert.deepEqual(r!, [-1, -1, 0, 0, 1, 1, -1, -2], 'requantization: half up (−1.5 → −1, −2.5 → −2)');
    // The same grids in TF's unsigned domain (zero point 128), fake-quantized as the simulation does.
    const spec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;
    const g1 = computeQParams([-128], [127], spec);
    const g2 = computeQParams([-256], [254], spec);
    const sim = (inRound: RoundingMode, opRound: RoundingMode) =>
      tf.tidy(() => {
        const a = fakeQuant(tf.tensor(x), g1, { rounding: inRound });
        // + 0 turns the −0 of a rounded −0.5 into 0.
        return [Array.from(a.dataSync(), (v) => v + 0), Array.from(tf.div(fakeQuant(a, g2, { rounding: opRound }), 2).dataSync(), (v) => v + 0)];
      });
    assert.deepEqual(sim(TFLITE_INPUT_ROUNDING, TFLITE_ROUNDING), [q!, r!]);
    assert.notDeepEqual(sim('half-away', 'half-away'), [q!, r!], 'std::round everywhere would not match');
    assert.notDeepEqual(sim('half-even', 'half-even'), [q!, r!], 'half-even everywhere would not match');
  });

  test('causes: float biases, the run’s softmax range and unquantized logits each move the simulation away from the interpreter', async () => {
    const input = runs['cnn-pc']!;
    const file = path.join(dir, 'causes.tflite');
    await exportTflite(input, file, { verify: false });
    const quant = await prepareTflite(input);
    const rt = await runTflite(file, input.samples!);
    const cmp = (logits: typeof quant.logits, opts: Parameters<typeof simulateTflite>[6]) =>
      compareOutputs(rt, simulateTflite(input.graph, input.plan, input.qparams, quant.softmax, logits, input.samples!, opts), input.samples!.labels, 10);
    const matched = cmp(quant.logits, {});
    const floatBias = cmp(quant.logits, { quantizeBias: false });
    const runSoftmax = cmp(quant.logits, { softmaxGrid: false });
    const noLogits = cmp(null, {});
    assert.ok(matched.maxAbsDiff < floatBias.maxAbsDiff, `int32 biases: ${matched.maxAbsDiff} vs float biases ${floatBias.maxAbsDiff}`);
    assert.ok(matched.maxAbsDiff < runSoftmax.maxAbsDiff, `1/256 grid: ${matched.maxAbsDiff} vs the run's softmax range ${runSoftmax.maxAbsDiff}`);
    assert.ok(matched.maxAbsDiff < noLogits.maxAbsDiff, `quantized logits: ${matched.maxAbsDiff} vs unquantized ${noLogits.maxAbsDiff}`);
    assert.ok(matched.agreement >= noLogits.agreement);
  });

  test('the audit names the tensor when the written file is corrupted', async () => {
    const input = runs['cnn-pc']!;
    const file = path.join(dir, 'audit.tflite');
    await exportTflite(input, file, { verify: false });
    const quant = await prepareTflite(input);
    const model = decodeTflite(readFileSync(file));
    const sg = model.subgraphs[0]!;
    const byName = (n: string) => sg.tensors.find((t) => t.name === n)!;
    // 1. Per-channel scales on the wrong axis (as tools that lose quantized_dimension do).
    byName('conv2d_1/kernel').quantization!.quantizedDimension = 3;
    // 2. Another activation scale.
    byName('dense/output').quantization!.scale = [0.5];
    // 3. dense_1's kernel left float.
    byName('dense_1/kernel').type = TensorType.FLOAT32;
    // 4. A bias with the wrong scale.
    const b = byName('conv2d/bias').quantization!;
    b.scale = b.scale.map((s) => s * 2);
    const bad = encodeTflite(model);
    const report = auditTflite(bad, input.graph, input.plan, input.qparams, quant, 'float');
    assert.equal(report.ok, false);
    const text = report.problems.join('\n');
    assert.match(text, /conv2d_1\/kernel: per-channel on quantized_dimension 3 stored, 0 expected/);
    assert.match(text, /dense\/output: stored scale 0\.5 differs/);
    assert.match(text, /dense_1\/kernel: stayed float/);
    assert.match(text, /conv2d\/bias: scales differ from s_in·s_w of the run/);
    writeFileSync(file, bad);
    await assert.rejects(finishTflite(input, quant, file, 'float', { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'audit' && e.details.tensor === 'conv2d/bias');
  });

  test('refuses an existing path unless overwrite; names an unwritable path; leaves no partial file', async () => {
    const input = runs['dwsep-pc']!;
    const file = path.join(dir, 'exists.tflite');
    writeFileSync(file, 'keep me');
    await assert.rejects(exportTflite(input, file, { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'exists' && e.message.includes(file));
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
    await exportTflite(input, file, { verify: false, overwrite: true });
    assert.equal(readFileSync(file).subarray(4, 8).toString('latin1'), 'TFL3');
    const missing = path.join(dir, 'no-such-folder', 'm.tflite');
    await assert.rejects(exportTflite(input, missing, { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'unwritable' && e.message.includes(missing));
    assert.equal(existsSync(missing), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('a layer or quantizer TFLite cannot express is named, and nothing is written', async () => {
    const input = runs['dwsep-pc']!;
    const refuse = async (variant: ExportInput, file: string, tensor: string, message: RegExp) => {
      await assert.rejects(exportTflite(variant, path.join(dir, file), { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'unsupported' && e.details.tensor === tensor && message.test(e.message));
      assert.equal(existsSync(path.join(dir, file)), false);
    };
    // A sigmoid activation has no int8 TFLite form on the run's grid.
    const sigmoid: Graph = { ...input.graph, nodes: input.graph.nodes.map((n) => (n.name === 'conv2d_1' && n.op === 'conv2d' ? { ...n, activation: 'sigmoid' as const } : n)) };
    await refuse({ ...input, graph: sigmoid }, 'sigmoid.tflite', 'conv2d_1', /sigmoid/);
    // A layer the studio does not model.
    const opaque: Graph = { ...input.graph, nodes: input.graph.nodes.map((n) => (n.name === 'global_average_pooling2d' ? { name: n.name, inputs: n.inputs, outputShape: n.outputShape, op: 'layer' as const, className: 'GlobalMaxPooling2D', config: {}, weights: {} } : n)) };
    await refuse({ ...input, graph: opaque }, 'opaque.tflite', 'global_average_pooling2d', /GlobalMaxPooling2D/);
    // A 4-bit activation: TFLite activations are int8.
    const four = new Map(input.qparams);
    four.set('conv2d/output', computeQParams([0], [6], { bits: 4, symmetric: false, narrowRange: false, granularity: 'per-tensor' }));
    await refuse({ ...input, qparams: four }, 'four-bit.tflite', 'conv2d/output', /4 bits/);
    // A layer the run keeps float.
    await refuse({ ...input, plan: { ...input.plan, float: [{ layer: 'dense', reason: 'override' }] } }, 'float.tflite', 'dense', /kept float/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test('the float input is QUANTIZE of the input quantizer and the file is a TFL3 flatbuffer with one subgraph', async () => {
    const input = runs['dwsep-pc']!;
    const file = path.join(dir, 'shape.tflite');
    const r = await exportTflite(input, file, { verify: false });
    const audit = r.audit as unknown as Audit;
    assert.equal(audit.operators[0], 'QUANTIZE');
    assert.equal(audit.operators.at(-1), 'DEQUANTIZE');
    assert.ok(audit.operators.includes('DEPTHWISE_CONV_2D') && audit.operators.includes('AVERAGE_POOL_2D'));
    const model = decodeTflite(readFileSync(file));
    assert.equal(model.subgraphs.length, 1);
    assert.equal(model.subgraphs[0]!.tensors[model.subgraphs[0]!.inputs[0]!]!.name, FLOAT_INPUT);
    const q = model.subgraphs[0]!.tensors.find((t) => t.name === 'input')!.quantization!;
    const want = input.qparams.get('input')!;
    assert.deepEqual([q.scale[0], Number(q.zeroPoint[0])], [want.scale[0], want.zeroPoint[0]! - 128]);
    // Builtin operators carry no custom_options vector (LiteRT's loader reports one, even empty, as an error).
    const raw = Model.getRootAsModel(new flatbuffers.ByteBuffer(new Uint8Array(readFileSync(file)))).subgraphs(0)!;
    assert.ok(raw.operatorsLength() > 5);
    for (let i = 0; i < raw.operatorsLength(); i++) assert.equal(raw.operators(i)!.customOptionsArray(), null, `operator ${i}`);
  });
});
