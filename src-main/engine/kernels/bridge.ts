/**
 * Lets a kernel be written with ordinary tf ops. A kernelFunc receives and
 * returns TensorInfos whose buffers are reference-counted by the backend; the
 * two helpers below keep those counts balanced so nothing leaks or is freed
 * early.
 */
import { tf } from '../tfjs.js';

/** What every kernelFunc receives (its backend is the active one, typed `{}` by tfjs). */
export type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * Wraps a kernel input as a Tensor. The wrapper takes its own reference on
 * the buffer, so disposing it (e.g. at the end of a tidy) leaves the input
 * alive for its owner.
 */
export function asTensor<R extends tf.Rank>(info: tf.TensorInfo, backend: tf.KernelBackend): tf.Tensor<R> {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend) as tf.Tensor<R>;
}

/**
 * Runs `build` under a tidy and hands its result back as a kernel output:
 * intermediates are freed, and the result's buffer gets one reference that
 * the engine's output tensor will own (the temporary wrapper gives its own up).
 */
export function composedOutput(backend: tf.KernelBackend, build: () => tf.Tensor): tf.TensorInfo {
  const out = tf.tidy(build);
  backend.incRef(out.dataId);
  const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
  out.dispose();
  return info;
}
