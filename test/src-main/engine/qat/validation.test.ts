/**
 * QAT's validation on onnxruntime (the step engine's evaluate: the native
 * inference graph with the current weights, the simulated BatchNorm folding
 * and the current ranges, qat/validation.ts) against the TF.js validation it
 * replaced (the runtime synced from the step engine, then evaluated with
 * qat/hooks.ts, activation observers off), over a real training loop: two
 * runs of the same training, one validating each way, must log the same
 * validation curve points (same accuracy, loss within 1e-4) — on the
 * bundled trained CNN per channel and per tensor, on fashion_dwsep, and for
 * float training.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { Training } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime, type ForwardHooks } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode, type Graph } from '../../../../src-main/engine/graph/types.js';
import { NativeTrainer, type StepEngine } from '../../../../src-main/engine/native/train/native-trainer.js';
import { qatHooks } from '../../../../src-main/engine/qat/hooks.js';
import { activationEstimator, makeQuantizers } from '../../../../src-main/engine/qat/run.js';
import type { CurvePoint } from '../../../../src-main/engine/results.js';
import { evaluate } from '../../../../src-main/engine/train/evaluate.js';
import { trainLoop } from '../../../../src-main/engine/train/loop.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { loadDataset, makeBatches, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { config, context, ROOT, SAMPLE_DATA } from '../ptq/ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

type Kind = 'per-channel' | 'per-tensor' | 'float';

/** One training run (1 epoch over 640 samples: 10 steps, BN frozen from step 6), validating every 3 steps on 500 held-out samples. */
async function valCurve(graph: Graph, kind: Kind, validation: 'onnxruntime' | 'tfjs'): Promise<{ points: CurvePoint[]; restored: { accuracy: number; loss: number } }> {
  const data = loadDataset(SAMPLE_DATA);
  const train = data.parts.train;
  const order = sampleSplit(1140, train.count, 3);
  const valIdx = order.slice(0, 500);
  const trainIdx = order.slice(500);
  const inputShape = inputNode(graph).outputShape;
  const training = Training.parse({ epochs: 1, batchSize: 64, learningRate: 1e-3, validationSplit: 0, bnFreezeStep: 6 });
  const runtime = new GraphRuntime(graph, { trainable: true });
  try {
    let hooks: ForwardHooks | undefined;
    let qat: Parameters<typeof NativeTrainer.create>[0]['qat'] = null;
    if (kind !== 'float') {
      const cfg = config({ weights: { bits: 8, symmetric: true, narrowRange: true, granularity: kind } });
      const { graph: folded, folded: records } = foldBatchNorm(graph);
      const plan = planQuantization(folded, cfg);
      const q = makeQuantizers(plan, cfg);
      const all = [...new Set([...q.activations.values(), ...[...q.weights.values()].map((w) => w.fq)])];
      hooks = qatHooks(graph, runtime, plan, records, q);
      for (const fq of all) fq.setMode('calibrate');
      for (const b of makeBatches(train, trainIdx.subarray(0, 128), 128, inputShape)) {
        runtime.apply(b.x, { hooks }).dispose();
        b.x.dispose();
        b.y.dispose();
      }
      for (const fq of all) fq.setMode('qat');
      // As qat/run.ts's TF.js validation: the activation observers stay off from here on.
      for (const fq of q.activations.values()) fq.observerEnabled = false;
      qat = { plan, folded: records, quantizers: q, activationEstimator: activationEstimator(cfg.estimator) };
    }
    const native = await NativeTrainer.create({ graph, runtime, qat, training, inputShape });
    // The validation of before: weights (and ranges) synced into TF.js, evaluated there with the hooks.
    const engine: StepEngine =
      validation === 'onnxruntime'
        ? native
        : {
            runtimeName: native.runtimeName,
            threads: native.threads,
            step: (b, f) => native.step(b, f),
            snapshot: () => native.snapshot(),
            restore: (s) => native.restore(s),
            sync: () => native.sync(),
            syncRanges: () => native.syncRanges(),
            dispose: () => native.dispose(),
            evaluate: async (part, indices, opts) => {
              native.sync();
              const r = await evaluate(runtime, part, indices, { batchSize: opts.maxBatch, ...(hooks ? { hooks } : {}) });
              return { ...r, batchSize: opts.maxBatch };
            },
          };
    const points: CurvePoint[] = [];
    const ctx = { ...context(), emit: (name: string, p: unknown) => (name === 'curves' ? points.push(...(p as CurvePoint[])) : undefined) };
    try {
      await trainLoop({ runtime, data, trainIdx, valIdx, training, ctx, engine, validateEvery: 3, freezeBatchNorm: (s) => s >= training.bnFreezeStep });
    } finally {
      await engine.dispose();
    }
    // The weights the loop left in the runtime (the best checkpoint's), evaluated on TF.js.
    const restored = await evaluate(runtime, train, valIdx, { batchSize: 256, ...(hooks ? { hooks } : {}) });
    return { points: points.filter((p) => p.split === 'val'), restored };
  } finally {
    runtime.dispose();
  }
}

async function sampleCnn(): Promise<Graph> {
  return readTfjsLayersModel(path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json'));
}

const cases: { name: string; graph: () => Promise<Graph>; kind: Kind }[] = [
  { name: 'fashion_cnn (trained) per-channel QAT', graph: sampleCnn, kind: 'per-channel' },
  { name: 'fashion_cnn (trained) per-tensor QAT', graph: sampleCnn, kind: 'per-tensor' },
  { name: 'fashion_cnn (trained) float training', graph: sampleCnn, kind: 'float' },
  { name: 'fashion_dwsep per-channel QAT', graph: async () => builtinModel('fashion_dwsep').build(), kind: 'per-channel' },
];

for (const c of cases) {
  test(`${c.name}: validation on onnxruntime logs the curve points the TF.js validation logged (same accuracy, loss within 1e-4)`, async () => {
    const { points: native, restored } = await valCurve(await c.graph(), c.kind, 'onnxruntime');
    const { points: tfjs } = await valCurve(await c.graph(), c.kind, 'tfjs');
    console.log(`${c.name}: ${native.map((p, i) => `step ${p.step} acc ${p.accuracy} / ${tfjs[i]?.accuracy}, loss ${p.loss!.toFixed(6)} / ${tfjs[i]?.loss!.toFixed(6)}`).join('; ')}`);
    assert.deepEqual(native.map((p) => p.step), [3, 5, 8, 10]);
    assert.deepEqual(tfjs.map((p) => p.step), [3, 5, 8, 10]);
    native.forEach((p, i) => {
      const t = tfjs[i]!;
      assert.equal(p.accuracy, t.accuracy, `step ${p.step}: accuracy ${p.accuracy} on onnxruntime, ${t.accuracy} on TF.js`);
      assert.ok(Math.abs(p.loss! - t.loss!) <= 1e-4, `step ${p.step}: loss ${p.loss} on onnxruntime, ${t.loss} on TF.js`);
    });
    if (c.kind === 'float') {
      // The best checkpoint (the step engine's snapshot) is what the runtime holds after training.
      const best = [...native].sort((a, b) => b.accuracy! - a.accuracy! || a.loss! - b.loss!)[0]!;
      assert.equal(restored.accuracy, best.accuracy, `restored weights: accuracy ${restored.accuracy}, best checkpoint ${best.accuracy} (step ${best.step})`);
      assert.ok(Math.abs(restored.loss - best.loss!) <= 1e-4, `restored weights: loss ${restored.loss}, best checkpoint ${best.loss}`);
    }
  });
}
