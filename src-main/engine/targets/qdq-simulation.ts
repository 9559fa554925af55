/**
 * The arithmetic of an ONNX QDQ file as a simulation lowering
 * (engine/onnx/build.ts SimulationLowering): the run's fake quantization with
 * the file's rounding (QuantizeLinear rounds half to even), plus the int32
 * biases an integer file stores (scale s_in·s_w, zero point 0; the run's
 * plain simulation keeps biases float). The bias error is at most s_in·s_w/2
 * per channel, small, but it moves outputs that sit on a rounding boundary of
 * the next quantizer.
 *
 * Used by a run with an ONNX target (its evaluation simulates this) and by
 * the ONNX export's verification (export/simulate.ts), so both compute the
 * same graph.
 */
import type { Graph } from '../graph/types.js';
import { quantizedBiases } from '../integer/biases.js';
import { simulatedKernels } from '../native/evaluate-onnx.js';
import type { SimulationLowering } from '../onnx/build.js';
import type { RoundingMode } from '../quant/fake-quant.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';

export interface ExportSimulationOptions {
  rounding: RoundingMode;
  /** Simulate int32 biases (default true). */
  quantizeBias?: boolean;
}

/** The rounding of the ONNX QDQ file: QuantizeLinear's. */
export const QDQ_ROUNDING: RoundingMode = 'half-even';

/** The int32 biases' values (ints · s_bias) by layer, as the simulation graph takes them. */
export function quantizedBiasValues(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Map<string, Float32Array> {
  return new Map([...quantizedBiases(graph, plan, qparams)].map(([layer, b]) => [layer, b.values]));
}

/** The lowering options of an integer file's simulation: kernels and activations with `rounding`, int32 biases unless asked otherwise. */
export function exportSimulationLowering(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, opts: ExportSimulationOptions): SimulationLowering {
  return {
    kernels: simulatedKernels(graph, plan, qparams, opts.rounding),
    rounding: opts.rounding,
    ...(opts.quantizeBias === false ? {} : { biases: quantizedBiasValues(graph, plan, qparams) }),
  };
}
