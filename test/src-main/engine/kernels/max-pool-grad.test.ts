import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { Worst, bound, maxAbsDiff, on, seeded, setupBackends } from './compare.js';

before(setupBackends);

const poolCases = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    c: fc.integer({ min: 1, max: 4 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    pad: fc.constantFrom('same' as const, 'valid' as const),
    // Coarse levels make ties common, as after ReLU or fake quantisation.
    levels: fc.constantFrom(0, 2, 4),
    seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  })
  .filter(({ h, w, kh, kw, pad }) => pad === 'same' || (h >= kh && w >= kw));

type PoolCase = typeof poolCases extends fc.Arbitrary<infer T> ? T : never;

function dX(c: PoolCase): () => tf.Tensor[] {
  return () => {
    const shape: [number, number, number, number] = [c.n, c.h, c.w, c.c];
    let x = tf.tensor4d(seeded(c.n * c.h * c.w * c.c, c.seed), shape);
    if (c.levels > 0) x = tf.div(tf.round(tf.mul(x, c.levels)), c.levels);
    const outShape = tf.backend_util.computePool2DInfo(shape, [c.kh, c.kw], [c.sh, c.sw], 1, c.pad).outShape;
    const dy = tf.tensor4d(seeded(tf.util.sizeFromShape(outShape), c.seed + 1), outShape);
    return [tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, [c.kh, c.kw], [c.sh, c.sw], c.pad))(x, dy)];
  };
}

async function check(cases: fc.Arbitrary<PoolCase>, seed: number, label: string): Promise<void> {
  const worst = new Worst();
  await fc.assert(
    fc.asyncProperty(cases, async (c) => {
      const [ref] = await on('cpu', dX(c));
      const [got] = await on('wasm', dX(c));
      const diff = maxAbsDiff(ref!, got!);
      worst.note(diff, bound(ref!));
      assert.ok(diff <= bound(ref!), `${JSON.stringify(c)}: diff ${diff} > ${bound(ref!)}`);
    }),
    { numRuns: 40, seed },
  );
  worst.report(label);
}

test('MaxPoolGrad on wasm matches cpu for non-overlapping windows (reshape path), ties included', async () => {
  const tiling = poolCases.map((c) => ({ ...c, sh: c.kh, sw: c.kw, pad: 'valid' as const })).filter((c) => c.h >= c.kh && c.w >= c.kw);
  await check(tiling, 20240605, 'MaxPoolGrad (window = stride)');
});

test('MaxPoolGrad on wasm matches cpu for any window, stride and padding (strided-view path)', async () => {
  await check(poolCases, 20240606, 'MaxPoolGrad (any geometry)');
});

// tfjs-backend-wasm 4.22's own MaxPoolGrad routes these to the wrong element
// (valid) or drops them (same): the reason the kernel is replaced.
test('MaxPoolGrad routes all-negative windows like cpu', async () => {
  const grads = () => {
    const x = tf.tensor4d([-3, -1, -1, -3], [1, 4, 1, 1]);
    const valid = tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, [2, 1], [1, 1], 'valid'))(x, tf.tensor4d([10, 20, 30], [1, 3, 1, 1]));
    const same = tf.grad((v: tf.Tensor) => tf.maxPool(v as tf.Tensor4D, [2, 1], [1, 1], 'same'))(x, tf.tensor4d([10, 20, 30, 40], [1, 4, 1, 1]));
    return [valid, same];
  };
  const ref = await on('cpu', grads);
  const got = await on('wasm', grads);
  assert.deepEqual(Array.from(ref[0]!), [0, 30, 30, 0]); // window {-1,-1} ties: the first one wins
  assert.deepEqual(Array.from(got[0]!), Array.from(ref[0]!));
  assert.deepEqual(Array.from(got[1]!), Array.from(ref[1]!));
});
