/**
 * Ops that move values without arithmetic:
 *  - Flatten and Reshape in Keras's layout (an image leaves NCHW first, as
 *    Keras flattens H, W, C in that order): Flatten(axis 1), Reshape [-1, …];
 *  - ZeroPadding2D: Pad (constant 0) of H and W; Cropping2D: Slice of H and W;
 *  - UpSampling2D (nearest, whole factors): Resize nearest with asymmetric
 *    coordinates and floor, so output pixel i reads input pixel floor(i / size),
 *    tf.image.resizeNearestNeighbor without half-pixel centres, which tfjs's
 *    UpSampling2D calls (TF's half-pixel form agrees for whole factors).
 */
import type { Crop2DNode, FlattenNode, ReshapeNode, UpSample2DNode, ZeroPad2DNode } from '../../graph/types.js';
import { onnxValue, type OnnxBuilder, type OnnxValue } from '../builder.js';
import { imageInput, refuse } from './common.js';

const sizeOf = (shape: readonly number[]) => shape.reduce((a, c) => a * c, 1);

export function lowerFlatten(b: OnnxBuilder, n: FlattenNode, x: OnnxValue): OnnxValue {
  if (sizeOf(n.outputShape) !== sizeOf(x.shape)) throw refuse(n, `reshapes [${x.shape.join(',')}] into [${n.outputShape.join(',')}] of another size`);
  return onnxValue(b.op('Flatten', [b.layout(x, false).name], { axis: 1 }, n.name), n.outputShape, false);
}

export function lowerReshape(b: OnnxBuilder, n: ReshapeNode, x: OnnxValue): OnnxValue {
  if (sizeOf(n.outputShape) !== sizeOf(x.shape)) throw refuse(n, `reshapes [${x.shape.join(',')}] into [${n.outputShape.join(',')}] of another size`);
  return onnxValue(b.op('Reshape', [b.layout(x, false).name, b.i64([-1, ...n.outputShape], `${n.name}/shape`)], {}, n.name), n.outputShape, false);
}

/** NCHW pads of [[top, bottom], [left, right]]. */
export const padsOf = ([[t, bo], [l, r]]: [[number, number], [number, number]]) => [0, 0, t, l, 0, 0, bo, r];

export function lowerZeroPad(b: OnnxBuilder, n: ZeroPad2DNode, x: OnnxValue): OnnxValue {
  const input = b.layout(imageInput(n, x), true);
  // mode 'constant' with no constant_value input pads with 0.
  return onnxValue(b.op('Pad', [input.name, b.i64(padsOf(n.padding), `${n.name}/pads`)], {}, n.name), n.outputShape, true);
}

export function lowerCrop(b: OnnxBuilder, n: Crop2DNode, x: OnnxValue): OnnxValue {
  const input = b.layout(imageInput(n, x), true);
  const [h, w] = input.shape as [number, number, number];
  const [[top, bottom], [left, right]] = n.cropping;
  const p = (k: string) => `${n.name}/${k}`;
  const y = b.op('Slice', [input.name, b.i64([top, left], p('starts')), b.i64([h - bottom, w - right], p('ends')), b.i64([2, 3], p('axes'))], {}, n.name);
  return onnxValue(y, n.outputShape, true);
}

export function lowerUpSample(b: OnnxBuilder, n: UpSample2DNode, x: OnnxValue): OnnxValue {
  const input = b.layout(imageInput(n, x), true);
  const scales = b.f32([1, 1, n.size[0], n.size[1]], [4], `${n.name}/scales`);
  const y = b.op('Resize', [input.name, '', scales], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, n.name);
  return onnxValue(y, n.outputShape, true);
}
