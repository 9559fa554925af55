/**
 * The simulated branch of a run with a target: the target's arithmetic as
 * one ONNX graph (the same graph the export's verification compares the
 * file with), which the native evaluation runs beside the float model
 * instead of the studio's plain TF fake quant (native/evaluate-onnx.ts):
 *  - tflite-int8: the graph lowered to TFLite's ops (tflite/lower.ts) with
 *    the interpreter's rounding, int32 biases, fixed grids, tables and means
 *    (tflite/simulation.ts);
 *  - onnx-ort-cpu, onnx-tensorrt: QuantizeLinear's half-to-even rounding and
 *    int32 biases (qdq-simulation.ts).
 * So the run's reported accuracy is the accuracy of the file its target's
 * export writes, up to what the runtime computes otherwise than float ops
 * (off by one step on a few values, measured by the export's layer diff).
 */
import type { Graph } from '../graph/types.js';
import type { QuantBranch } from '../native/evaluate-onnx.js';
import { buildOnnxGraph } from '../onnx/build.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import type { TargetProfile } from './profile.js';
import { exportSimulationLowering } from './qdq-simulation.js';
import { lowerForTflite } from './tflite/lower.js';
import { findSoftmax } from './tflite/quant.js';
import { tfliteSimulationGraph } from './tflite/simulation.js';

/** The target's simulation of the run (graph, plan and qparams as prepared and calibrated; fixed grids already in qparams). */
export function targetSimulation(profile: TargetProfile, graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): QuantBranch {
  if (profile.format === 'tflite') {
    const lowered = lowerForTflite(graph, plan, qparams);
    const softmax = findSoftmax(lowered.graph, lowered.plan);
    // The target's plan split every fused softmax off (targets/plan.ts): its logits have their own quantizer, none is observed here.
    if (softmax?.kind === 'fused') throw new Error(`target ${profile.name}: softmax of ${softmax.layer} is still fused; the target's plan splits it off`);
    const sim = tfliteSimulationGraph(lowered, softmax, null);
    return { model: sim.model, values: sim.values, plan: sim.plan, description: `${profile.name}: ${profile.rounding.text}; int32 biases; the graph lowered to TFLite's ops and grids` };
  }
  const built = buildOnnxGraph({ graph, plan, qparams, simulate: exportSimulationLowering(graph, plan, qparams, { rounding: profile.rounding.requantize }) });
  return { model: built.model, values: built.values, plan, description: `${profile.name}: ${profile.rounding.text}; int32 biases` };
}
