/**
 * The memory budget and the batch sizes it gives: sizes parse as people
 * write them, the budget comes from the request, then the environment, then
 * the default; batch sizes follow closed-form arithmetic of the graph's
 * activation sizes; a graph that cannot fit one sample is refused naming the
 * figure and the setting.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Graph } from '../../../src-main/engine/graph/types.js';
import { activationValuesPerSample, batchSizeFor, CACHE_BATCH_BYTES, cacheBatch, DEFAULT_MEMORY_BUDGET, largestActivation, memoryBudget, MemoryBudgetError, parseBytes, weightBytes } from '../../../src-main/engine/memory.js';

/** input 8x8x3 → conv 8x8x4 (3x3x3x4 kernel + 4 bias) → dense 10 (256x10 + 10). */
const graph: Graph = {
  name: 'tiny',
  output: 'dense',
  nodes: [
    { op: 'input', name: 'input', inputs: [], outputShape: [8, 8, 3] },
    {
      op: 'conv2d', name: 'conv', inputs: ['input'], outputShape: [8, 8, 4], filters: 4, kernelSize: [3, 3], strides: [1, 1], padding: 'same', dilation: [1, 1], activation: 'relu',
      weights: { kernel: { shape: [3, 3, 3, 4], values: new Float32Array(108) }, bias: { shape: [4], values: new Float32Array(4) } },
    },
    { op: 'flatten', name: 'flatten', inputs: ['conv'], outputShape: [256] },
    { op: 'dense', name: 'dense', inputs: ['flatten'], outputShape: [10], units: 10, activation: 'linear', weights: { kernel: { shape: [256, 10], values: new Float32Array(2560) }, bias: { shape: [10], values: new Float32Array(10) } } },
  ],
};

describe('memory budget', () => {
  test('sizes', () => {
    assert.equal(parseBytes('1.5G'), 1.5 * 2 ** 30);
    assert.equal(parseBytes('800M'), 800 * 2 ** 20);
    assert.equal(parseBytes('2GiB'), 2 * 2 ** 30);
    assert.equal(parseBytes('2097152'), 2 ** 21);
    assert.throws(() => parseBytes('lots'), /"lots" is not a size/);
    assert.throws(() => parseBytes('12k'), /under 1 MiB/);
  });

  test('request, then STUDIO_MEMORY_BUDGET, then the default', () => {
    assert.deepEqual(memoryBudget(5e8, { STUDIO_MEMORY_BUDGET: '2G' }), { bytes: 5e8, source: 'request' });
    assert.deepEqual(memoryBudget(undefined, { STUDIO_MEMORY_BUDGET: '2G' }), { bytes: 2 ** 31, source: 'env' });
    assert.deepEqual(memoryBudget(undefined, {}), { bytes: DEFAULT_MEMORY_BUDGET, source: 'default' });
    assert.throws(() => memoryBudget(undefined, { STUDIO_MEMORY_BUDGET: 'big' }), /STUDIO_MEMORY_BUDGET=big/);
  });

  test('batch sizes from the graph: activations x copies x 4 bytes, weights first', () => {
    // 192 + 256 + 256 + 10 values a sample; the largest is 256.
    assert.equal(activationValuesPerSample(graph), 714);
    assert.equal(largestActivation(graph), 256);
    assert.equal(weightBytes(graph), (108 + 4 + 2560 + 10) * 4);
    const budget = { bytes: 2 ** 20, source: 'request' as const };
    const plan = batchSizeFor(graph, budget, { copies: 2, scratchPerValue: 8, cap: 10_000, what: 'the evaluation' });
    assert.equal(plan.bytesPerSample, 714 * 4 * 2 + 256 * 8);
    assert.equal(plan.batchSize, Math.floor((2 ** 20 - weightBytes(graph) * 2) / plan.bytesPerSample));
    assert.equal(batchSizeFor(graph, budget, { copies: 2, cap: 64, what: 'x' }).batchSize, 64);
  });

  test('cache-sized batches: the largest activation of a batch fills about 16 MiB, at least 4 samples, within the budget and cap', () => {
    // Largest activation 256 values (1 KiB): 16384 samples fill 16 MiB.
    assert.equal(cacheBatch(graph), CACHE_BATCH_BYTES / (256 * 4));
    const budget = { bytes: 2 ** 30, source: 'request' as const };
    assert.equal(batchSizeFor(graph, budget, { copies: 2, cap: 1e6, what: 'x', cacheSized: true }).batchSize, 16384);
    assert.equal(batchSizeFor(graph, budget, { copies: 2, cap: 256, what: 'x', cacheSized: true }).batchSize, 256);
    // A 224x224 MobileNet-sized activation (112x112x96, 4.8 MB a sample): 3 fill 16 MiB, 4 is the floor.
    const wide: Graph = { ...graph, nodes: graph.nodes.map((n) => (n.name === 'conv' ? { ...n, outputShape: [112, 112, 96] } : n)) };
    assert.equal(cacheBatch(wide), 4);
    const small = { bytes: 32 * 2 ** 20, source: 'request' as const };
    assert.ok(batchSizeFor(wide, small, { copies: 2, cap: 256, what: 'x', cacheSized: true }).batchSize < 4, 'the budget still wins');
  });

  test('a sample that does not fit is refused with the figure and the setting', () => {
    const huge: Graph = { ...graph, nodes: graph.nodes.map((n) => (n.op === 'input' ? { ...n, outputShape: [4096, 4096, 3] } : n)) };
    assert.throws(
      () => batchSizeFor(huge, { bytes: 2 ** 20, source: 'default' }, { copies: 2, cap: 100, what: 'the evaluation' }),
      (e: Error) => e instanceof MemoryBudgetError && /the evaluation of tiny needs about 384\.\d MiB per sample/.test(e.message) && /STUDIO_MEMORY_BUDGET=1G/.test(e.message) && /--memory-budget/.test(e.message),
    );
  });
});
