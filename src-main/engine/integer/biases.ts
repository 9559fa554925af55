/**
 * The int32 biases of a quantized run, as integer formats store them (ONNX
 * QDQ, TFLite) and the integer reference computes with them: scale
 * s_bias[c] = f32(s_in · s_w[c]), zero point 0, q = round_half_even(f32(b / s_bias))
 * (quant/int-tensors.ts).
 */
import type { Graph } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { biasScales, dequantizeBias, quantizeBias } from '../quant/int-tensors.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';

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
 * s_in, so such a bias stays float. Throws a LoweringError naming the bias that
 * does not fit in int32.
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
