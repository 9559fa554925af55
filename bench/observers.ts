/**
 * Observer throughput on the active backend: per-channel minmax observers on
 * NHWC activations [64,28,28,32] and [64,14,14,64] (samples/s = batch rows
 * per second of observe()), and on Dense / Conv2D / depthwise kernels
 * (observations/s), plus per-tensor minmax and a two-pass per-channel
 * histogram observer (percentile) for comparison. Figures only, never asserted.
 *
 * Run from bench/run.ts, or directly: `node dist/bench/observers.js`
 * (initialises the backend ladder, honouring $STUDIO_BACKEND).
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Estimator } from '../src-main/api/run-config.js';
import { initBackend } from '../src-main/engine/backend.js';
import { createObserver, type Observer } from '../src-main/engine/quant/observers/index.js';
import { perChannelSymmetricWeights, perTensorAsymmetricActivations8 } from '../src-main/engine/quant/spec.js';
import type { QuantSpec } from '../src-main/api/run-config.js';

const PER_CHANNEL_ACT: QuantSpec = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-channel' };

/** Median seconds per call of `f` over `reps` calls after `warmup` calls. */
function time(f: () => void, reps: number, warmup = 2): number {
  for (let i = 0; i < warmup; i++) f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    f();
    t.push((performance.now() - s) / 1000);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

function observeCase(obs: () => Observer, x: tf.Tensor, reps: number, passes: number[] = [0]): number {
  const o = obs();
  return time(() => {
    for (const p of passes) o.observe(x, p);
  }, reps);
}

export async function benchObservers(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const minmax = Estimator.parse({ kind: 'minmax' });
  const percentile = Estimator.parse({ kind: 'percentile' });
  const report = (key: string, value: number, unit: string) => {
    out[key] = value;
    console.log(`  ${key.padEnd(56)} ${value.toFixed(0).padStart(10)} ${unit}`);
  };
  console.log(`  backend ${tf.getBackend()}`);
  for (const shape of [
    [64, 28, 28, 32],
    [64, 14, 14, 64],
  ]) {
    const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const label = `[${shape.join(',')}]`;
    const reps = 15;
    const pc = observeCase(() => createObserver(minmax, PER_CHANNEL_ACT, { axis: 3 }), x, reps);
    report(`minmax per-channel ${label} samples/s`, shape[0]! / pc, 'samples/s');
    const pt = observeCase(() => createObserver(minmax, perTensorAsymmetricActivations8), x, reps);
    report(`minmax per-tensor ${label} samples/s`, shape[0]! / pt, 'samples/s');
    const hist = createObserver(percentile, PER_CHANNEL_ACT, { axis: 3 });
    hist.observe(x, 0);
    const h1 = time(() => hist.observe(x, 1), 5, 1);
    report(`percentile per-channel pass 1 ${label} samples/s`, shape[0]! / h1, 'samples/s');
    x.dispose();
  }
  for (const [name, shape, axis] of [
    ['dense [784,128]', [784, 128], 1],
    ['conv2d [3,3,32,64]', [3, 3, 32, 64], 3],
    ['depthwise view [3,3,256]', [3, 3, 256], 2],
  ] as const) {
    const w = tf.randomNormal(shape as unknown as number[], 0, 0.1, 'float32', 2);
    const s = observeCase(() => createObserver(minmax, perChannelSymmetricWeights(8, axis)), w, 50);
    report(`minmax per-channel kernel ${name} obs/s`, 1 / s, 'observations/s');
    w.dispose();
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const info = await initBackend('auto');
  console.log(`backend: ${info.name}`);
  await benchObservers();
}
