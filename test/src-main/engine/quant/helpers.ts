/**
 * Test support for the quantization numerics: backends, seeded data, and slow
 * per-element JS references of the fake-quant op.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';
import type { RoundingMode } from '../../../../src-main/engine/quant/fake-quant.js';
import type { QParams } from '../../../../src-main/engine/quant/qparams.js';
import { channelLayout } from '../../../../src-main/engine/quant/spec.js';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof BACKENDS)[number];

/** Loads wasm through the studio's ladder once (so both backends are registered), then leaves cpu active. */
export async function setupBackends(): Promise<void> {
  const info = await initBackend('wasm');
  if (info.name !== 'wasm') throw new Error(`wasm did not load: ${JSON.stringify(info.fallbacks)}`);
  await tf.setBackend('cpu');
}

export async function use(backend: TestBackend): Promise<void> {
  await tf.setBackend(backend);
  if (tf.getBackend() !== backend) throw new Error(`could not switch to ${backend}`);
}

/** xorshift32 in [0, 1). */
export function rng(seed: number): () => number {
  let s = (seed >>> 0) || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Standard normal samples (Box–Muller), float32. */
export function gaussian(n: number, seed: number, sigma = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * sigma;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

const f = Math.fround;

function roundHalfEven(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

function roundHalfAwayRef(v: number): number {
  const a = Math.abs(v);
  const fl = Math.floor(a);
  return Math.sign(v) * (a - fl >= 0.5 ? fl + 1 : fl);
}

/**
 * One element of fake quant, every step rounded to float32 as the tensor ops
 * do (see fake-quant.ts for the formulas).
 */
export function fakeQuantScalar(x: number, scale: number, zeroPoint: number, nudgedMin: number, nudgedMax: number, qmin: number, qmax: number, rounding: RoundingMode): number {
  if (rounding === 'half-up') {
    const c = Math.min(Math.max(f(x), nudgedMin), nudgedMax);
    const q = Math.floor(f(f(f(c - nudgedMin) / scale) + 0.5));
    return f(f(q * scale) + nudgedMin);
  }
  const v = f(f(x) / scale);
  const r = rounding === 'half-even' ? roundHalfEven(v) : roundHalfAwayRef(v);
  const clamped = Math.min(Math.max(r, qmin - zeroPoint), qmax - zeroPoint);
  return f(clamped * scale);
}

/** Slow reference of fakeQuant over a row-major array; `axis` undefined = per-tensor. */
export function fakeQuantRef(data: ArrayLike<number>, shape: number[], qp: QParams, axis: number | undefined, rounding: RoundingMode): Float32Array {
  const { outer, channels, inner } = channelLayout(shape, axis);
  const out = new Float32Array(data.length);
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const k = axis === undefined ? 0 : c;
      for (let j = 0; j < inner; j++, i++) {
        out[i] = fakeQuantScalar(data[i]!, qp.scale[k]!, qp.zeroPoint[k]!, qp.nudgedMin[k]!, qp.nudgedMax[k]!, qp.qmin, qp.qmax, rounding);
      }
    }
  }
  return out;
}

/** Mean squared error of fake-quantizing `data` with one channel's qparams (half-up), float64. */
export function empiricalMse(data: ArrayLike<number>, scale: number, nudgedMin: number, nudgedMax: number): number {
  let s = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    const c = Math.min(Math.max(x, nudgedMin), nudgedMax);
    const q = Math.floor((c - nudgedMin) / scale + 0.5) * scale + nudgedMin;
    s += (x - q) * (x - q);
  }
  return s / data.length;
}

export function assertClose(actual: number, expected: number, tol: number, what: string): void {
  if (!(Math.abs(actual - expected) <= tol)) throw new Error(`${what}: got ${actual}, expected ${expected} ± ${tol}`);
}
