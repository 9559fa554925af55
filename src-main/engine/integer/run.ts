/** Runs a quantized model as integer arithmetic over a batch of float samples. */
import { compileIntegerModel, type IntegerOptions, type IntegerProgram } from './program.js';
import type { IntegerModelInput } from './layers.js';

/**
 * The integer reference's outputs for `n` samples of `images` (N·H·W·C floats,
 * NHWC, as the model input), dequantized from the output tensor's grid:
 * n · outputSize values back to back. For a classifier ending in Dense +
 * softmax these are the quantized probabilities (softmax in float, see
 * requantize.ts), as the exported files output.
 */
export function runIntegerReference(model: IntegerModelInput, images: Float32Array, n: number, opts: IntegerOptions = {}): Float32Array {
  return runProgram(compileIntegerModel(model, opts), images, n);
}

/** Runs `n` samples through a compiled program; `onBatch(done, n)` after every 100 samples (it may throw to stop). */
export function runProgram(program: IntegerProgram, images: Float32Array, n: number, onBatch?: (done: number, total: number) => void): Float32Array {
  const per = program.inputSize;
  if (!Number.isInteger(n) || n < 0) throw new Error(`integer reference: sample count ${n} is not a non-negative integer`);
  if (images.length < n * per) throw new Error(`integer reference: ${n} samples of ${per} values need ${n * per} floats, got ${images.length}`);
  const out = new Float32Array(n * program.outputSize);
  for (let s = 0; s < n; s++) {
    program.runSample(images, s * per, out, s * program.outputSize);
    if (onBatch && ((s + 1) % 100 === 0 || s + 1 === n)) onBatch(s + 1, n);
  }
  return out;
}
