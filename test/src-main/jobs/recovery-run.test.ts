/**
 * Accuracy recovery (CLE, bias correction) through the whole studio: API →
 * run manager → engine worker → SQLite. The run summary records what each
 * step did; an export rebuilds the run's corrected weights; cancel during
 * bias correction stops within a batch and stores nothing; a QAT run asking
 * for recovery is refused before a run row is written.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobProgress } from '../../../src-main/api/contract.js';
import { dispatch } from '../../../src-main/api/dispatch.js';
import { RunConfig } from '../../../src-main/api/run-config.js';
import { openStudio, type Studio } from '../../../src-main/studio.js';
import { exportPayloadFromStore } from '../../../src-main/export/payload.js';
import { exportInputFromPayload } from '../../../src-main/export/index.js';
import { prepare } from '../../../src-main/engine/prepare.js';
import type { RecoveryRecord } from '../../../src-main/engine/transform/recovery.js';
import type { WeightedNode } from '../../../src-main/engine/graph/types.js';
import { tempDir } from '../../helpers/temp.js';

let studio: Studio;
let modelId: number;
let datasetId: number;

async function call<T>(method: string, input: unknown): Promise<T> {
  const r = await dispatch(studio.handlers, method as never, input);
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.output as T;
}

before(async () => {
  studio = await openStudio({ dbPath: path.join(tempDir(), 'studio.sqlite'), host: 'cli', backend: 'wasm' });
  modelId = (await call<{ id: number }>('models.importBuiltin', { name: 'fashion_cnn' })).id;
  datasetId = (await call<{ id: number; name: string }[]>('datasets.list', {})).find((d) => d.name === 'fashion-mnist-sample')!.id;
});

after(async () => {
  await studio.close();
});

const W4 = { bits: 4, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;

describe('PTQ with accuracy recovery', () => {
  test('CLE + empirical bias correction: the summary lists pairs and shifts; an export rebuilds the corrected biases', async () => {
    const config = { modelId, datasetId, calibration: { count: 200, seed: 0 }, eval: { count: 200, seed: 1 }, weights: W4, recovery: { cle: true, biasCorrection: 'empirical' } };
    const run = await call<{ id: number; name: string }>('runs.start', { kind: 'ptq', config });
    assert.match(run.name, /_cle_bcemp$/);
    await studio.runs.settled(run.id);
    const detail = await call<{ status: string; error: string | null; summary: { recovery: RecoveryRecord } }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'done', detail.error ?? '');
    const rec = detail.summary.recovery;
    assert.equal(rec.cle!.flatten, 'skip');
    assert.deepEqual(rec.cle!.equalized.map((p) => `${p.first}>${p.second}`), ['conv2d>conv2d_1', 'dense>dense_1']);
    assert.deepEqual(rec.cle!.skipped.map((p) => `${p.first}>${p.second}`), ['conv2d_1>dense']);
    for (const p of rec.cle!.equalized) assert.ok(Math.abs(p.ratioAfter.max - 1) < 1e-4 && Math.abs(p.ratioAfter.min - 1) < 1e-4);
    assert.equal(rec.biasCorrection!.kind, 'empirical');
    assert.deepEqual(rec.biasCorrection!.layers.map((l) => l.layer), ['conv2d', 'conv2d_1', 'dense', 'dense_1']);
    for (const l of rec.biasCorrection!.layers) assert.equal(l.shift.length, l.layer === 'conv2d' ? 32 : l.layer === 'conv2d_1' ? 64 : l.layer === 'dense' ? 128 : 10);

    // The export rebuilds the run's graph: CLE from the config, the empirical shifts from the summary.
    const payload = exportPayloadFromStore(studio.store, run.id, 'params', path.join(tempDir(), 'p.json'));
    const rebuilt = exportInputFromPayload(payload, false).graph;
    const equalizedOnly = prepare(payload.model, RunConfig.parse({ ...config, recovery: { cle: true } })).graph;
    for (const l of rec.biasCorrection!.layers) {
      const b = (rebuilt.nodes.find((n) => n.name === l.layer) as WeightedNode).weights.bias!.values;
      const b0 = (equalizedOnly.nodes.find((n) => n.name === l.layer) as WeightedNode).weights.bias!.values;
      for (let i = 0; i < b.length; i++) assert.ok(Math.abs(b[i]! - (b0[i]! - l.shift[i]!)) < 1e-6, `${l.layer}[${i}]`);
    }

    // The ONNX file of that run, verified in onnxruntime against the studio's simulation of the corrected model.
    let exportJobId = 0;
    const finished = new Promise<{ export?: { verification: Record<string, unknown> }; message?: string }>((resolve) => {
      const off = studio.events.subscribe((event, p) => {
        if ((p as { exportJobId: number }).exportJobId !== exportJobId) return;
        if (event === 'exports.finished' || event === 'exports.failed') {
          off();
          resolve(p as { export?: { verification: Record<string, unknown> }; message?: string });
        }
      });
    });
    exportJobId = (await call<{ exportJobId: number }>('exports.start', { runId: run.id, format: 'onnx', path: path.join(tempDir(), 'recovered.onnx') })).exportJobId;
    const outcome = await finished;
    assert.ok(outcome.export, outcome.message);
    assert.ok((outcome.export.verification['agreement'] as number) >= 0.995, JSON.stringify(outcome.export.verification));
  });

  test('CLE + bias correction against the float model with MSE weight ranges: its kind and shifts in the summary, the kernels on the mse grid, an export rebuilds the biases', async () => {
    const config = { modelId, datasetId, calibration: { count: 200, seed: 0 }, eval: { count: 200, seed: 1 }, weights: W4, estimator: { kind: 'minmax', weights: 'mse' }, recovery: { cle: true, biasCorrection: 'empirical-float' } };
    const run = await call<{ id: number; name: string }>('runs.start', { kind: 'ptq', config });
    assert.match(run.name, /_minmax_wmse_cle_bcempf$/);
    await studio.runs.settled(run.id);
    const detail = await call<{ status: string; error: string | null; summary: { recovery: RecoveryRecord }; tensors: { layer: string; role: string; max: number; scale: number }[] }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'done', detail.error ?? '');
    const rec = detail.summary.recovery;
    assert.equal(rec.biasCorrection!.kind, 'empirical-float');
    assert.deepEqual(rec.biasCorrection!.layers.map((l) => l.layer), ['conv2d', 'conv2d_1', 'dense', 'dense_1']);
    // MSE clipping: at 4 bits at least one kernel's range is below its largest |w| (minmax's).
    const payload = exportPayloadFromStore(studio.store, run.id, 'params', path.join(tempDir(), 'p.json'));
    const equalizedOnly = prepare(payload.model, RunConfig.parse({ ...config, recovery: { cle: true } })).graph;
    const clipped = detail.tensors.filter((t) => t.role === 'weight').filter((t) => {
      const k = (equalizedOnly.nodes.find((n) => n.name === t.layer) as WeightedNode).weights.kernel.values;
      return t.scale * 7 < k.reduce((m, v) => Math.max(m, Math.abs(v)), 0) * (1 - 1e-3);
    });
    assert.ok(clipped.length > 0, JSON.stringify(detail.tensors.map((t) => [t.layer, t.role, t.scale])));
    const rebuilt = exportInputFromPayload(payload, false).graph;
    for (const l of rec.biasCorrection!.layers) {
      const b = (rebuilt.nodes.find((n) => n.name === l.layer) as WeightedNode).weights.bias!.values;
      const b0 = (equalizedOnly.nodes.find((n) => n.name === l.layer) as WeightedNode).weights.bias!.values;
      for (let i = 0; i < b.length; i++) assert.ok(Math.abs(b[i]! - (b0[i]! - l.shift[i]!)) < 1e-6, `${l.layer}[${i}]`);
    }
  });

  test('bias correction changes only the quantized model: the float reference is the model as stored', async () => {
    const config = { modelId, datasetId, calibration: { count: 200, seed: 0 }, eval: { count: 300, seed: 1 }, weights: W4 };
    const plain = await call<{ id: number }>('runs.start', { kind: 'ptq', config });
    const corrected = await call<{ id: number }>('runs.start', { kind: 'ptq', config: { ...config, recovery: { biasCorrection: 'empirical' } } });
    await studio.runs.settled(plain.id);
    await studio.runs.settled(corrected.id);
    const a = await call<{ floatAccuracy: number; floatLoss: number; quantLoss: number }>('runs.get', { id: plain.id });
    const b = await call<{ floatAccuracy: number; floatLoss: number; quantLoss: number }>('runs.get', { id: corrected.id });
    assert.equal(b.floatAccuracy, a.floatAccuracy);
    assert.equal(b.floatLoss, a.floatLoss);
    assert.notEqual(b.quantLoss, a.quantLoss);
  });

  test('cancel during bias correction stops within a batch, marks the run cancelled and stores no tensors', async () => {
    const config = { modelId, datasetId, calibration: { count: 3000, seed: 0 }, eval: { count: 200, seed: 1 }, weights: W4, recovery: { biasCorrection: 'empirical' } };
    const run = await call<{ id: number }>('runs.start', { kind: 'ptq', config });
    const phases: string[] = [];
    let cancelledAt = -1;
    await new Promise<void>((resolve) => {
      const off = studio.events.subscribe((e, p) => {
        if (e !== 'job.progress' || (p as JobProgress).runId !== run.id) return;
        phases.push((p as JobProgress).phase);
        if ((p as JobProgress).phase === 'bias-correction' && cancelledAt < 0) {
          cancelledAt = phases.length;
          off();
          resolve();
        }
      });
    });
    assert.deepEqual(await call('runs.cancel', { id: run.id }), { cancelled: true });
    await studio.runs.settled(run.id);
    const detail = await call<{ status: string; tensors: unknown[] }>('runs.get', { id: run.id });
    assert.equal(detail.status, 'cancelled');
    assert.equal(detail.tensors.length, 0);
    assert.ok(!phases.includes('calibrate'), `phases ${phases.join(', ')}`);
  });

  test('a QAT run asking for recovery is refused before a run row is written', async () => {
    const before = (await call<unknown[]>('runs.list', {})).length;
    const r = await dispatch(studio.handlers, 'runs.start', { kind: 'qat', config: { modelId, datasetId, recovery: { cle: true } } });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /PTQ runs only/);
    const bad = await dispatch(studio.handlers, 'runs.start', { kind: 'ptq', config: { modelId, datasetId, recovery: { biasCorrection: 'adaround' } } });
    assert.equal(bad.ok, false);
    const qatWeights = await dispatch(studio.handlers, 'runs.start', { kind: 'qat', config: { modelId, datasetId, estimator: { kind: 'minmax', weights: 'mse' } } });
    assert.equal(qatWeights.ok, false);
    if (!qatWeights.ok) assert.match(qatWeights.error.message, /estimator\.weights\) applies to PTQ runs/);
    assert.equal((await call<unknown[]>('runs.list', {})).length, before);
  });
});
