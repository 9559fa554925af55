/**
 * Dense on the last axis of any rank, as Keras applies it: the input in
 * Keras's layout folded to rows [N·…, in], one Gemm named after the layer
 * (kernel [in,out] as Gemm's B, bias as C), the activation, unfolded to
 * [N, …, units].
 */
import type { Activation, DenseNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { lowerActivation, type ActivationLowering } from './activation.js';
import { refuse } from './common.js';
import type { LayerWeights } from './conv.js';

export interface DenseLowering {
  value: OnnxValue;
  /** The Gemm's input [rows, in] and output [rows, units] (before the activation). */
  rows: string;
  pre: string;
  act: ActivationLowering;
}

export function lowerDense(b: OnnxBuilder, n: DenseNode, x: OnnxValue, w: LayerWeights, activation: Activation): DenseLowering {
  const features = x.shape[x.shape.length - 1]!;
  if (n.weights.kernel.shape[0] !== features) throw refuse(n, `has a kernel for ${n.weights.kernel.shape[0]} inputs but gets ${features}`);
  const lead = x.shape.slice(0, -1);
  const flat = lead.length === 0;
  const rows = flat ? x.name : b.op('Reshape', [b.layout(x, false).name, b.i64([-1, features], `${n.name}/rows_shape`)], {}, `${n.name}/rows`);
  const pre = b.op('Gemm', [rows, w.kernel, ...(w.bias ? [w.bias] : [])], {}, n.name);
  const act = lowerActivation(b, n, onnxValue(pre, [n.units], false), activation);
  if (flat) return { value: act.value, rows, pre, act };
  const y = b.op('Reshape', [act.value.name, b.i64([-1, ...lead, n.units], `${n.name}/unfold_shape`)], {}, `${n.name}/unfold`);
  return { value: onnxValue(y, [...lead, n.units], false), rows, pre, act };
}
