/**
 * Tile for wasm. The backend's Tile is a per-element index loop and is the
 * slowest op of a batch-norm training step (tf.batchNorm's gradient tiles
 * 1/sqrt(var) to the full activation shape). A tile is a broadcast: view x as
 * [1, d0, 1, d1, ...] and multiply by ones [r0, 1, r1, 1, ...] (logicalAnd for
 * bool); exact, since x*1 == x for every float including -0, inf and NaN.
 * Shapes that stay above XNNPACK's 6 broadcast dims after merging, and
 * non-numeric dtypes, go to the backend's own kernel.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import type { NativeKernelFunc } from './override.js';

const MAX_BROADCAST_DIMS = 6;

/**
 * The broadcast that tiles `shape` by `reps`, with size-1 axes dropped and
 * runs of data axes merged, so a per-channel tile becomes [1, C] * [NHW, 1].
 */
export function tileAsBroadcast(shape: readonly number[], reps: readonly number[]): { data: number[]; ones: number[] } {
  const axes: { rep: number; size: number }[] = [];
  const push = (rep: number, size: number) => {
    if (rep === 1 && size === 1) return;
    const last = axes[axes.length - 1];
    // Two data axes in a row (or two repeat axes) are contiguous: merge them.
    if (last && (last.rep === 1) === (rep === 1)) {
      last.rep *= rep;
      last.size *= size;
    } else axes.push({ rep, size });
  };
  shape.forEach((d, i) => {
    push(reps[i] ?? 1, 1);
    push(1, d);
  });
  return { data: axes.map((a) => a.size), ones: axes.map((a) => a.rep) };
}

export function tileKernel(
  { inputs, backend, attrs }: KernelArgs,
  native?: NativeKernelFunc,
): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const { reps } = attrs as unknown as tf.TileAttrs;
  const { x } = inputs as tf.TileInputs;
  if (x === undefined) throw new Error('Tile needs x');
  const { data, ones } = tileAsBroadcast(x.shape, reps);
  const numeric = x.dtype === 'float32' || x.dtype === 'int32' || x.dtype === 'bool';
  if (!numeric || data.length > MAX_BROADCAST_DIMS || x.shape.length === 0) {
    if (!native) throw new Error(`wasm Tile: cannot compose a ${x.dtype} tile of rank ${x.shape.length}`);
    return native({ inputs, backend, attrs }) as tf.TensorInfo;
  }
  const outShape = x.shape.map((d, i) => d * (reps[i] ?? 1));
  return composedOutput(b, () => {
    const t = asTensor(x, b);
    if (ones.every((r) => r === 1)) return t; // nothing repeats (or empty): a tile is the input itself
    const viewed = tf.reshape(t, data);
    const filler = tf.ones(ones, x.dtype);
    const spread = x.dtype === 'bool' ? tf.logicalAnd(viewed, filler) : tf.mul(viewed, filler);
    return tf.reshape(spread, outShape);
  });
}
