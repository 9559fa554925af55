/**
 * Pooling (NCHW): MaxPool and AveragePool with TF's 'same' padding as
 * explicit pads (AveragePool divides by the real pixels: count_include_pad
 * 0, as TF does); GlobalAveragePool / GlobalMaxPool, flattened to [N, C]
 * unless keepdims keeps [N, C, 1, 1].
 */
import type { GlobalPool2DNode, Pool2DNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { imageInput } from './common.js';
import { convAttrs, convGeometry, type ConvGeometry } from './conv.js';

export interface PoolLowering {
  value: OnnxValue;
  /** The input as the pool reads it (NCHW). */
  input: OnnxValue;
  geometry: ConvGeometry;
  /** MaxPool's second output (flat indices of each window's first maximum), when asked for. */
  indices?: string;
}

export function lowerPool(b: OnnxBuilder, n: Pool2DNode, x: OnnxValue, opts: { indices?: boolean } = {}): PoolLowering {
  const input = b.layout(imageInput(n, x), true);
  const g = convGeometry(input.shape, n.outputShape, n.poolSize, n.strides, [1, 1], n.padding);
  const attrs = { kernel_shape: [g.kh, g.kw], strides: [g.sh, g.sw], pads: convAttrs(g).pads };
  if (n.op === 'avgPool2d') {
    const y = b.op('AveragePool', [input.name], { ...attrs, count_include_pad: 0 }, n.name);
    return { value: onnxValue(y, n.outputShape, true), input, geometry: g };
  }
  const [y, indices] = b.opN('MaxPool', [input.name], opts.indices ? 2 : 1, attrs, n.name);
  return { value: onnxValue(y!, n.outputShape, true), input, geometry: g, ...(indices ? { indices } : {}) };
}

export interface GlobalPoolLowering {
  value: OnnxValue;
  input: OnnxValue;
  /** The pool's own output [N, C, 1, 1]. */
  pooled: string;
}

export function lowerGlobalPool(b: OnnxBuilder, n: GlobalPool2DNode, x: OnnxValue): GlobalPoolLowering {
  const input = b.layout(imageInput(n, x), true);
  const c = input.shape[2]!;
  const type = n.op === 'globalAvgPool2d' ? 'GlobalAveragePool' : 'GlobalMaxPool';
  if (n.keepdims) {
    const pooled = b.op(type, [input.name], {}, n.name);
    return { value: onnxValue(pooled, [1, 1, c], true), input, pooled };
  }
  const pooled = b.op(type, [input.name], {}, `${n.name}/pooled`);
  return { value: onnxValue(b.op('Flatten', [pooled], { axis: 1 }, n.name), [c], false), input, pooled };
}
