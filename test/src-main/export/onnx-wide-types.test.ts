/**
 * ONNX QDQ export beyond 8 bits (opset 21): 4-bit weights stored as INT4
 * (per-channel and per-tensor), 16-bit activations from a16 overrides stored
 * as UINT16, and a mixed-precision run, each written, audited and run in
 * onnxruntime-node on the bundled Fashion-MNIST subset (real images, 500 eval
 * samples) against the studio's half-even simulation of the same file. Goal
 * as for 8 bits: top-1 agreement ≥ 99.5%. The audit must name a tensor
 * stored in the wrong type, and TFLite (int8 activations only) must refuse
 * a16 before writing anything. The layer diff reads every activation type
 * back and finds each within one step of the simulation.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { decodeOnnx, encodeOnnx, EXPORT_FORMAT } from '../../../src-main/engine/onnx/build.js';
import { DT, tensor, tensorValues } from '../../../src-main/engine/onnx/proto.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { auditOnnx } from '../../../src-main/export/onnx/audit.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import type { LayerDiffReport } from '../../../src-main/export/diff/layer-diff.js';
import { exportTflite } from '../../../src-main/export/tflite/index.js';
import { ptqExport, type PtqExport } from './export-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

const W4_PER_CHANNEL = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;
const W4_PER_TENSOR = { bits: 4, symmetric: true, narrowRange: false, granularity: 'per-tensor' } as const;
const A16 = [{ layer: 'conv2d', activationBits: 16 }, { layer: 'dense', activationBits: 16 }];
/** Symmetric activations (signed types): a16 on conv2d (INT16), a4 on dense (INT4), the rest INT8. */
const SYMMETRIC_ACTIVATIONS = { bits: 8, symmetric: true, narrowRange: false, granularity: 'per-tensor' } as const;
const A16_A4 = [{ layer: 'conv2d', activationBits: 16 }, { layer: 'dense', activationBits: 4 }];
const MIXED = [{ layer: 'conv2d_1', weightBits: 4 }, { layer: 'conv2d', activationBits: 16 }, { layer: 'dense_1', weightBits: 16 }];

interface Verified {
  agreement: number;
  count: number;
  passed: boolean;
}
interface Audited {
  ok: boolean;
  problems: string[];
  checked: { tensor: string; kind: string; dtype: string; range: [number, number] | null }[];
}

let dir: string;
const runs: Record<string, PtqExport> = {};
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-onnx-wide-');
  runs['w4-per-channel'] = await ptqExport('fashion_cnn', { weights: W4_PER_CHANNEL });
  runs['w4-per-tensor'] = await ptqExport('fashion_dwsep', { weights: W4_PER_TENSOR });
  runs['a16'] = await ptqExport('fashion_cnn', { overrides: A16 });
  runs['mixed'] = await ptqExport('fashion_cnn', { overrides: MIXED });
  runs['signed-activations'] = await ptqExport('fashion_cnn', { activations: SYMMETRIC_ACTIVATIONS, overrides: A16_A4 });
});

/** Exports a run and checks what every export must hold: audit passes, agreement ≥ 99.5% on 500 images, opset 21 / IR 10. */
async function verified(key: string): Promise<{ audit: Audited; file: string }> {
  const file = path.join(dir, `${key}.onnx`);
  const r = await exportOnnx(runs[key]!.input, file);
  const v = r.verification as unknown as Verified;
  const audit = r.audit as unknown as Audited;
  console.log(`${key}: agreement ${(v.agreement * 100).toFixed(2)}% of ${v.count}; ${audit.checked.map((c) => `${c.tensor} ${c.dtype}`).join(', ')}`);
  assert.equal(audit.ok, true, audit.problems.join('; '));
  assert.equal(v.count, 500);
  assert.ok(v.agreement >= 0.995, `${key}: agreement ${v.agreement}`);
  assert.ok(v.passed);
  // Layer by layer (export/diff): INT4 / INT16 / UINT16 activations read back too, every one within a step of the simulation.
  const diff = (r.verification as { layerDiff?: LayerDiffReport }).layerDiff!;
  assert.equal(diff.layers.length, runs[key]!.input.plan.activations.length);
  assert.equal(diff.firstDivergence, null, `${key}: ${JSON.stringify(diff.layers.map((l) => [l.tensor, l.maxSteps]))}`);
  const model = decodeOnnx(readFileSync(file));
  assert.equal(Number(model.irVersion), EXPORT_FORMAT.irVersion);
  assert.deepEqual(model.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 21]]);
  return { audit, file };
}

const dtypes = (audit: Audited, kind: string) => Object.fromEntries(audit.checked.filter((c) => c.kind === kind).map((c) => [c.tensor, c.dtype]));

