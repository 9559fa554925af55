/**
 * Runs a written .tflite file in the real TFLite interpreter (runtime.ts) on
 * the eval samples, a batch per Invoke (a copy of the file with its batch
 * axis set, batch.ts; the file itself has batch 1), and compares it with the
 * studio's TFLite simulation (simulate.ts, given with its record: which
 * runtime ran it).
 *
 * Integer input/output files are fed as the interpreter's float → int8
 * QUANTIZE does (XNNPACK's conversion, measured): q = clamp(round_half_even(
 * f32(x · f32(1/s))) + zp, −128, 127), and read back as (q − zp)·s, so both
 * kinds of file are compared on the same float outputs.
 * A model whose input goes through preprocessing (Rescaling / Normalization)
 * is fed the preprocessed samples (preprocessedSamples), as the file takes them.
 *
 * The integer reference runs beside it on the model the file holds (the
 * lowered graph, TFLite's grids) with the arithmetic measured in this
 * interpreter (TFLITE_INTEGER_OPTIONS).
 */
import type { AffineNode } from '../../engine/graph/types.js';
import { tryIntegerAgreement, type IntegerModelInput, type IntegerOptions } from '../../engine/integer/index.js';
import { readFile } from 'node:fs/promises';
import { ExportError } from '../errors.js';
import { compareOutputs, type EvalSamples } from '../../engine/eval-samples.js';
import { roundHalfEven } from '../../engine/quant/int-tensors.js';
import type { SimulatedOutputs, Verification } from '../verify.js';
import { TFLITE_WASM_VARIANT, TfliteInterpreter, tfliteVersion } from './runtime.js';
import { tfliteBatchFor, withBatch } from './batch.js';
import { memoryBudget } from '../../engine/memory.js';

/**
 * The integer reference's settings for this interpreter (tfjs-tflite's wasm
 * build), as measured by the tests: requantization rounds halves up
 * (TFLITE_SINGLE_ROUNDING's MultiplyByQuantizedMultiplier), float → int8
 * rounds halves to even, and QUANTIZE, the convolutions and FULLY_CONNECTED,
 * ADD, MUL, MEAN and LEAKY_RELU run as XNNPACK's int8 kernels (QUANTIZE
 * multiplying by f32(1/s), the others rescaling in float32 and rounding
 * halves to even, ADD with 20-bit multipliers, LEAKY_RELU with its slopes in Q8).
 */
export const TFLITE_INTEGER_OPTIONS: IntegerOptions = { requantRounding: 'single', quantizeRounding: 'half-even', elementwise: 'tflite', xnnpack: true };

/**
 * The samples as the file's input takes them: through the model's
 * preprocessing chain in float32 (x·scale, then + offset, per channel), as the
 * runtime computes those layers.
 */
export function preprocessedSamples(samples: EvalSamples, affines: readonly AffineNode[]): EvalSamples {
  if (affines.length === 0) return samples;
  return {
    ...samples,
    batch(start, count) {
      const x = samples.batch(start, count).slice();
      for (const a of affines) {
        const channels = a.scale.length;
        for (let i = 0; i < x.length; i++) {
          const c = channels === 1 ? 0 : i % channels;
          x[i] = Math.fround(Math.fround(x[i]! * Math.fround(a.scale[c]!)) + Math.fround(a.offset[c]!));
        }
      }
      return x;
    },
  };
}

/** int8 grid of the model input / output (integer IO). */
export interface Int8Grid {
  scale: number;
  zeroPoint: number;
}

export interface TfliteRunOptions {
  /** Given for an integer-IO file: the grids of its input and output tensors. */
  int8?: { input: Int8Grid; output: Int8Grid };
  /** Samples per Invoke (default: tfliteBatchFor the memory budget, at most TFLITE_MAX_BATCH; 1 runs the file itself). */
  batch?: number;
  /** Bytes; default $STUDIO_MEMORY_BUDGET, else 1 GiB. */
  memoryBudget?: number;
}

