/**
 * The integer reference: a quantized run executed as integer arithmetic the
 * way TFLite's reference kernels do (int8 × int8 → int32, fixed-point
 * requantization), so the studio predicts what an integer runtime computes.
 *
 * An exporter adds it to its verification with one call, after running the
 * written file (outputs `runtime`) and the simulation (`simulation`):
 *   verification.integer = tryIntegerAgreement(input, input.samples, { runtime, simulation });
 * (a model with a layer that has no integer form gives { unavailable, layer }).
 */
export { runIntegerReference, runProgram } from './run.js';
export { compileIntegerModel, type IntegerOptions, type IntegerProgram } from './program.js';
export { IntegerReferenceError, type IntegerModelInput } from './layers.js';
export { integerAgreement, tryIntegerAgreement, type IntegerUnavailable, type IntegerVerification } from './agreement.js';
export { multiplyByQuantizedMultiplier, quantizeMultiplier, type RequantRounding } from './fixed-point.js';
