/**
 * The studio's simulation of an exported file: the run's fake quantization
 * with the rounding of the target runtime, plus what the export adds that
 * the PTQ simulation leaves out:
 *  - biases as int32 with scale s_in·s_w and zero point 0 (integer formats
 *    store them so; the PTQ run keeps biases float). The bias error is at most
 *    s_in·s_w/2 per channel, small, but it moves outputs that sit on a rounding
 *    boundary of the next quantizer, so the export verification simulates it.
 *
 * Two forms of the same arithmetic: exportSimulationModel, the ONNX graph
 * onnxruntime runs (engine/targets/qdq-simulation.ts, the lowering a run
 * with an ONNX target evaluates too, through engine/onnx/build.ts: kernels fake-quantized with the
 * target's rounding by the TF.js op itself, so the values are the same;
 * activations as fake quant in float ops with that rounding; the int32
 * biases' values, engine/integer/biases.ts), and exportSimulationHooks, the
 * TensorFlow.js hooks (the reference the tests compare the graph with, and
 * the fallback where onnxruntime cannot run: export/verify.ts).
 *
 * The ONNX QDQ file's simulation (qdqSimulation): rounding half to even, as
 * QuantizeLinear does, clamped to the quantizer's [qmin, qmax] as the
 * storage type saturates (the export refuses activations of other widths).
 */
import { tf } from '../engine/tfjs.js';
import type { ForwardHooks } from '../engine/graph/runtime.js';
import type { Graph, WeightedNode } from '../engine/graph/types.js';
import { quantizedBiases, type QuantizedBias } from '../engine/integer/biases.js';
import { buildOnnxGraph, encodeOnnx } from '../engine/onnx/build.js';
import type { QParams } from '../engine/quant/qparams.js';
import { simulationHooks } from '../engine/ptq/sim-hooks.js';
import type { QuantPlan } from '../engine/transform/plan.js';
import { simulate, type SimulationPlan } from './verify.js';
import { exportSimulationLowering, QDQ_ROUNDING, type ExportSimulationOptions } from '../engine/targets/qdq-simulation.js';

/** Hooks simulating the exported integer model on a GraphRuntime of `graph` (the folded graph the plan was made on). */
export function exportSimulationHooks(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, opts: ExportSimulationOptions): ForwardHooks {
  const base = simulationHooks(plan, qparams, opts.rounding);
  const biases = opts.quantizeBias === false ? new Map<string, QuantizedBias>() : quantizedBiases(graph, plan, qparams);
  return {
    weight(node: WeightedNode, name, w) {
      if (name === 'bias') {
        const b = biases.get(node.name);
        return b ? tf.tensor(b.values, w.shape, 'float32') : w;
      }
      return base.weight ? base.weight(node, name, w) : w;
    },
    output: base.output!,
  };
}

/** The ONNX graph of exportSimulationHooks' simulation (input `input`, output `output`, as the export's own file). */
export function exportSimulationModel(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, opts: ExportSimulationOptions): Uint8Array {
  return encodeOnnx(buildOnnxGraph({ graph, plan, qparams, simulate: exportSimulationLowering(graph, plan, qparams, opts) }).model);
}

/** The simulation an ONNX QDQ file is verified against, on either runtime (export/verify.ts runSimulation). */
export function qdqSimulation(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, opts: Partial<ExportSimulationOptions> = {}): SimulationPlan {
  const o: ExportSimulationOptions = { rounding: opts.rounding ?? QDQ_ROUNDING, ...(opts.quantizeBias === false ? { quantizeBias: false } : {}) };
  return {
    description: `studio fake-quant, rounding ${o.rounding}, ${o.quantizeBias === false ? 'float' : 'int32'} biases (graph ${graph.name})`,
    native: () => ({ model: exportSimulationModel(graph, plan, qparams, o), graph }),
    tfjs: (samples) => simulate(graph, exportSimulationHooks(graph, plan, qparams, o), samples),
  };
}
