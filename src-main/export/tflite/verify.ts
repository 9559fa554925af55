/**
 * Runs a written .tflite file in the real TFLite interpreter (runtime.ts) on
 * the eval samples, one sample per Invoke (the file's batch is 1), and
 * compares it with the studio's TFLite simulation.
 *
 * Integer input/output files are fed as the interpreter's float → int8
 * QUANTIZE does: q = clamp(round_half_even(f32(x / s)) + zp, −128, 127), and read back as
 * (q − zp)·s, so both kinds of file are compared on the same float outputs.
 */
import { tryIntegerAgreement, type IntegerModelInput } from '../../engine/integer/index.js';
import { readFile } from 'node:fs/promises';
import { ExportError } from '../errors.js';
import { roundHalfEven } from '../int-tensors.js';
import { compareOutputs, type EvalSamples, type Verification } from '../verify.js';
import { TFLITE_WASM_VARIANT, TfliteInterpreter, tfliteVersion } from './runtime.js';

const VERIFY_BLOCK = 100;

/** int8 grid of the model input / output (integer IO). */
export interface Int8Grid {
  scale: number;
  zeroPoint: number;
}

export interface TfliteRunOptions {
  /** Given for an integer-IO file: the grids of its input and output tensors. */
  int8?: { input: Int8Grid; output: Int8Grid };
}

export async function runTflite(file: string, samples: EvalSamples, opts: TfliteRunOptions = {}): Promise<Float32Array> {
  let interp: TfliteInterpreter;
  try {
    interp = await TfliteInterpreter.create(await readFile(file));
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
    if (inSize !== per) throw new Error(`input ${input.name} [${input.shape}] holds ${inSize} values, samples have ${per}`);
    const classes = output.shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n * classes);
    let block: Float32Array = new Float32Array(0);
    for (let i = 0; i < n; i++) {
      // Samples are read from the dataset a block at a time.
      if (i % VERIFY_BLOCK === 0) block = samples.batch(i, Math.min(VERIFY_BLOCK, n - i));
      const x = block.subarray((i % VERIFY_BLOCK) * per, (i % VERIFY_BLOCK + 1) * per);
      const buf = input.data();
      if (opts.int8) {
        const { scale, zeroPoint } = opts.int8.input;
        for (let k = 0; k < per; k++) buf[k] = Math.min(127, Math.max(-128, roundHalfEven(Math.fround(x[k]! / scale)) + zeroPoint));
      } else buf.set(x);
      interp.invoke();
      const y = output.data();
      if (opts.int8) {
        const { scale, zeroPoint } = opts.int8.output;
        for (let c = 0; c < classes; c++) out[i * classes + c] = Math.fround((y[c]! - zeroPoint) * scale);
      } else out.set(y.subarray(0, classes), i * classes);
      if ((i + 1) % 100 === 0 || i + 1 === n) samples.onBatch?.('TFLite interpreter', i + 1, n);
    }
    return out;
  } catch (e) {
    throw new ExportError(`the TFLite interpreter failed running ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'tflite' }, { cause: e });
  } finally {
    interp.close();
  }
}

/**
 * With `integer` (the export input: graph, plan, qparams), the verification
 * also carries the integer reference's agreement with the interpreter and
 * with the simulation (Verification.integer).
 */
export async function verifyTflite(
  file: string,
  samples: EvalSamples,
  simulation: Float32Array,
  simulationText: string,
  opts: TfliteRunOptions = {},
  integer?: IntegerModelInput,
): Promise<Verification> {
  const started = performance.now();
  const out = await runTflite(file, samples, opts);
  const cmp = compareOutputs(out, simulation, samples.labels, out.length / samples.labels.length);
  return {
    ...(integer ? { integer: tryIntegerAgreement(integer, samples, { runtime: out, simulation }) } : {}),
    runtime: `TFLite interpreter (wasm, @tensorflow/tfjs-tflite ${tfliteVersion()}) in Node`,
    settings: { build: TFLITE_WASM_VARIANT, numThreads: 1, batch: 1, io: opts.int8 ? 'int8' : 'float' },
    simulation: simulationText,
    ...cmp,
    seconds: (performance.now() - started) / 1000,
  };
}
