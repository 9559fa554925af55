/**
 * The training rule of each IR op: one function per op kind, in the file of
 * its family: its forward is the op's one lowering (engine/onnx/ops), its
 * backward is written beside it. An op without a
 * rule (an opaque layer) makes the whole model train on TF.js, with the
 * reason naming the layer and its op.
 */
import type { GraphNode } from '../../../graph/types.js';
import { unsupported, type OpStep, type StepContext, type Value } from '../step-context.js';
import { activationLayer } from './activation.js';
import { conv2d, depthwiseConv2d } from './conv.js';
import { batchNorm, dense } from './dense.js';
import { add, affine, concat, multiply } from './merge.js';
import { avgPool2d, globalAvgPool2d, globalMaxPool2d, maxPool2d } from './pooling.js';
import { crop2d, dropout, flatten, reshape, upSample2d, zeroPad2d } from './shape.js';

export function opStep(node: Exclude<GraphNode, { op: 'input' }>, inputs: Value[], ctx: StepContext): OpStep {
  switch (node.op) {
    case 'conv2d':
      return conv2d(node, inputs, ctx);
    case 'depthwiseConv2d':
      return depthwiseConv2d(node, inputs, ctx);
    case 'dense':
      return dense(node, inputs, ctx);
    case 'batchNorm':
      return batchNorm(node, inputs, ctx);
    case 'activation':
      return activationLayer(node, inputs, ctx);
    case 'maxPool2d':
      return maxPool2d(node, inputs, ctx);
    case 'avgPool2d':
      return avgPool2d(node, inputs, ctx);
    case 'globalAvgPool2d':
      return globalAvgPool2d(node, inputs, ctx);
    case 'globalMaxPool2d':
      return globalMaxPool2d(node, inputs, ctx);
    case 'zeroPad2d':
      return zeroPad2d(node, inputs, ctx);
    case 'crop2d':
      return crop2d(node, inputs, ctx);
    case 'upSample2d':
      return upSample2d(node, inputs, ctx);
    case 'flatten':
      return flatten(node, inputs, ctx);
    case 'reshape':
      return reshape(node, inputs, ctx);
    case 'dropout':
      return dropout(node, inputs, ctx);
    case 'add':
      return add(node, inputs, ctx);
    case 'multiply':
      return multiply(node, inputs, ctx);
    case 'concat':
      return concat(node, inputs, ctx);
    case 'affine':
      return affine(node, inputs, ctx);
    case 'layer':
      throw unsupported(node, `is a layer the IR does not model${node.reason ? ` (${node.reason})` : ''}, so it has no training rule for onnxruntime`);
    default:
      throw unsupported(node as GraphNode, 'has no training rule for onnxruntime');
  }
}
