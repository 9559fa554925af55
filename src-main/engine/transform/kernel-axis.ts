/**
 * Which axis of a kernel holds its output channels, for per-channel weight
 * quantization (one scale per output channel, as TFLite's int8 spec asks).
 *
 * Dense [in,out] → axis 1 (units channels); Conv2D [kh,kw,in,out] → axis 3
 * (filters channels). DepthwiseConv2D [kh,kw,in,mult] is quantized on the view
 * [kh,kw,in·mult] → axis 2 (in·mult channels): output channel c·mult + m is
 * kernel[.., .., c, m], the layout TFLite's depthwise kernel [1,kh,kw,in·mult]
 * quantizes on its last axis.
 */
import type { WeightedNode } from '../graph/types.js';

/** The kernel shape as quantized (depthwise: last two axes merged). */
export function kernelView(node: WeightedNode): number[] {
  const shape = node.weights.kernel.shape;
  if (node.op !== 'depthwiseConv2d') return [...shape];
  return [shape[0]!, shape[1]!, shape[2]! * shape[3]!];
}

export type AxisResolution =
  | { ok: true; axis: number; channels: number; view: number[] }
  | { ok: false; axis: number; view: number[] };

/**
 * The per-channel axis on kernelView (default: its last axis, the output
 * channels), with a negative axis counted from the end as in Keras; not ok
 * when the given axis does not exist for the view's rank.
 */
export function resolveKernelAxis(node: WeightedNode, axis?: number): AxisResolution {
  const view = kernelView(node);
  const rank = view.length;
  const given = axis ?? rank - 1;
  if (given < -rank || given >= rank) return { ok: false, axis: given, view };
  const resolved = given < 0 ? given + rank : given;
  return { ok: true, axis: resolved, channels: view[resolved]!, view };
}

/** The layer's output channel count: Dense units, Conv2D filters, DepthwiseConv2D in·mult (the last axis of kernelView). */
export function outputChannels(node: WeightedNode): number {
  const view = kernelView(node);
  return view[view.length - 1]!;
}

/** The axis of kernelView holding the output channels (always its last). */
export function outputChannelAxis(node: WeightedNode): number {
  return kernelView(node).length - 1;
}
