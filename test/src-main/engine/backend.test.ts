import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import {
  BACKEND_ENV, backendInfo, describeTfjsNodeError, initBackend, resolvePreference, unpackedAsarPath, wasmBinaryDir,
} from '../../../src-main/engine/backend.js';
import { bound, maxAbsDiff, on, seeded } from './kernels/compare.js';

const savedEnv = process.env[BACKEND_ENV];
delete process.env[BACKEND_ENV];
after(() => {
  if (savedEnv === undefined) delete process.env[BACKEND_ENV];
  else process.env[BACKEND_ENV] = savedEnv;
});

function tfjsNodeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

test('backendInfo() refuses to answer before initBackend', () => {
  assert.throws(() => backendInfo(), /not initialised/);
});

test('an explicit preference beats STUDIO_BACKEND, which beats auto; junk is ignored', () => {
  assert.deepEqual(resolvePreference('cpu', { [BACKEND_ENV]: 'wasm' }), { choice: 'cpu', source: 'requested' });
  assert.deepEqual(resolvePreference('auto', { [BACKEND_ENV]: ' WASM ' }), { choice: 'wasm', source: `${BACKEND_ENV}=wasm` });
  assert.deepEqual(resolvePreference('auto', {}), { choice: 'auto', source: 'auto' });
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.deepEqual(resolvePreference('auto', { [BACKEND_ENV]: 'webgpu' }), { choice: 'auto', source: 'auto' });
  } finally {
    console.warn = warn;
  }
});

test('tfjs-node load failures read as one short line', async () => {
  const missing = await import('@tensorflow/tfjs-node' as string).then(() => null, (err: unknown) => err);
  if (missing) assert.equal(describeTfjsNodeError(missing), '@tensorflow/tfjs-node is not installed');
  const binding = new Error("Cannot find module '/x/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node'\nRequire stack: ...");
  assert.equal(describeTfjsNodeError(binding), '@tensorflow/tfjs-node is installed but its native TensorFlow binding is missing');
  assert.equal(describeTfjsNodeError(new Error('boom\nstack')), '@tensorflow/tfjs-node failed to load: boom');
});

test('packaged paths point into app.asar.unpacked, once', () => {
  assert.equal(unpackedAsarPath('/opt/Studio/resources/app.asar/node_modules/w/dist'), '/opt/Studio/resources/app.asar.unpacked/node_modules/w/dist');
  assert.equal(unpackedAsarPath('C:\\Studio\\resources\\app.asar\\node_modules\\w'), 'C:\\Studio\\resources\\app.asar.unpacked\\node_modules\\w');
  assert.equal(unpackedAsarPath('/r/app.asar.unpacked/node_modules'), '/r/app.asar.unpacked/node_modules');
  assert.equal(unpackedAsarPath('/work/main/node_modules/w'), '/work/main/node_modules/w');
});

test('the wasm binaries are found in the installed package', () => {
  const dir = wasmBinaryDir();
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) assert.ok(existsSync(dir + f), dir + f);
});

test("auto picks the best backend here, says why tfjs-node was skipped, and trains conv2d like cpu", async () => {
  const info = await initBackend('auto');
  if (tfjsNodeInstalled()) {
    assert.equal(info.name, 'tensorflow');
    return;
  }
  assert.equal(info.name, 'wasm');
  assert.deepEqual(info.fallbacks, [{ name: 'tensorflow', reason: '@tensorflow/tfjs-node is not installed' }]);
  assert.equal(info.threads, 1); // Node: the wasm backend runs without worker threads
  assert.equal(await initBackend('auto'), info, 'a second call returns the same info');
  assert.equal(backendInfo(), info);
  assert.equal(tf.getBackend(), 'wasm');

  // initBackend registered the training kernels: a conv weight gradient runs on wasm and matches cpu.
  const dW = () => {
    const x = tf.tensor4d(seeded(2 * 7 * 7 * 3, 1), [2, 7, 7, 3]);
    const w = tf.tensor4d(seeded(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
    return [tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 2, 'same'))))(w)];
  };
  const [got] = await on('wasm', dW);
  const [ref] = await on('cpu', dW);
  assert.ok(maxAbsDiff(ref!, got!) <= bound(ref!));
  await tf.setBackend('wasm');
});

test('STUDIO_BACKEND=tensorflow that cannot load falls down the ladder and says why', async (t) => {
  if (tfjsNodeInstalled()) return t.skip('tfjs-node is installed here');
  process.env[BACKEND_ENV] = 'tensorflow';
  try {
    const info = await initBackend();
    assert.equal(info.name, 'wasm');
    assert.deepEqual(info.fallbacks, [{ name: 'tensorflow', reason: '@tensorflow/tfjs-node is not installed' }]);
  } finally {
    delete process.env[BACKEND_ENV];
  }
});

test('STUDIO_BACKEND=cpu forces cpu and names the skipped rungs', async () => {
  process.env[BACKEND_ENV] = 'cpu';
  try {
    const info = await initBackend();
    assert.equal(info.name, 'cpu');
    assert.deepEqual(info.fallbacks.map((f) => f.name), ['tensorflow', 'wasm']);
    assert.match(info.fallbacks[0]!.reason, /forced by STUDIO_BACKEND=cpu/);
  } finally {
    delete process.env[BACKEND_ENV];
  }
});

test("initBackend('cpu') reports cpu and switches to it", async () => {
  const info = await initBackend('cpu');
  assert.equal(info.name, 'cpu');
  assert.equal(info.threads, 1);
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(backendInfo(), info);
  assert.equal(await initBackend('cpu'), info);
  const sum = tf.tidy(() => tf.sum(tf.tensor1d([0.5, 1.5, 2])).dataSync()[0]);
  assert.equal(sum, 4); // the cpu backend computes
});
