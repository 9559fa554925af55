/**
 * The runtime choice and the execution provider. A GPU cannot be exercised
 * here: the tests check the choice (request, then STUDIO_EXECUTION_PROVIDER,
 * then cpu), that a provider onnxruntime-node does not ship for the platform
 * falls back to cpu with the reason before any session is tried, and that a
 * shipped provider whose libraries are missing (CUDA on this machine) falls
 * back to cpu with onnxruntime's own error, the session still running.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OnnxBuilder, encodeModel } from '../../../../src-main/engine/onnx/builder.js';
import { createSession, executionProviderChoice, loadOnnxRuntime, providerUnavailable, runtimeChoiceFromEnv } from '../../../../src-main/engine/native/session.js';

function addOne(): Uint8Array {
  const b = new OnnxBuilder();
  const x = b.input('x', [2]);
  b.output('y', b.op('Add', [x, b.f32(1)]));
  return encodeModel(b.model('add_one', { opset: 17, irVersion: 8, domain: 'studio.test' }));
}

describe('native sessions', () => {
  test('runtime choice: the pass variable, then STUDIO_RUNTIME, then auto; bad values name the variable', () => {
    assert.equal(runtimeChoiceFromEnv('STUDIO_EVALUATION_RUNTIME', {}), 'auto');
    assert.equal(runtimeChoiceFromEnv('STUDIO_EVALUATION_RUNTIME', { STUDIO_RUNTIME: 'tfjs' }), 'tfjs');
    assert.equal(runtimeChoiceFromEnv('STUDIO_EVALUATION_RUNTIME', { STUDIO_RUNTIME: 'tfjs', STUDIO_EVALUATION_RUNTIME: 'onnxruntime' }), 'onnxruntime');
    assert.throws(() => runtimeChoiceFromEnv('STUDIO_EVALUATION_RUNTIME', { STUDIO_EVALUATION_RUNTIME: 'gpu' }), /STUDIO_EVALUATION_RUNTIME=gpu is not one of auto, onnxruntime, tfjs/);
  });

  test('execution provider: request, then STUDIO_EXECUTION_PROVIDER, then cpu', () => {
    assert.equal(executionProviderChoice('cuda', { STUDIO_EXECUTION_PROVIDER: 'dml' }).requested, 'cuda');
    assert.equal(executionProviderChoice(undefined, { STUDIO_EXECUTION_PROVIDER: 'DML' }).requested, 'dml');
    assert.equal(executionProviderChoice(undefined, {}).requested, 'cpu');
  });

  test('providers are checked against what onnxruntime-node ships per platform', () => {
    assert.equal(providerUnavailable('cpu', 'linux'), null);
    assert.equal(providerUnavailable('cuda', 'linux'), null);
    assert.equal(providerUnavailable('dml', 'win32'), null);
    assert.equal(providerUnavailable('coreml', 'darwin'), null);
    assert.match(providerUnavailable('dml', 'linux')!, /ships no dml execution provider for linux \(it has cpu, cuda, tensorrt\)/);
    assert.match(providerUnavailable('coreml', 'win32')!, /ships no coreml/);
  });

  test('an unshipped provider falls back to cpu with the reason, and the session runs', async () => {
    const ort = await loadOnnxRuntime();
    const { session, placement } = await createSession(addOne(), { provider: 'coreml', platform: 'linux', threads: 1 });
    try {
      assert.equal(placement.provider, 'cpu');
      assert.match(placement.fallback!, /no coreml execution provider for linux/);
      const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2]), [2]) });
      assert.deepEqual(Array.from(out['y']!.data as Float32Array), [2, 3]);
    } finally {
      await session.release();
    }
  });

  test('a shipped provider that cannot start here (CUDA without its libraries) falls back to cpu with its error', async () => {
    const { session, placement } = await createSession(addOne(), { provider: 'cuda', platform: 'linux', threads: 1 });
    try {
      assert.equal(placement.threads, 1);
      if (placement.provider === 'cuda') return; // a machine with CUDA: nothing to fall back from.
      assert.equal(placement.provider, 'cpu');
      assert.match(placement.fallback!, /^the cuda execution provider failed: ./);
    } finally {
      await session.release();
    }
  });

  test('cpu by default, no fallback', async () => {
    const { session, placement } = await createSession(addOne(), { threads: 2 });
    await session.release();
    assert.deepEqual(placement, { provider: 'cpu', threads: 2 });
  });
});
