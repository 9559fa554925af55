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
import { isWeighted } from '../engine/graph/types.js';
import type { RoundingMode } from '../engine/quant/fake-quant.js';
import type { QParams } from '../engine/quant/qparams.js';
import { simulationHooks } from '../engine/ptq/sim-hooks.js';
import type { QuantPlan } from '../engine/transform/plan.js';
import { biasScales, dequantizeBias, quantizeBias } from './int-tensors.js';

/** Input scale of a weight quantizer's layer (shared concat ranges resolved), or null. */
export function inputScaleOf(plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, inputQuantizer: string | null): QParams | null {
  if (!inputQuantizer) return null;
  const a = plan.activations.find((x) => x.name === inputQuantizer);
  return qparams.get(a?.sharedWith ?? inputQuantizer) ?? null;
}

export interface QuantizedBias {
  layer: string;
  scales: Float32Array;
  ints: Int32Array;
  /** What the runtime computes with: ints · scales. */
  values: Float32Array;
}

/**
 * Every bias an integer export stores as int32: layers with a weight quantizer,
 * a bias, and a per-tensor input range. A per-channel input range has no single
 * s_in, so such a bias stays float.
 */
export function quantizedBiases(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Map<string, QuantizedBias> {
  const out = new Map<string, QuantizedBias>();
  for (const wq of plan.weights) {
    const node = graph.nodes.find((n) => n.name === wq.layer);
    if (!node || !isWeighted(node) || !node.weights.bias) continue;
    const sIn = inputScaleOf(plan, qparams, wq.input);
    const w = qparams.get(wq.name);
    if (!sIn || !w || sIn.scale.length !== 1) continue;
    const bias = node.weights.bias.values;
    const scales = biasScales(sIn.scale[0]!, w.scale, bias.length);
    const ints = quantizeBias(bias, scales, wq.layer);
    out.set(wq.layer, { layer: wq.layer, scales, ints, values: dequantizeBias(ints, scales) });
  }
  return out;
}

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
