/**
 * The memory budget in a PTQ run: batch sizes follow it (a small budget gives
 * small calibration batches, said in the run's notes, with the same minmax
 * ranges), and a model whose single sample does not fit is refused by
 * preparePtq, before any batch, naming the figure and the setting.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { initBackend } from '../../../../src-main/engine/backend.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { CACHE_BATCH_BYTES, cacheBatch, MemoryBudgetError } from '../../../../src-main/engine/memory.js';
import { preparePtq, runPtq, BATCH_SIZE } from '../../../../src-main/engine/ptq/run.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { SAMPLE_DATA, config, context } from './ptq-fixtures.js';

before(async () => {
  await initBackend('wasm');
});

describe('memory budget in a PTQ run', () => {
  const model = () => serializeGraph(builtinModel('fashion_cnn').build());
  const payload = (memoryBudget?: number) => ({ config: config(), modelName: 'fashion_cnn', model: model(), dataset: SAMPLE_DATA, ...(memoryBudget ? { memoryBudget } : {}) });

  test('the default budget keeps calibration batches of 100 and cache-sized evaluation batches', () => {
    const prep = preparePtq(payload());
    assert.equal(prep.batches.calibration, BATCH_SIZE);
    assert.equal(prep.batches.calibrationBudgetLimited, false);
    // The CNN's largest activation, 28x28x32 float32 (98 KiB a sample): 167 samples fill 16 MiB.
    assert.equal(cacheBatch(prep.graph), Math.floor(CACHE_BATCH_BYTES / (28 * 28 * 32 * 4)));
    assert.equal(prep.batches.evaluation, 167);
  });

  test('a small budget gives smaller batches, noted, and the same minmax result', async () => {
    const small = 24 * 2 ** 20;
    const prep = preparePtq(payload(small));
    assert.ok(prep.batches.calibration < BATCH_SIZE, `calibration batch ${prep.batches.calibration}`);
    assert.ok(prep.notes.some((n) => /calibration in batches of \d+ \(not 100\) to stay within the memory budget of 24\.0 MiB/.test(n)), prep.notes.join('; '));
    const [a, b] = [await runPtq(payload(), context()), await runPtq(payload(small), context())];
    assert.equal(b.quantAccuracy, a.quantAccuracy);
    const s = b.summary as { evaluation: { batchSize: number; memoryBudget: { bytes: number } }; calibration: { batchSize: number } };
    assert.equal(s.evaluation.memoryBudget.bytes, small);
    assert.equal(s.calibration.batchSize, prep.batches.calibration);
    for (const t of a.tensors) {
      const u = b.tensors.find((x) => x.layer === t.layer && x.role === t.role)!;
      assert.ok(Math.abs(u.max - t.max) <= 1e-5 * Math.abs(t.max) + 1e-6, `${t.layer} ${t.role}: max ${u.max} vs ${t.max}`);
    }
  });

  test('a model whose one sample does not fit is refused before any batch, naming the figure and the setting', () => {
    assert.throws(
      () => preparePtq(payload(2 ** 21)),
      (e: Error) => e instanceof MemoryBudgetError && /per sample/.test(e.message) && /memory budget of 2\.0 MiB/.test(e.message) && /STUDIO_MEMORY_BUDGET/.test(e.message),
    );
  });
});
