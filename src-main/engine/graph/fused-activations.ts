/**
 * Which activations stay fused in a weighted layer, and the split of those
 * that do not. No TensorFlow.js here: the exports read it too.
 */
import { isWeighted, type ActivationNode, type GraphNode, type LayerActivation } from './types.js';

/**
 * Activations a Dense / Conv2D / DepthwiseConv2D keeps as its own: linear,
 * ReLU and ReLU6 are what TFLite fuses into the op (fused_activation_function),
 * and softmax ends a classifier head, whose exports handle it (the TFLite
 * export writes FULLY_CONNECTED → int8 logits → SOFTMAX, observing the logits' range).
 */
export const ACTIVATIONS_KEPT_IN_LAYER: ReadonlySet<LayerActivation> = new Set<LayerActivation>(['linear', 'relu', 'relu6', 'softmax']);

/**
 * A layer's nodes with a trailing Dense / convolution whose activation TFLite's
 * converter cannot fuse (sigmoid, tanh, swish, hard sigmoid, hard swish: e.g.
 * Conv2D(activation='swish'), EfficientNet's squeeze-and-excite convs) split
 * as the converter writes them: the layer, linear, keeping its name (and so
 * its kernel and bias names), then an Activation node `<name>/<activation>`
 * reading it. The pre-activation tensor then exists in every stage (plan,
 * ONNX, TFLite, integer reference) and gets its own range. The caller reads
 * the layer's output from the last node returned.
 */
export function splitLayerActivation(nodes: GraphNode[]): GraphNode[] {
  const last = nodes[nodes.length - 1];
  if (!last || !isWeighted(last) || ACTIVATIONS_KEPT_IN_LAYER.has(last.activation)) return nodes;
  const act: ActivationNode = { name: `${last.name}/${last.activation}`, inputs: [last.name], outputShape: [...last.outputShape], op: 'activation', activation: last.activation };
  return [...nodes.slice(0, -1), { ...last, activation: 'linear' }, act];
}
