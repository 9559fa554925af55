/**
 * Data-parallel calibration equals the serial run exactly: for every
 * mergeable estimator (minmax; the two-pass percentile, mse and entropy), per
 * tensor and per channel, the merged observers' full state (ranges, batch
 * counts, histogram counts) is identical to what one thread computes over the
 * same batches, so the qparams are too. Reference: the serial calibrate() on
 * the same model, data and batches. Also: whole-batch shards, cancel within a
 * batch, and order-dependent estimators refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Estimator, type EstimatorKind } from '../../../../src-main/api/run-config.js';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { GraphRuntime } from '../../../../src-main/engine/graph/runtime.js';
import { inputNode } from '../../../../src-main/engine/graph/types.js';
import { calibrate } from '../../../../src-main/engine/ptq/calibrate.js';
import { calibrateParallel, calibrationWorkers, shardIndices } from '../../../../src-main/engine/parallel/calibrate-parallel.js';
import { closeCalibrationPools } from '../../../../src-main/engine/parallel/pool.js';
import { observerEquals } from '../../../../src-main/engine/quant/observers/index.js';
import { qparamsEquals } from '../../../../src-main/engine/quant/qparams.js';
import { foldBatchNorm } from '../../../../src-main/engine/transform/fold-batchnorm.js';
import { planQuantization } from '../../../../src-main/engine/transform/plan.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadDataset, makeBatches, readAll, sampleSplit } from '../../../../src-main/io/data/dataset.js';
import { encodeIdx } from '../../../../src-main/io/data/idx.js';
import { tempDir } from '../../../helpers/temp.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { CancelledError } from '../../../../src-main/jobs/protocol.js';
import { SAMPLE_DATA, config } from './ptq-fixtures.js';

const BATCH = 50;

before(async () => {
  await initBackend('wasm');
});
after(closeCalibrationPools);

function setup(granularity: 'per-tensor' | 'per-channel') {
  const { graph } = foldBatchNorm(builtinModel('fashion_cnn').build());
  const plan = planQuantization(graph, config({ activations: { bits: 8, symmetric: false, narrowRange: false, granularity } }));
  const data = loadDataset(SAMPLE_DATA);
  // 5 batches of 50 and a short one of 20: shards of 3 and 3 batches, one of them ending short.
  const indices = sampleSplit(270, data.parts.train.count, 7);
  const runtime = new GraphRuntime(graph, { trainable: false });
  return { graph, plan, data, indices, runtime, inputShape: inputNode(graph).outputShape };
}

describe('parallel calibration against the serial run', () => {
  for (const granularity of ['per-tensor', 'per-channel'] as const) {
    for (const kind of ['minmax', 'percentile', 'mse', 'entropy'] as EstimatorKind[]) {
      test(`${kind}, ${granularity} activations: identical observer states and qparams`, async () => {
        const s = setup(granularity);
        try {
          const estimator = Estimator.parse({ kind, bins: 256 });
          const serial = await calibrate(s.runtime, s.plan, estimator, () => makeBatches(s.data.parts.train, s.indices, BATCH, s.inputShape));
          const progress: number[] = [];
          const parallel = await calibrateParallel(
            { graph: s.graph, runtime: s.runtime, plan: s.plan, estimator, part: s.data.parts.train, indices: s.indices, batchSize: BATCH, inputShape: s.inputShape, workers: 2, backend: 'wasm' },
            { onBatch: (pass, passes, done) => progress.push(pass * 1000 + done) },
          );
          assert.equal(parallel.samples, serial.samples);
          assert.equal(parallel.samples, 270);
          assert.equal(parallel.observers.size, serial.observers.size);
          for (const [name, obs] of serial.observers) {
            const p = parallel.observers.get(name)!;
            assert.ok(observerEquals(p, obs), `${name}: ${JSON.stringify(p.toConfig().state).slice(0, 200)} vs ${JSON.stringify(obs.toConfig().state).slice(0, 200)}`);
          }
          for (const [name, qp] of serial.qparams) assert.ok(qparamsEquals(parallel.qparams.get(name)!, qp), name);
          // Per-channel stayed per-channel through the merge (conv2d's output has 32 channels).
          assert.equal(parallel.qparams.get('conv2d/output')!.scale.length, granularity === 'per-channel' ? 32 : 1);
          // Progress reached the end of the last pass and never went backwards within a pass.
          const passes = kind === 'minmax' ? 1 : 2;
          assert.equal(progress.at(-1), (passes - 1) * 1000 + 270);
          for (let i = 1; i < progress.length; i++) assert.ok(progress[i]! >= progress[i - 1]!, `progress ${progress.join(',')}`);
        } finally {
          s.runtime.dispose();
        }
      });
    }
  }

  test('a cancel during a pass stops the workers and the pool still works afterwards', async () => {
    const s = setup('per-tensor');
    try {
      const estimator = Estimator.parse({ kind: 'minmax' });
      const input = { graph: s.graph, runtime: s.runtime, plan: s.plan, estimator, part: s.data.parts.train, indices: s.indices, batchSize: BATCH, inputShape: s.inputShape, workers: 2, backend: 'wasm' as const };
      let calls = 0;
      await assert.rejects(
        calibrateParallel(input, {
          onBatch(_pass, _passes, done) {
            calls++;
            if (done > 0) throw new CancelledError();
          },
        }),
        CancelledError,
      );
      assert.ok(calls >= 2);
      const again = await calibrateParallel(input);
      assert.equal(again.samples, 270);
    } finally {
      s.runtime.dispose();
    }
  });

  test('a part read from disk: each worker opens it from its description and reads its own batches, same states as the serial run', async () => {
    const s = setup('per-channel');
    try {
      const lazy = loadDataset(SAMPLE_DATA, { residentMaxBytes: 0 }).parts.train;
      assert.equal(lazy.resident, false);
      assert.ok(lazy.spec, 'a loaded part says where it is');
      for (const kind of ['minmax', 'entropy'] as EstimatorKind[]) {
        const estimator = Estimator.parse({ kind, bins: 256 });
        const serial = await calibrate(s.runtime, s.plan, estimator, () => makeBatches(s.data.parts.train, s.indices, BATCH, s.inputShape));
        const parallel = await calibrateParallel({ graph: s.graph, runtime: s.runtime, plan: s.plan, estimator, part: lazy, indices: s.indices, batchSize: BATCH, inputShape: s.inputShape, workers: 2, backend: 'wasm' });
        assert.equal(parallel.samples, 270);
        for (const [name, obs] of serial.observers) assert.ok(observerEquals(parallel.observers.get(name)!, obs), `${kind} ${name}`);
      }
    } finally {
      s.runtime.dispose();
    }
  });

  test('a sample that cannot be read fails the calibration in the worker that meets it, naming the file and the image', async () => {
    const s = setup('per-tensor');
    try {
      // The sample's train images as float32 IDX, with NaN in one image of the second shard.
      const dir = tempDir();
      const train = s.data.parts.train;
      const data = readAll(train);
      const bad = s.indices[200]!;
      data[bad * 784 + 100] = NaN;
      const images = path.join(dir, 'train-images-idx3-ubyte');
      writeFileSync(images, encodeIdx({ dims: [train.count, 28, 28], type: 'float32', data }));
      writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx({ dims: [train.count], type: 'uint8', data: Uint8Array.from(train.labels) }));
      const part = loadDataset({ path: dir, format: 'idx', preprocessing: {} }, { residentMaxBytes: 0 }).parts.train;
      const input = { graph: s.graph, runtime: s.runtime, plan: s.plan, estimator: Estimator.parse({ kind: 'minmax' }), part, indices: s.indices, batchSize: BATCH, inputShape: s.inputShape, workers: 2, backend: 'wasm' as const };
      await assert.rejects(calibrateParallel(input), (e: Error) => {
        assert.equal(e.message, `${images}: image ${bad} holds NaN (value 100 of the sample); images must be finite numbers`);
        return true;
      });
      // The pool still works afterwards.
      assert.equal((await calibrateParallel({ ...input, part: s.data.parts.train })).samples, 270);
    } finally {
      s.runtime.dispose();
    }
  });

  test('order-dependent estimators are refused (they stay serial)', async () => {
    const s = setup('per-tensor');
    try {
      for (const kind of ['lastvalue', 'movingaverage'] as const) {
        await assert.rejects(
          calibrateParallel({ graph: s.graph, runtime: s.runtime, plan: s.plan, estimator: Estimator.parse({ kind }), part: s.data.parts.train, indices: s.indices, batchSize: BATCH, inputShape: s.inputShape, workers: 2, backend: 'wasm' }),
          /depends on batch order/,
        );
      }
    } finally {
      s.runtime.dispose();
    }
  });
});

test('shards are whole batches, contiguous, covering every index once', () => {
  const idx = Int32Array.from({ length: 270 }, (_, i) => i);
  const shards = shardIndices(idx, 50, 2);
  assert.deepEqual(shards.map((s) => s.length), [150, 120]);
  assert.deepEqual(Array.from(shards[1]!.slice(0, 1)), [150]);
  assert.deepEqual(shardIndices(idx, 50, 4).map((s) => s.length), [100, 100, 50, 20]);
  assert.deepEqual(shardIndices(Int32Array.of(1, 2, 3), 50, 2).map((s) => s.length), [3]);
});

test('worker count: request, then $STUDIO_CALIBRATION_WORKERS, then min(2, cores); 1 for native TensorFlow', () => {
  assert.equal(calibrationWorkers(3, 'wasm', {}), 3);
  assert.equal(calibrationWorkers(undefined, 'wasm', { STUDIO_CALIBRATION_WORKERS: '1' }), 1);
  assert.ok([1, 2].includes(calibrationWorkers(undefined, 'wasm', {})));
  assert.equal(calibrationWorkers(undefined, 'tensorflow', {}), 1);
  assert.throws(() => calibrationWorkers(0, 'wasm', {}), /positive integer/);
});
