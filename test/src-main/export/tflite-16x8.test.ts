/**
 * TFLite 16x8 files (int16 activations with zero point 0, int8 weights, int64
 * biases) of real PTQ runs with 16-bit symmetric activations, on the bundled
 * Fashion-MNIST subset: written, read back, audited, and run in the real
 * TFLite interpreter (tfjs-tflite's wasm build: its int16 kernels are
 * TFLite's reference ones) against the studio's 16x8 simulation, end to end
 * (top-1 agreement, outputs) and tensor by tensor (layer diff, in steps of
 * the int16 grids). The bundled CNN (CONV_2D, MAX_POOL_2D, FULLY_CONNECTED,
 * a fused softmax) and a residual network (ADD, CONCATENATION,
 * AVERAGE_POOL_2D, PAD, DEPTHWISE_CONV_2D, SLICE, RELU, the global pool, a
 * Softmax layer).
 * Also: runs TFLite cannot hold as 16x8 are refused before anything is
 * written, naming the layer; the verification's batches give what one
 * sample per Invoke gives, bit for bit, for int8 and 16x8 files.
 */
import assert from 'node:assert/strict';
import type { QuantSpec } from '../../../src-main/api/run-config.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { quantizedBiases } from '../../../src-main/engine/integer/biases.js';
import { integerQParams } from '../../../src-main/engine/quant/qparams.js';
import type { QuantPlan } from '../../../src-main/engine/transform/plan.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { decodeTflite, encodeTflite } from '../../../src-main/export/tflite/build.js';
import { TfliteInterpreter } from '../../../src-main/export/tflite/runtime.js';
import { exportTflite } from '../../../src-main/export/tflite/index.js';
import { reducedMultiplier, reducedMultiplierParts } from '../../../src-main/engine/targets/tflite/int16.js';
import { runTfliteBatched } from '../../../src-main/export/tflite/verify.js';
import { BuiltinOperator, TensorType, type AddOptionsT, type TensorT } from '../../../src-main/export/tflite/schema/generated/schema_generated.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { readTfjsLayersModel } from '../../../src-main/io/models/tfjs-layers.js';
import { ROOT } from '../engine/ptq/ptq-fixtures.js';
import { ptqOnSample, residualConcatBytes } from './tflite-16x8-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

const SAMPLE_MODEL = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');

interface DiffRow {
  layer: string;
  tensor: string;
  sqnr: number | null;
  maxSteps: number;
  offByOne: number;
  beyondOne: number;
}
interface Verified {
  count: number;
  agreement: number;
  runtimeAccuracy: number;
  simulationAccuracy: number;
  maxAbsDiff: number;
  passed: boolean;
  settings: { batch: number };
  simulation: { description: string };
  layerDiff: { layers: DiffRow[] };
  integer: { unavailable?: string };
}
interface Audit {
  ok: boolean;
  problems: string[];
  checked: { tensor: string; kind: string; dtype: string }[];
}

let dir: string;
let cnnBytes: Uint8Array;
const runs: Record<string, ExportInput> = {};
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-tflite16-');
  cnnBytes = serializeGraph(await readTfjsLayersModel(SAMPLE_MODEL));
  runs['cnn'] = await ptqOnSample('fashion_cnn_sample', cnnBytes, {}, 300);
  runs['residual'] = await ptqOnSample('residual_concat', residualConcatBytes(), {}, 300);
});

const byName = (tensors: TensorT[], name: string) => {
  const t = tensors.find((x) => x.name === name);
  assert.ok(t, `tensor ${name} in the file`);
  return t;
};

