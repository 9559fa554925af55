/**
 * The integer reference next to a runtime and the studio's simulation: its
 * accuracy on the eval samples, top-1 agreement and output differences with
 * each (first index of the largest output, as compareOutputs counts it).
 * This is the `integer` field of an export's verification.
 */
import { compareOutputs, type EvalSamples } from '../eval-samples.js';
import { IntegerReferenceError, type IntegerModelInput } from './layers.js';
import { compileIntegerModel, type IntegerOptions } from './program.js';
import { runProgram } from './run.js';

export interface IntegerVerification {
  /** What ran, in words. */
  reference: string;
  settings: Required<IntegerOptions>;
  count: number;
  accuracy: number;
  /** Against the file's outputs in its runtime, when given. */
  agreementWithRuntime?: number;
  maxAbsDiffRuntime?: number;
  meanAbsDiffRuntime?: number;
  /** First sample indices whose top-1 differs from the runtime's. */
  disagreementsWithRuntime?: number[];
  /** Against the studio's fake-quant simulation of the export, when given. */
  agreementWithSimulation?: number;
  maxAbsDiffSimulation?: number;
  meanAbsDiffSimulation?: number;
  disagreementsWithSimulation?: number[];
  seconds: number;
}

/** The model has a layer the integer reference cannot run: said instead of failing the export's verification. */
export interface IntegerUnavailable {
  unavailable: string;
  layer: string;
}

/** Samples read and run per block. */
const AGREEMENT_BLOCK = 100;

export const INTEGER_REFERENCE_DESCRIPTION =
  'studio integer reference: int8/uint8 activations, int8 weights, int32 accumulators and biases, TFLite fixed-point requantization (QuantizeMultiplier + MultiplyByQuantizedMultiplier); a softmax/sigmoid/tanh ending a Dense/Conv runs in float on the dequantized accumulators';

/**
 * Runs the integer reference on `samples` and compares it with the runtime's
 * and the simulation's outputs (each optional, same layout: count × classes).
 */
export function integerAgreement(
  model: IntegerModelInput,
  samples: EvalSamples,
  against: { runtime?: Float32Array; simulation?: Float32Array } = {},
  opts: IntegerOptions = {},
): IntegerVerification {
  const started = performance.now();
  const program = compileIntegerModel(model, opts);
  const n = samples.labels.length;
  // Samples are read from the dataset a block at a time (EvalSamples.batch); progress counts over all of them.
  const out = new Float32Array(n * program.outputSize);
  for (let start = 0; start < n; start += AGREEMENT_BLOCK) {
    const size = Math.min(AGREEMENT_BLOCK, n - start);
    const onBatch = samples.onBatch ? (done: number) => samples.onBatch!('integer reference', start + done, n) : undefined;
    out.set(runProgram(program, samples.batch(start, size), size, onBatch), start * program.outputSize);
  }
  const classes = program.outputSize;
  const self = compareOutputs(out, out, samples.labels, classes);
  const result: IntegerVerification = { reference: INTEGER_REFERENCE_DESCRIPTION, settings: program.options, count: n, accuracy: self.runtimeAccuracy, seconds: 0 };
  if (against.runtime) {
    const c = compareOutputs(out, against.runtime, samples.labels, classes);
    Object.assign(result, { agreementWithRuntime: c.agreement, maxAbsDiffRuntime: c.maxAbsDiff, meanAbsDiffRuntime: c.meanAbsDiff, disagreementsWithRuntime: c.disagreements });
  }
  if (against.simulation) {
    const c = compareOutputs(out, against.simulation, samples.labels, classes);
    Object.assign(result, { agreementWithSimulation: c.agreement, maxAbsDiffSimulation: c.maxAbsDiff, meanAbsDiffSimulation: c.meanAbsDiff, disagreementsWithSimulation: c.disagreements });
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** integerAgreement, or why the model has no integer form (any other error still throws). */
export function tryIntegerAgreement(...args: Parameters<typeof integerAgreement>): IntegerVerification | IntegerUnavailable {
  try {
    return integerAgreement(...args);
  } catch (e) {
    if (e instanceof IntegerReferenceError) return { unavailable: e.message, layer: e.layer };
    throw e;
  }
}
