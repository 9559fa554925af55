import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Worst, maxAbsDiff, on, seeded, setupBackends } from './compare.js';
import { tileAsBroadcast } from '../../../../src-main/engine/kernels/tile.js';

before(setupBackends);

test('a per-channel tile becomes a two-axis broadcast', () => {
  assert.deepEqual(tileAsBroadcast([1, 1, 1, 32], [64, 28, 28, 1]), { data: [1, 32], ones: [64 * 28 * 28, 1] });
  assert.deepEqual(tileAsBroadcast([2, 3], [1, 1]), { data: [6], ones: [1] });
  assert.deepEqual(tileAsBroadcast([2, 3], [2, 2]), { data: [1, 2, 1, 3], ones: [2, 1, 2, 1] });
});

const tileCases = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 5 }),
  reps: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 5, maxLength: 5 }),
  dtype: fc.constantFrom('float32' as const, 'int32' as const, 'bool' as const),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

test('Tile on wasm equals cpu exactly (float32, int32, bool; ranks 1-5)', async () => {
  const worst = new Worst();
  await fc.assert(
    fc.asyncProperty(tileCases, async ({ shape, reps, dtype, seed }) => {
      const r = reps.slice(0, shape.length);
      const tiled = () => {
        const base = tf.tensor(seeded(tf.util.sizeFromShape(shape), seed), shape);
        const x = dtype === 'float32' ? base : dtype === 'int32' ? tf.cast(tf.mul(base, 100), 'int32') : tf.greater(base, 0);
        return [tf.cast(tf.tile(x, r), 'float32')];
      };
      const [ref] = await on('cpu', tiled);
      const [got] = await on('wasm', tiled);
      const diff = maxAbsDiff(ref!, got!);
      worst.note(diff, 1);
      assert.equal(diff, 0, `shape ${shape} reps ${r} ${dtype}`); // a tile copies: no rounding is allowed
    }),
    { numRuns: 60, seed: 20240607 },
  );
  worst.report('Tile', true);
});

test('Tile keeps -0, Infinity and NaN bit-for-bit', async () => {
  const special = () => [tf.tile(tf.tensor1d([-0, Infinity, -Infinity, NaN, 1.5]), [3])];
  const [ref] = await on('cpu', special);
  const [got] = await on('wasm', special);
  assert.deepEqual(Array.from(got!), Array.from(ref!));
  assert.ok(Object.is(got![0], -0));
});
