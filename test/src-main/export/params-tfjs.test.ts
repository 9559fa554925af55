/** Parameters sidecar round trip, and the tfjs quantized-weights export loaded with tf.loadLayersModel. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { qparamsEquals } from '../../../src-main/engine/quant/qparams.js';
import { csvPathOf } from '../../../src-main/export/formats.js';
import { exportParams, qparamsFromParamsCsv, qparamsFromParamsFile, type ParamsFile } from '../../../src-main/export/params.js';
import { exportTfjs } from '../../../src-main/export/tfjs.js';
import { PER_CHANNEL, PER_TENSOR, ptqExport, type PtqExport } from './export-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: string;
let pc: PtqExport;
let pt: PtqExport;
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-export-');
  pc = await ptqExport('fashion_cnn', { weights: PER_CHANNEL }, 300);
  pt = await ptqExport('fashion_cnn', { weights: PER_TENSOR }, 300);
});

describe('parameters sidecar', () => {
  test('JSON and CSV read back to the run qparams exactly, per channel where per-channel', async () => {
    const file = path.join(dir, 'params.json');
    const r = await exportParams(pc.input, file);
    assert.deepEqual(r.extraPaths, [csvPathOf(file)]);
    const json = JSON.parse(readFileSync(file, 'utf8')) as ParamsFile;
    const fromJson = qparamsFromParamsFile(json);
    const fromCsv = qparamsFromParamsCsv(readFileSync(csvPathOf(file), 'utf8'));
    for (const [name, qp] of pc.input.qparams) {
      assert.ok(qparamsEquals(fromJson.get(name)!, qp), `${name} JSON`);
      assert.ok(qparamsEquals(fromCsv.get(name)!, qp), `${name} CSV`);
    }
    const conv = json.tensors.find((t) => t.name === 'conv2d_1/kernel')!;
    assert.equal(conv.qparams.scale.length, 64);
    assert.equal(conv.qparams.axis, 3);
    assert.ok(conv.zeroPointSigned.every((z) => z === 0));
    const bias = json.tensors.find((t) => t.name === 'conv2d_1/bias')!;
    assert.equal(bias.qparams.scale.length, 64);
    assert.deepEqual(json.config, pc.input.config);
    await assert.rejects(exportParams(pc.input, file), /already exists/);
  });
});

describe('TensorFlow.js export with quantized weights', () => {
  for (const [name, get] of [['per-tensor', () => pt], ['per-channel', () => pc]] as const) {
    test(`${name}: loads with tf.loadLayersModel and matches the weight-only simulation`, async () => {
      const { input } = get();
      const out = path.join(dir, `tfjs-${name}`);
      const r = await exportTfjs(input, out);
      const manifest = JSON.parse(readFileSync(path.join(out, 'model.json'), 'utf8')).weightsManifest[0].weights as { name: string; quantization?: { dtype: string } }[];
      for (const wq of input.plan.weights) {
        const e = manifest.find((w) => w.name === `${wq.layer}/kernel`)!;
        assert.equal(e.quantization?.dtype, name === 'per-tensor' ? 'uint8' : 'uint16', wq.name);
      }
      const v = r.verification as { agreement: number; maxAbsDiff: number; runtimeAccuracy: number; simulationAccuracy: number };
      assert.ok(v.agreement >= 0.995, `agreement ${v.agreement}`);
      assert.ok(Math.abs(v.runtimeAccuracy - v.simulationAccuracy) <= 0.001 + 1e-12);
      assert.ok(v.maxAbsDiff < 1e-3, `max diff ${v.maxAbsDiff}`);
      // uint8 shard: 1 byte per planned per-tensor kernel value.
      const kernels = input.plan.weights.reduce((s, w) => s + w.kernelShape.reduce((a, b) => a * b, 1), 0);
      if (name === 'per-tensor') assert.ok(r.size < kernels * 1.1 + 10000, `shard ${r.size} bytes for ${kernels} kernel values`);
    });
  }
});