describe('ONNX QDQ export of 4- and 16-bit tensors, verified in onnxruntime-node', () => {
  test('4-bit per-channel weights: INT4 kernels on [-7, 7], verified', async () => {
    const { audit, file } = await verified('w4-per-channel');
    const weights = audit.checked.filter((c) => c.kind === 'weight');
    assert.equal(weights.length, 4);
    for (const w of weights) {
      assert.equal(w.dtype, 'int4', w.tensor);
      assert.ok(w.range![0] >= -7 && w.range![1] <= 7 && w.range![1] - w.range![0] >= 10, `${w.tensor} spans ${w.range}`);
    }
    // The file holds two weights a byte: conv2d_1's 3·3·32·64 kernel takes 9216 bytes, not 18432.
    const init = decodeOnnx(readFileSync(file)).graph!.initializer.find((t) => t.name === 'conv2d_1/kernel/quantized')!;
    assert.equal(init.dataType, DT.INT4);
    assert.equal(init.rawData.length, (3 * 3 * 32 * 64) / 2);
    // Activations stay 8-bit (uint8: asymmetric).
    assert.ok(Object.values(dtypes(audit, 'activation')).every((d) => d === 'uint8'));
  });

  test('4-bit per-tensor weights (a depthwise-separable model): INT4 kernels on [-8, 7], verified', async () => {
    const { audit } = await verified('w4-per-tensor');
    const weights = audit.checked.filter((c) => c.kind === 'weight');
    assert.ok(weights.length >= 3);
    for (const w of weights) {
      assert.equal(w.dtype, 'int4', w.tensor);
      assert.ok(w.range![0] >= -8 && w.range![1] <= 7 && w.range![1] - w.range![0] >= 10, `${w.tensor} spans ${w.range}`);
    }
  });

  test('a16 overrides: those activations UINT16, the others UINT8, verified', async () => {
    const { audit } = await verified('a16');
    const acts = dtypes(audit, 'activation');
    assert.equal(acts['conv2d/output'], 'uint16');
    assert.equal(acts['dense/output'], 'uint16');
    assert.equal(acts['conv2d_1/output'], 'uint8');
    assert.ok(Object.values(dtypes(audit, 'weight')).every((d) => d === 'int8'));
  });

  test('symmetric activations: INT16 (a16) and INT4 (a4) beside INT8, verified', async () => {
    const { audit } = await verified('signed-activations');
    const acts = dtypes(audit, 'activation');
    assert.equal(acts['conv2d/output'], 'int16');
    assert.equal(acts['dense/output'], 'int4');
    assert.equal(acts['conv2d_1/output'], 'int8');
  });

  test('mixed precision: INT4, INT8 and INT16 kernels, UINT16 and UINT8 activations in one file, verified', async () => {
    const { audit } = await verified('mixed');
    assert.deepEqual(dtypes(audit, 'weight'), { 'conv2d/kernel': 'int8', 'conv2d_1/kernel': 'int4', 'dense/kernel': 'int8', 'dense_1/kernel': 'int16' });
    assert.equal(dtypes(audit, 'activation')['conv2d/output'], 'uint16');
    assert.deepEqual(dtypes(audit, 'bias'), { 'conv2d/bias': 'int32', 'conv2d_1/bias': 'int32', 'dense/bias': 'int32', 'dense_1/bias': 'int32' });
  });

  test('the audit names a tensor stored in the wrong type, and a node without its layer path', async () => {
    const { input } = runs['mixed']!;
    const file = path.join(dir, 'wrong-types.onnx');
    await exportOnnx(input, file, { verify: false });
    const model = decodeOnnx(readFileSync(file));
    const g = model.graph!;
    // 1. conv2d_1's 4-bit kernel widened to int8 (same values: only the type is wrong).
    const i = g.initializer.findIndex((t) => t.name === 'conv2d_1/kernel/quantized');
    const k = g.initializer[i]!;
    g.initializer[i] = tensor(k.name, DT.INT8, k.dims.map(Number), Int8Array.from(tensorValues(k)));
    // 2. conv2d's 16-bit output zero point narrowed to uint8.
    const z = g.initializer.findIndex((t) => t.name === 'conv2d/output/zero_point');
    g.initializer[z] = tensor('conv2d/output/zero_point', DT.UINT8, [], Uint8Array.of(tensorValues(g.initializer[z]!)[0]!));
    // 3. One node loses its Keras layer path.
    g.node.find((n) => n.name === 'dense_1/kernel/DequantizeLinear')!.metadataProps = [];
    const report = auditOnnx(encodeOnnx(model), input.graph, input.plan, input.qparams);
    assert.equal(report.ok, false);
    const text = report.problems.join('\n');
    assert.match(text, /conv2d_1\/kernel: stored as int8, int4 expected for 4-bit weights/);
    assert.match(text, /conv2d\/output: zero point is uint8, uint16 expected/);
    assert.match(text, /dense_1\/kernel\/DequantizeLinear: node carries no Keras layer path/);
    assert.equal(report.problems.length, 3, text);
  });

  test('TFLite refuses 16-bit activations before writing, naming the layer and its int8 limit', async () => {
    const { input } = runs['a16']!;
    const file = path.join(dir, 'a16.tflite');
    await assert.rejects(
      exportTflite(input, file),
      (e: unknown) => e instanceof ExportError && e.code === 'unsupported' && e.details.tensor === 'conv2d/output' && /conv2d.*16 bits.*int8/.test(e.message),
    );
    assert.equal(existsSync(file), false);
  });
});
