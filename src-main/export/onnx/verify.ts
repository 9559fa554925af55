/**
 * Runs a written ONNX file in onnxruntime-node (CPU) on the eval samples and
 * compares it with the studio's 'half-even' simulation of the same export
 * (export/simulate.ts qdqSimulation, itself run on onnxruntime in its own
 * session: float ops, all optimizations, every core).
 *
 * Numerics of the session: graphOptimizationLevel 'disabled' (default) runs
 * the QDQ graph as written — QuantizeLinear rounds half to even and saturates,
 * DequantizeLinear multiplies back, Conv/Gemm run in float32 — exactly the
 * fake-quant arithmetic of the simulation. 'basic' only folds constants
 * (DequantizeLinear of initializers is kept). Both also set
 * session.qdq_matmulnbits_accuracy_level = 0 (no int8-activation MatMul
 * fusion, which moved outputs by 2.5%), and one intra-op thread so results
 * do not depend on the machine.
 */
import * as ort from 'onnxruntime-node';
import { tryIntegerAgreement, type IntegerModelInput } from '../../engine/integer/index.js';
import { ExportError } from '../errors.js';
import { compareOutputs, joinBatches, type EvalSamples } from '../../engine/eval-samples.js';
import type { SimulatedOutputs, Verification } from '../verify.js';
import { ONNX_INPUT, ONNX_OUTPUT } from '../../engine/onnx/build.js';

export function onnxSessionOptions(level: 'disabled' | 'basic' = 'disabled'): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: level,
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    extra: { session: { qdq_matmulnbits_accuracy_level: '0' } },
  };
}

/** The model's outputs on the samples, back to back. */
export async function runOnnx(file: string, samples: EvalSamples, level: 'disabled' | 'basic' = 'disabled', batchSize = 100): Promise<Float32Array> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, onnxSessionOptions(level));
  } catch (e) {
    throw new ExportError(`onnxruntime could not load ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'onnx' }, { cause: e });
  }
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const x = new ort.Tensor('float32', samples.batch(start, size).slice(), [size, ...samples.inputShape]);
      const out = await session.run({ [ONNX_INPUT]: x });
      parts.push(Float32Array.from(out[ONNX_OUTPUT]!.data as Float32Array));
      samples.onBatch?.('onnxruntime', start + size, n);
    }
  } catch (e) {
    throw new ExportError(`onnxruntime failed running ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'onnx' }, { cause: e });
  } finally {
    await session.release();
  }
  return joinBatches(parts);
}

/**
 * `simulation`: the studio's simulation of the file on the samples
 * (runSimulation of qdqSimulation) with its record. With `integer` (the
 * export input: graph, plan, qparams), the verification also carries the
 * integer reference's accuracy and agreement with onnxruntime and with the
 * simulation (Verification.integer). `seconds` counts the runtime's pass and
 * the comparisons; the simulation's own time is in its record.
 */
export async function verifyOnnx(
  file: string,
  samples: EvalSamples,
  simulation: SimulatedOutputs,
  level: 'disabled' | 'basic' = 'disabled',
  integer?: IntegerModelInput,
): Promise<Verification> {
  const started = performance.now();
  const out = await runOnnx(file, samples, level);
  const classes = out.length / samples.labels.length;
  const cmp = compareOutputs(out, simulation.outputs, samples.labels, classes);
  return {
    ...(integer ? { integer: tryIntegerAgreement(integer, samples, { runtime: out, simulation: simulation.outputs }) } : {}),
    runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
    settings: { executionProvider: 'cpu', graphOptimizationLevel: level, intraOpNumThreads: 1, 'session.qdq_matmulnbits_accuracy_level': '0' },
    simulation: simulation.record,
    ...cmp,
    seconds: (performance.now() - started) / 1000,
  };
}