/** The file's outputs on the samples, back to back, and the batch it ran at. */
export async function runTfliteBatched(file: string, samples: EvalSamples, opts: TfliteRunOptions = {}): Promise<{ outputs: Float32Array; batch: number }> {
  let interp: TfliteInterpreter;
  let batch: number;
  try {
    const bytes = await readFile(file);
    const n = Math.max(1, samples.labels.length);
    const most = Math.min(tfliteBatchFor(bytes, memoryBudget(opts.memoryBudget)), n);
    // The fewest Invokes, evenly filled (a last batch mostly empty would compute its unused rows for nothing).
    batch = Math.min(opts.batch ?? Math.ceil(n / Math.ceil(n / most)), n);
    interp = await TfliteInterpreter.create(withBatch(bytes, batch));
  } catch (e) {
    throw new ExportError(`the TFLite interpreter could not load ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'tflite' }, { cause: e });
  }
  const per = samples.inputShape.reduce((a, b) => a * b, 1);
  const n = samples.labels.length;
  try {
    const [input] = interp.inputs();
    const [output] = interp.outputs();
    if (!input || !output) throw new Error('the model has no input or no output');
    const inSize = input.shape.reduce((a, b) => a * b, 1);
    if (inSize !== per * batch) throw new Error(`input ${input.name} [${input.shape}] holds ${inSize} values, ${batch} samples have ${per * batch}`);
    const classes = output.shape.reduce((a, b) => a * b, 1) / batch;
    const out = new Float32Array(n * classes);
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      const x = samples.batch(start, size);
      const buf = input.data();
      if (opts.int8) {
        const { scale, zeroPoint } = opts.int8.input;
        const inv = Math.fround(1 / scale);
        for (let k = 0; k < size * per; k++) buf[k] = Math.min(127, Math.max(-128, roundHalfEven(Math.fround(x[k]! * inv)) + zeroPoint));
      } else buf.set(x.subarray(0, size * per));
      // A last, partial batch: the rows past `size` hold the previous batch's samples; their outputs are dropped.
      interp.invoke();
      const y = output.data().subarray(0, size * classes);
      if (opts.int8) {
        const { scale, zeroPoint } = opts.int8.output;
        for (let k = 0; k < size * classes; k++) out[start * classes + k] = Math.fround((y[k]! - zeroPoint) * scale);
      } else out.set(y, start * classes);
      samples.onBatch?.('TFLite interpreter', start + size, n);
    }
    return { outputs: out, batch };
  } catch (e) {
    throw new ExportError(`the TFLite interpreter failed running ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'tflite' }, { cause: e });
  } finally {
    interp.close();
  }
}

/** The file's outputs on the samples, back to back (runTfliteBatched). */
export async function runTflite(file: string, samples: EvalSamples, opts: TfliteRunOptions = {}): Promise<Float32Array> {
  return (await runTfliteBatched(file, samples, opts)).outputs;
}

/** The integer reference of a verification: the model the file holds, on the raw samples (it runs the preprocessing itself). */
export interface TfliteIntegerCheck {
  model: IntegerModelInput;
  samples: EvalSamples;
  options?: IntegerOptions;
}

/**
 * `samples` are the file's inputs (preprocessed when the model preprocesses).
 * With `integer`, the verification also carries the integer reference's
 * agreement with the interpreter and with the simulation (Verification.integer).
 */
export async function verifyTflite(
  file: string,
  samples: EvalSamples,
  simulation: SimulatedOutputs,
  opts: TfliteRunOptions = {},
  integer?: TfliteIntegerCheck,
): Promise<Verification> {
  const started = performance.now();
  const { outputs: out, batch } = await runTfliteBatched(file, samples, opts);
  const cmp = compareOutputs(out, simulation.outputs, samples.labels, out.length / samples.labels.length);
  return {
    ...(integer ? { integer: tryIntegerAgreement(integer.model, integer.samples, { runtime: out, simulation: simulation.outputs }, integer.options ?? TFLITE_INTEGER_OPTIONS) } : {}),
    runtime: `TFLite interpreter (wasm, @tensorflow/tfjs-tflite ${tfliteVersion()}) in Node`,
    settings: { build: TFLITE_WASM_VARIANT, numThreads: 1, batch, io: opts.int8 ? 'int8' : 'float' },
    simulation: simulation.record,
    ...cmp,
    seconds: (performance.now() - started) / 1000,
  };
}
