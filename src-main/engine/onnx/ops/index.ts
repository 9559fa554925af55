/**
 * THE lowering of each IR op to ONNX: one function per op kind (this
 * folder), which every ONNX graph of the engine calls — the inference graph
 * of calibration, evaluation and the export (../build.ts, through lowerOp
 * below) and the training step (native/train/ops/, which adds each op's
 * backward pass). A new layer kind is lowered here once.
 *
 * Values move between NHWC and NCHW where an op needs it (OnnxBuilder.layout);
 * weighted ops read their kernel and bias as the caller holds them.
 */
import type { GraphNode, WeightedNode } from '../../graph/types.js';
import type { OnnxBuilder, OnnxValue } from '../builder.js';
import { lowerActivation } from './activation.js';
import { lowerBatchNorm } from './batchnorm.js';
import { refuse } from './common.js';
import { lowerConv, type LayerWeights } from './conv.js';
import { lowerDense } from './dense.js';
import { lowerAdd, lowerAffine, lowerConcat, lowerMultiply } from './merge.js';
import { lowerGlobalPool, lowerPool } from './pool.js';
import { lowerCrop, lowerFlatten, lowerReshape, lowerUpSample, lowerZeroPad } from './shape.js';

export { HARD_SIGMOID, HARD_SIGMOID_KERAS2, lowerActivation, type ActivationLowering } from './activation.js';
export { lowerBatchNorm } from './batchnorm.js';
export { imageInput, opName, refuse } from './common.js';
export { convAttrs, convGeometry, lowerConv, oihwKernel, onnxKernelShape, toOnnxLayout, type ConvEmitter, type ConvGeometry, type ConvLowering, type LayerWeights, type ZeroPads } from './conv.js';
export { lowerDense, type DenseLowering } from './dense.js';
export { lowerAdd, lowerAffine, lowerConcat, lowerMultiply, onnxAxis, type AffineLowering, type ProductLowering } from './merge.js';
export { lowerGlobalPool, lowerPool, type GlobalPoolLowering, type PoolLowering } from './pool.js';
export { lowerCrop, lowerFlatten, lowerReshape, lowerUpSample, lowerZeroPad, padsOf } from './shape.js';

/** The inference form of one node (Dropout is the identity), its weighted ops reading `weights(n)`. */
export function lowerOp(b: OnnxBuilder, n: Exclude<GraphNode, { op: 'input' }>, args: OnnxValue[], weights: (n: WeightedNode) => LayerWeights): OnnxValue {
  const x = args[0]!;
  switch (n.op) {
    case 'conv2d':
    case 'depthwiseConv2d':
      return lowerConv(b, n, x, weights(n), n.activation).value;
    case 'dense':
      return lowerDense(b, n, x, weights(n), n.activation).value;
    case 'batchNorm':
      return lowerBatchNorm(b, n, x);
    case 'activation':
      return lowerActivation(b, n, x, n.activation, n.alpha).value;
    case 'maxPool2d':
    case 'avgPool2d':
      return lowerPool(b, n, x).value;
    case 'globalAvgPool2d':
    case 'globalMaxPool2d':
      return lowerGlobalPool(b, n, x).value;
    case 'zeroPad2d':
      return lowerZeroPad(b, n, x);
    case 'crop2d':
      return lowerCrop(b, n, x);
    case 'upSample2d':
      return lowerUpSample(b, n, x);
    case 'flatten':
      return lowerFlatten(b, n, x);
    case 'reshape':
      return lowerReshape(b, n, x);
    case 'dropout':
      return x;
    case 'add':
      return lowerAdd(b, n, args).value;
    case 'multiply':
      return lowerMultiply(b, n, args).value;
    case 'concat':
      return lowerConcat(b, n, args);
    case 'affine':
      return lowerAffine(b, n, x).value;
    case 'layer':
      throw refuse(n, 'is not modelled by the studio and has no ONNX mapping');
  }
}
