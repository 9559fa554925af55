/**
 * Test support: run the same computation on wasm and on the cpu reference
 * backend and measure how far apart the results are.
 *
 * Tolerance: both backends compute in float32 but sum in different orders
 * (XNNPACK blocks and vectorises, cpu loops). Each gradient entry here is a sum
 * of at most a few thousand products, so reordering moves it by at most
 * ~K * 6e-8 * max|term|; the bound 1e-4 * max|ref| + 1e-5 leaves ample room
 * for that while still catching any indexing or padding mistake, which moves
 * entries by O(max|ref|).
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../../src-main/engine/backend.js';

export const REL_TOL = 1e-4;
export const ABS_TOL = 1e-5;

/** Loads wasm through the studio's own ladder (paths + kernels), then leaves backend switching to the test. */
export async function setupBackends(): Promise<void> {
  const info = await initBackend('wasm');
  if (info.name !== 'wasm') throw new Error(`wasm did not load: ${JSON.stringify(info.fallbacks)}`);
}

/** Runs `f` on `backend` and copies its outputs out as plain arrays. */
export async function on(backend: 'wasm' | 'cpu', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  if (tf.getBackend() !== backend) throw new Error(`expected to run on ${backend}, ran on ${tf.getBackend()}`);
  const values = outs.map((t) => Float32Array.from(t.dataSync()));
  tf.dispose(outs);
  return values;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d; // NaN on one side only is a mismatch
  }
  return m;
}

export function bound(ref: ArrayLike<number>, rel = REL_TOL, abs = ABS_TOL): number {
  return rel * maxAbs(ref) + abs;
}

/** Deterministic values in [-1, 1) so the two backends see identical inputs. */
export function seeded(size: number, seed: number): Float32Array {
  let s = (seed >>> 0) || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Keeps the worst case across runs of a property, for the one-line report. */
export class Worst {
  diff = 0;
  ratio = 0;
  runs = 0;
  note(diff: number, limit: number): void {
    this.runs++;
    this.diff = Math.max(this.diff, diff);
    this.ratio = Math.max(this.ratio, diff / limit);
  }
  /** One line per kernel; `exact` for ops that copy or select and so must not differ at all. */
  report(kernel: string, exact = false): void {
    const against = exact ? 'required: 0' : `worst case ${(this.ratio * 100).toFixed(2)}% of its bound`;
    console.log(`${kernel}: max |wasm - cpu| = ${this.diff.toExponential(2)} over ${this.runs} cases (${against})`);
  }
}
