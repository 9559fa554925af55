/**
 * ONNX QDQ export of real PTQ results (built-in models, bundled Fashion-MNIST
 * subset, 500 eval images) run in onnxruntime-node and compared with the
 * studio's half-even simulation. Goal (issue 6): top-1 agreement ≥ 99.5%,
 * accuracy within 0.1 point.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../src-main/engine/backend.js';
import { simulationHooks } from '../../../src-main/engine/ptq/sim-hooks.js';
import { ExportError } from '../../../src-main/export/errors.js';
import { auditOnnx } from '../../../src-main/export/onnx/audit.js';
import { decodeOnnx, encodeOnnx, samePads } from '../../../src-main/engine/onnx/build.js';
import { exportOnnx } from '../../../src-main/export/onnx/index.js';
import { attrOf, DT, floats } from '../../../src-main/engine/onnx/proto.js';
import { runOnnx } from '../../../src-main/export/onnx/verify.js';
import { exportSimulationHooks } from '../../../src-main/export/simulate.js';
import { compareOutputs } from '../../../src-main/engine/eval-samples.js';
import { simulate } from '../../../src-main/export/verify.js';
import { PER_CHANNEL, PER_TENSOR, ptqExport, type PtqExport } from './export-fixtures.js';
import { tempDir } from '../../helpers/temp.js';

let dir: string;
const runs: Record<string, PtqExport> = {};
before(async () => {
  await initBackend('wasm');
  dir = tempDir('studio-onnx-');
  runs['cnn-pt'] = await ptqExport('fashion_cnn', { weights: PER_TENSOR });
  runs['cnn-pc'] = await ptqExport('fashion_cnn', { weights: PER_CHANNEL });
  runs['dwsep-pc'] = await ptqExport('fashion_dwsep', { weights: PER_CHANNEL });
});

describe('ONNX QDQ export verified in onnxruntime-node', () => {
  for (const key of ['cnn-pt', 'cnn-pc', 'dwsep-pc']) {
    test(`${key}: agreement ≥ 99.5% and accuracy within 0.1 point of the half-even simulation; audit passes`, async () => {
      const { input } = runs[key]!;
      const file = path.join(dir, `${key}.onnx`);
      const r = await exportOnnx(input, file);
      const v = r.verification as unknown as { agreement: number; runtimeAccuracy: number; simulationAccuracy: number; maxAbsDiff: number; count: number; passed: boolean };
      assert.equal(v.count, 500);
      assert.ok(v.agreement >= 0.995, `${key}: agreement ${v.agreement}`);
      assert.ok(Math.abs(v.runtimeAccuracy - v.simulationAccuracy) <= 0.001 + 1e-12, `${key}: accuracy ${v.runtimeAccuracy} vs ${v.simulationAccuracy}`);
      assert.ok(v.passed);
      const audit = r.audit as { ok: boolean; checked: { tensor: string; kind: string; channels: number; axis: number | null; dtype: string; range: [number, number] | null }[] };
      assert.equal(audit.ok, true);
      for (const wq of input.plan.weights) {
        const c = audit.checked.find((x) => x.tensor === wq.name)!;
        assert.equal(c.dtype, 'int8');
        assert.equal(c.channels, wq.channels, `${wq.name} channels`);
        // Conv [out,in,kh,kw] → axis 0; Gemm B [in,out] → axis 1.
        if (wq.axis !== null) assert.equal(c.axis, wq.op === 'dense' ? 1 : 0, `${wq.name} axis`);
        // Narrow-range symmetric int8: [−127, 127].
        assert.ok(c.range![0] >= -127 && c.range![1] <= 127, `${wq.name} range ${c.range}`);
      }
      assert.equal(audit.checked.filter((c) => c.kind === 'activation').length, input.plan.activations.length);
      // Read back: biases are int32 with scale s_in·s_w.
      const model = decodeOnnx(readFileSync(file));
      const biasDq = model.graph!.node!.filter((n) => n.opType === 'DequantizeLinear' && n.name!.endsWith('/bias/DequantizeLinear'));
      assert.ok(biasDq.length > 0);
      for (const n of biasDq) assert.equal(model.graph!.initializer!.find((t) => t.name === n.input![0])!.dataType, DT.INT32);
    });
  }

  test('causes: the half-up rounding of TF fake quant and float biases each move the simulation away from onnxruntime', async () => {
    const { input } = runs['cnn-pc']!;
    const file = path.join(dir, 'causes.onnx');
    await exportOnnx(input, file, { verify: false });
    const ort = await runOnnx(file, input.samples!);
    const classes = 10;
    const diff = (hooks: Parameters<typeof simulate>[1]) => compareOutputs(ort, simulate(input.graph, hooks, input.samples!), input.samples!.labels, classes).maxAbsDiff;
    const matched = diff(exportSimulationHooks(input.graph, input.plan, input.qparams, { rounding: 'half-even' }));
    const halfUp = diff(exportSimulationHooks(input.graph, input.plan, input.qparams, { rounding: 'half-up' }));
    const floatBias = diff(exportSimulationHooks(input.graph, input.plan, input.qparams, { rounding: 'half-even', quantizeBias: false }));
    const ptqSim = diff(simulationHooks(input.plan, input.qparams, 'half-up'));
    assert.ok(matched <= halfUp && matched <= floatBias && matched <= ptqSim, `matched ${matched}, half-up ${halfUp}, float bias ${floatBias}, PTQ simulation ${ptqSim}`);
  });

  test('the audit names the tensor when the written file is corrupted', async () => {
    const { input } = runs['cnn-pc']!;
    const file = path.join(dir, 'audit.onnx');
    await exportOnnx(input, file, { verify: false });
    const model = decodeOnnx(readFileSync(file));
    const g = model.graph!;
    // 1. Drop the per-axis flag of conv2d_1's kernel (as tools that lose per_axis do).
    const dq = g.node!.find((n) => n.name === 'conv2d_1/kernel/DequantizeLinear')!;
    dq.attribute = dq.attribute!.filter((a) => a.name !== 'axis');
    // 2. Change one activation scale.
    const s = g.initializer!.find((t) => t.name === 'dense/output/scale')!;
    s.rawData = new Uint8Array(Float32Array.of(0.5).buffer);
    // 3. Leave dense_1's kernel float.
    const gemm = g.node!.find((n) => n.name === 'dense_1' && n.opType === 'Gemm')!;
    g.initializer.push(floats('float_kernel', [128, 10], new Float32Array(128 * 10)));
    gemm.input![1] = 'float_kernel';
    const bad = encodeOnnx(model);
    const report = auditOnnx(bad, input.graph, input.plan, input.qparams);
    assert.equal(report.ok, false);
    const text = report.problems.join('\n');
    assert.match(text, /conv2d_1\/kernel: per-channel axis missing/);
    assert.match(text, /dense\/output: stored scales differ/);
    assert.match(text, /dense_1\/kernel: stayed float/);
    // Through the exporter's check of an existing file: an ExportError naming the tensor.
    writeFileSync(file, bad);
    const { finishOnnx } = await import('../../../src-main/export/onnx/index.js');
    await assert.rejects(finishOnnx(input, file, { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'audit' && e.details.tensor === 'conv2d_1/kernel');
    assert.ok(attrOf(decodeOnnx(readFileSync(file)).graph!.node!.find((n) => n.name === 'conv2d/kernel/DequantizeLinear')! as never, 'axis'));
  });

  test('refuses an existing path unless overwrite; names an unwritable path; leaves no partial file', async () => {
    const { input } = runs['dwsep-pc']!;
    const file = path.join(dir, 'exists.onnx');
    writeFileSync(file, 'keep me');
    await assert.rejects(exportOnnx(input, file, { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'exists' && e.message.includes(file));
    assert.equal(readFileSync(file, 'utf8'), 'keep me');
    await exportOnnx(input, file, { verify: false, overwrite: true });
    assert.notEqual(readFileSync(file, 'utf8'), 'keep me');
    const missing = path.join(dir, 'no-such-folder', 'm.onnx');
    await assert.rejects(exportOnnx(input, missing, { verify: false }), (e: unknown) => e instanceof ExportError && e.code === 'unwritable' && e.message.includes(missing));
    assert.equal(existsSync(missing), false);
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  });

  test("TF 'same' padding: the extra pixel goes after", () => {
    assert.deepEqual(samePads(28, 3, 1), [1, 1]);
    assert.deepEqual(samePads(28, 3, 2), [0, 1]);
    assert.deepEqual(samePads(14, 2, 2), [0, 0]);
    assert.deepEqual(samePads(7, 3, 2), [1, 1]);
  });
});
