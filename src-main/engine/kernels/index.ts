/**
 * Kernels that make training (QAT, fine-tuning) correct and practical on the
 * wasm backend, each composed from ops wasm already runs through XNNPACK.
 *
 * Missing: wasm has no kernel at all, so any conv2d / depthwiseConv2d weight
 * gradient throws "kernel not registered".
 * Replaced: wasm has a kernel, but it is wrong (MaxPoolGrad, OneHot) or a
 * scalar loop that dominates a training step (Conv2DBackpropInput, Tile).
 */
import { createRequire } from 'node:module';
import { tf } from '../tfjs.js';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.js';
import { conv2DBackpropInputKernel } from './conv2d-backprop-input.js';
import { depthwiseBackpropFilterConfig } from './depthwise-backprop-filter.js';
import { depthwiseBackpropInputConfig } from './depthwise-backprop-input.js';
import { maxPoolGradKernel } from './max-pool-grad.js';
import { overrideWasmKernel, type ComposedKernel } from './override.js';
import { oneHotKernel } from './one-hot.js';
import { tileKernel } from './tile.js';

export const missingWasmKernels: readonly tf.KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
];

export const replacedWasmKernels: ReadonlyArray<readonly [string, ComposedKernel]> = [
  [tf.Conv2DBackpropInput, conv2DBackpropInputKernel],
  [tf.MaxPoolGrad, maxPoolGradKernel],
  [tf.Tile, tileKernel],
  [tf.OneHot, oneHotKernel],
];

/**
 * Registers all of the above on 'wasm'; returns the names registered by this
 * call. Idempotent. A missing kernel that wasm has gained meanwhile (a later
 * tfjs) is left alone. Works before or after the wasm backend initialises.
 */
export function registerWasmTrainingKernels(): string[] {
  // The backend's own kernels must be registered first (loading the package later would overwrite ours);
  // require, not import, as engine/tfjs.ts says why.
  createRequire(import.meta.url)('@tensorflow/tfjs-backend-wasm');
  const added: string[] = [];
  for (const config of missingWasmKernels) {
    if (tf.getKernel(config.kernelName, config.backendName) !== undefined) continue;
    tf.registerKernel(config);
    added.push(config.kernelName);
  }
  for (const [name, kernel] of replacedWasmKernels) {
    if (overrideWasmKernel(name, kernel)) added.push(name);
  }
  return added;
}
