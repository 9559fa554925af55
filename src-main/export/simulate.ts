/**
 * The studio's simulation of an exported file: simulationHooks with the
 * rounding of the target runtime, plus what the export adds that the PTQ
 * simulation leaves out:
 *  - biases as int32 with scale s_in·s_w and zero point 0 (integer formats
 *    store them so; the PTQ run keeps biases float). The bias error is at most
 *    s_in·s_w/2 per channel, small, but it moves outputs that sit on a rounding
 *    boundary of the next quantizer, so the export verification simulates it.
 */
import * as tf from '@tensorflow/tfjs';
import type { ForwardHooks } from '../engine/graph/runtime.js';
import type { Graph, WeightedNode } from '../engine/graph/types.js';
import { quantizedBiases, type QuantizedBias } from '../engine/integer/biases.js';
import type { RoundingMode } from '../engine/quant/fake-quant.js';
import type { QParams } from '../engine/quant/qparams.js';
import { simulationHooks } from '../engine/ptq/sim-hooks.js';
import type { QuantPlan } from '../engine/transform/plan.js';

export interface ExportSimulationOptions {
  rounding: RoundingMode;
  /** Simulate int32 biases (default true). */
  quantizeBias?: boolean;
}

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
