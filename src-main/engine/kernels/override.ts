/**
 * Replacing a kernel the wasm backend already has with a composed one (when
 * the backend's is wrong or much slower). The backend's own kernel is kept as
 * a delegate for the cases the composed version does not cover, and its
 * setupFunc is carried over because the backend runs setup (which binds the
 * native function) only for kernels registered when it initialises.
 */
import { tf } from '../tfjs.js';
import type { KernelArgs } from './bridge.js';

export type NativeKernelFunc = tf.KernelFunc;
export type ComposedKernel = (args: KernelArgs, native?: NativeKernelFunc) => tf.TensorInfo;

const ours = new WeakSet<tf.KernelFunc>();

/** Registers `kernel` for `kernelName` on wasm, in place of whatever is there. False if ours already is. */
export function overrideWasmKernel(kernelName: string, kernel: ComposedKernel): boolean {
  const existing = tf.getKernel(kernelName, 'wasm');
  if (existing && ours.has(existing.kernelFunc)) return false;
  if (existing) tf.unregisterKernel(kernelName, 'wasm'); // registering over it would warn on every start
  const native = existing?.kernelFunc;
  const kernelFunc: tf.KernelFunc = (args) => kernel(args, native);
  ours.add(kernelFunc);
  const config: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc };
  if (existing?.setupFunc) config.setupFunc = existing.setupFunc;
  if (existing?.disposeFunc) config.disposeFunc = existing.disposeFunc;
  tf.registerKernel(config);
  return true;
}