describe('TFLite 16x8 export, verified in the TFLite interpreter', () => {
  const expected: Record<string, { ops: string[] }> = {
    cnn: { ops: ['QUANTIZE', 'CONV_2D', 'MAX_POOL_2D', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX', 'DEQUANTIZE'] },
    residual: { ops: ['QUANTIZE', 'CONV_2D', 'ADD', 'CONCATENATION', 'AVERAGE_POOL_2D', 'PAD', 'DEPTHWISE_CONV_2D', 'SLICE', 'RELU', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX', 'DEQUANTIZE'] },
  };
  for (const key of ['cnn', 'residual']) {
    test(`${key}: int16 activations and int64 biases read back; agreement 100%, every tensor within 2 steps of the simulation (softmax: its lookup tables)`, async () => {
      const input = runs[key]!;
      const file = path.join(dir, `${key}.tflite`);
      const r = await exportTflite(input, file);
      const v = r.verification as unknown as Verified;
      const audit = r.audit as unknown as Audit;
      assert.equal(audit.ok, true, audit.problems.join('\n'));
      for (const c of audit.checked) {
        if (c.kind === 'activation') assert.equal(c.dtype, 'int16', c.tensor);
        if (c.kind === 'bias') assert.equal(c.dtype, 'int64', c.tensor);
        if (c.kind === 'weight') assert.equal(c.dtype, 'int8', c.tensor);
      }

      // End to end: the interpreter's int16 kernels against the 16x8 simulation.
      assert.equal(v.count, 300);
      assert.equal(v.agreement, 1, `${key}: top-1 agreement ${v.agreement}`);
      assert.equal(v.runtimeAccuracy, v.simulationAccuracy);
      assert.ok(v.passed);
      if (key === 'cnn') assert.ok(v.runtimeAccuracy > 0.8, `the trained CNN classifies (${v.runtimeAccuracy})`);
      // Outputs are probabilities on the 1/32768 grid: the int16 SOFTMAX's tables move them by a few steps at most.
      assert.ok(v.maxAbsDiff <= 32 / 32768, `${key}: max |diff| ${v.maxAbsDiff}`);
      assert.match(v.simulation.description, /16x8/);
      assert.ok(v.settings.batch > 1, `verified in batches (${v.settings.batch})`);
      assert.match(v.integer.unavailable ?? '', /16 bits/, 'the integer reference says why it does not run');

      // Tensor by tensor, in steps of each int16 grid (65,536 levels). The file computes what the simulation models (the
      // next test, bit for bit); the simulation computes it in float32, whose 24 bits leave 8 below a 16-bit step: sums
      // rounded near a tie land a step apart, and the difference propagates (the sample CNN: under 1 % of any tensor off by
      // one; the residual net: up to 6 %, and 22 % of the 640 outputs of its Dense after a global pool).
      const softmaxOut = input.plan.activations.at(-1)!.name;
      for (const row of v.layerDiff.layers) {
        if (row.tensor === softmaxOut) {
          assert.ok(row.maxSteps <= 32, `${row.tensor}: ${row.maxSteps} steps`);
          continue;
        }
        assert.ok(row.maxSteps <= 2, `${row.tensor}: ${row.maxSteps} steps`);
        assert.ok(row.sqnr === null || row.sqnr >= 85, `${row.tensor}: SQNR ${row.sqnr} dB against the simulation`);
        if (key === 'cnn') assert.ok(row.offByOne < (row.tensor.endsWith('/logits') ? 0.1 : 0.01), `${row.tensor}: ${row.offByOne} off by one`);
        assert.ok(row.beyondOne < 1e-3, `${row.tensor}: ${row.beyondOne} beyond one step`);
      }

      // Read back independently of the audit.
      const model = decodeTflite(readFileSync(file));
      const sg = model.subgraphs[0]!;
      const codes = model.operatorCodes.map((c) => BuiltinOperator[Math.max(c.builtinCode, c.deprecatedBuiltinCode)]!);
      assert.deepEqual(codes, expected[key]!.ops);
      const versions = Object.fromEntries(model.operatorCodes.map((c) => [BuiltinOperator[c.builtinCode], c.version]));
      assert.equal(versions['CONV_2D'], 4);
      assert.equal(versions['FULLY_CONNECTED'], 7);
      if (key === 'residual') {
        assert.equal(versions['DEPTHWISE_CONV_2D'], 5);
        assert.equal(versions['ADD'], 3);
        const add = sg.operators.find((o) => model.operatorCodes[o.opcodeIndex]!.builtinCode === BuiltinOperator.ADD)!;
        assert.equal((add.builtinOptions as AddOptionsT).potScaleInt16, false, 'the general int16 ADD');
      }
      for (const a of input.plan.activations) {
        const t = byName(sg.tensors, a.name);
        assert.equal(t.type, TensorType.INT16, a.name);
        assert.equal(Number(t.quantization!.zeroPoint[0]), 0, `${a.name} zero point`);
      }
      const out = byName(sg.tensors, softmaxOut);
      assert.deepEqual([out.quantization!.scale[0], Number(out.quantization!.zeroPoint[0])], [1 / 32768, 0], 'int16 SOFTMAX grid');
      const biases = quantizedBiases(input.graph, input.plan, input.qparams);
      for (const wq of input.plan.weights) {
        const filter = byName(sg.tensors, wq.name);
        assert.equal(filter.type, TensorType.INT8);
        assert.ok(filter.quantization!.zeroPoint.every((z) => z === 0n));
        const bias = byName(sg.tensors, `${wq.layer}/bias`);
        assert.equal(bias.type, TensorType.INT64);
        const ints = new BigInt64Array(Uint8Array.from(model.buffers[bias.buffer]!.data).buffer);
        assert.deepEqual(Array.from(ints, Number), Array.from(biases.get(wq.layer)!.ints), `${wq.layer}/bias integers`);
        const xIn = byName(sg.tensors, wq.input!);
        assert.deepEqual(bias.quantization!.scale, filter.quantization!.scale.map((s) => Math.fround(s * xIn.quantization!.scale[0]!)));
      }
    });
  }

  test('the interpreter’s int16 CONV_2D and FULLY_CONNECTED give, from their own input integers, Σ q_x·q_w + int64 bias times the 16-bit multiplier, rounded half up', async () => {
    // The residual net's 1×1 conv branch_a (reads stem/output) and its Dense (reads the pooled, reshaped `gap`).
    const file = path.join(dir, 'residual.tflite');
    if (!existsSync(file)) await exportTflite(runs['residual']!, file, { verify: false });
    const model = decodeTflite(readFileSync(file));
    const sg = model.subgraphs[0]!;
    const index = (name: string) => sg.tensors.indexOf(byName(sg.tensors, name));
    const cases = [
      { x: 'stem/output', y: 'branch_a/output', layer: 'branch_a' },
      { x: 'gap', y: 'dense/output', layer: 'dense' },
    ];
    sg.outputs = [...sg.outputs, ...cases.flatMap((c) => [index(c.x), index(c.y)])];
    const interp = await TfliteInterpreter.create(encodeTflite(model));
    try {
      const outputs = new Map(interp.outputs().map((t) => [t.name, t]));
      interp.inputs()[0]!.data().set(runs['residual']!.samples!.batch(0, 1));
      interp.invoke();
      for (const c of cases) {
        const x = Int32Array.from(outputs.get(c.x)!.data());
        const y = Int32Array.from(outputs.get(c.y)!.data());
        const w = byName(sg.tensors, `${c.layer}/kernel`);
        const b = byName(sg.tensors, `${c.layer}/bias`);
        const wq = new Int8Array(Uint8Array.from(model.buffers[w.buffer]!.data).buffer);
        const bq = new BigInt64Array(Uint8Array.from(model.buffers[b.buffer]!.data).buffer);
        const sIn = byName(sg.tensors, c.x).quantization!.scale[0]!;
        const sOut = byName(sg.tensors, c.y).quantization!.scale[0]!;
        const out = w.shape[0]!;
        const inC = w.shape.at(-1)!;
        let reducedOff = 0;
        let exactOff = 0;
        for (let p = 0; p < y.length / out; p++) {
          for (let o = 0; o < out; o++) {
            let acc = bq[o]!;
            for (let i = 0; i < inC; i++) acc += BigInt(wq[o * inC + i]! * x[p * inC + i]!);
            const real = (sIn * w.quantization!.scale[o]!) / sOut;
            const { reduced, shift } = reducedMultiplierParts(real);
            const clamp = (v: number) => Math.max(-32768, Math.min(32767, v));
            // TFLite's MultiplyByQuantizedMultiplier(int64): (acc · reduced + 2^(total − 1)) >> total, total = 15 − shift.
            const total = BigInt(15 - shift);
            const q = clamp(Number((acc * BigInt(reduced) + (1n << (total - 1n))) >> total));
            if (q !== y[p * out + o]) reducedOff++;
            if (clamp(Math.floor(Number(acc) * real + 0.5)) !== y[p * out + o]) exactOff++;
          }
        }
        assert.equal(reducedOff, 0, `${c.layer}: ${reducedOff} of ${y.length} values differ from the 16-bit multiplier's`);
        assert.ok(exactOff > 0, `${c.layer}: the exact multiplier would give the same integers (the test would not tell)`);
      }
    } finally {
      interp.close();
    }
  });

  test('the reduced multiplier is what the int16 kernels apply: 16 bits of the 31-bit one, so the simulation scales by its ratio', () => {
    // m = 0.75: q31 0x60000000 → reduced 0x6000 · 2^-15, exact.
    assert.equal(reducedMultiplier(0.75), 0.75);
    // 1/3: q31 0x2AAAAAAB·2 … → reduced 21845 · 2^-16, not 1/3.
    assert.equal(reducedMultiplier(1 / 3), 21845 / 2 ** 16);
    // Just under 1: q31 ≥ 0x7FFF0000 saturates at 0x7FFF.
    assert.equal(reducedMultiplier(0.99999), 0x7fff / 2 ** 15);
  });

  test('batches of up to 32 give what one sample per Invoke gives, bit for bit (int8 and 16x8 files, a partial last batch)', async () => {
    const int8 = await ptqOnSample('fashion_cnn_sample', cnnBytes, { activations: { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } }, 70);
    const files: [string, ExportInput][] = [
      ['cnn-int8.tflite', int8],
      ['cnn16.tflite', runs['cnn']!],
      ['residual16.tflite', runs['residual']!],
    ];
    for (const [name, input] of files) {
      const file = path.join(dir, name);
      if (!existsSync(file)) await exportTflite(input, file, { verify: false });
      const samples = { ...input.samples!, labels: input.samples!.labels.subarray(0, 70) };
      const one = await runTfliteBatched(file, samples, { batch: 1 });
      const many = await runTfliteBatched(file, samples, { batch: 32 });
      assert.equal(one.batch, 1);
      assert.equal(many.batch, 32);
      assert.equal(many.outputs.length, 700);
      assert.deepEqual(Array.from(many.outputs), Array.from(one.outputs), `${name}: batch 32 equals batch 1`);
    }
  });
});

describe('TFLite 16x8: what the file cannot hold is refused before writing, naming the layer', () => {
  const refuse = async (variant: ExportInput, file: string, tensor: string, message: RegExp, io: 'float' | 'int8' = 'float') => {
    await assert.rejects(exportTflite(variant, path.join(dir, file), { verify: false, tfliteIo: io }), (e: unknown) => {
      assert.ok(e instanceof ExportError, String(e));
      assert.equal(e.code, 'unsupported');
      if (tensor) assert.equal(e.details.tensor, tensor);
      assert.match(e.message, message);
      return true;
    });
    assert.equal(existsSync(path.join(dir, file)), false);
  };
  const withSpecs = (input: ExportInput, spec: Partial<QuantSpec>): ExportInput => {
    const plan: QuantPlan = { ...input.plan, activations: input.plan.activations.map((a) => ({ ...a, spec: { ...a.spec, ...spec } })) };
    return { ...input, plan };
  };

  test('asymmetric or narrow-range 16-bit activations: the message says which config field to set', async () => {
    const input = runs['cnn']!;
    await refuse(withSpecs(input, { symmetric: false }), 'asym16.tflite', 'input', /16-bit asymmetric; TFLite 16x8 .* needs symmetric int16 activations with zero point 0: set activations\.symmetric true .*--symmetric-activations/);
    await refuse(withSpecs(input, { narrowRange: true }), 'narrow16.tflite', 'input', /narrow range; .*set activations\.narrowRange false/);
  });

  test('a run with one layer at 8-bit activations and the rest at 16 (an override) is refused naming that layer', async () => {
    const mixed = await ptqOnSample('fashion_cnn_sample', cnnBytes, { overrides: [{ layer: 'dense', activationBits: 8 }] }, 50);
    await refuse(mixed, 'mixed.tflite', 'dense/output', /layer dense: activation dense\/output has 8 bits while input has 16; a TFLite file holds int8 activations throughout or int16 throughout/);
  });

  test('ops whose int16 kernels the studio does not simulate are refused naming the layer; integer IO and 16-bit weights too', async () => {
    const input = runs['residual']!;
    const sigmoid: Graph = { ...input.graph, nodes: input.graph.nodes.map((n) => (n.name === 'sum_relu' && n.op === 'activation' ? { ...n, activation: 'sigmoid' as const } : n)) };
    await refuse({ ...input, graph: sigmoid }, 'sigmoid16.tflite', 'sum_relu', /layer sum_relu: activation sigmoid is not written in TFLite 16x8/);
    await refuse(input, 'int-io16.tflite', '', /16x8, whose integer input and output would be int16; export it with float input\/output/, 'int8');
    const w16 = { ...input, plan: { ...input.plan, weights: input.plan.weights.map((w) => (w.layer === 'dense' ? { ...w, spec: { ...w.spec, bits: 16 } } : w)) } };
    await refuse(w16, 'w16.tflite', 'dense/kernel', /layer dense: weight dense\/kernel has 16 bits/);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.includes('staging')), []);
  });

  test('the 16x8 grids: every activation of the run has zero point 0 on [-32768, 32767]', () => {
    for (const a of runs['residual']!.plan.activations) {
      const iq = integerQParams(runs['residual']!.qparams.get(a.sharedWith ?? a.name)!, 'signed');
      assert.deepEqual([iq.zeroPoint[0], iq.qmin, iq.qmax], [0, -32768, 32767], a.name);
    }
  });
});
