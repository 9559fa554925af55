/**
 * OneHot for wasm. The backend's kernel (tfjs-backend-wasm 4.22) writes int32
 * values whatever dtype is asked for, so tf.oneHot(labels, n, 1, 0, 'float32')
 * yields 1.4e-45 instead of 1 and cross-entropy silently trains on garbage.
 * int32 requests still go to it; other dtypes take its int32 result as a mask
 * and pick onValue / offValue exactly.
 */
import { tf } from '../tfjs.js';
import { asTensor, composedOutput, type KernelArgs } from './bridge.js';
import type { NativeKernelFunc } from './override.js';

export function oneHotKernel({ inputs, backend, attrs }: KernelArgs, native?: NativeKernelFunc): tf.TensorInfo {
  const b = backend as tf.KernelBackend;
  const a = attrs as unknown as tf.OneHotAttrs;
  const { indices } = inputs as tf.OneHotInputs;
  if (indices === undefined) throw new Error('OneHot needs indices');
  if (!native) throw new Error('wasm OneHot: the backend kernel is missing');
  if (a.dtype === 'int32') return native({ inputs, backend, attrs }) as tf.TensorInfo;
  const hotInfo = native({ inputs, backend, attrs: { ...a, dtype: 'int32', onValue: 1, offValue: 0 } as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  return composedOutput(b, () => {
    const hot = asTensor(hotInfo, b);
    b.disposeData(hotInfo.dataId); // the wrapper above now holds the only reference
    const on = tf.scalar(a.onValue, a.dtype), off = tf.scalar(a.offValue, a.dtype);
    return tf.where(tf.cast(hot, 'bool'), on, off);
  });
}
