/** What the Model view and the store show of a graph; pure, no tfjs. */
import type { LayerSummary } from '../../api/records.js';
import { kerasClassOf } from '../transform/graph-queries.js';
import { inputNode, parameterCount, type Graph, type GraphNode, type WeightData } from './types.js';

const pairs = (p: [[number, number], [number, number]]) => `((${p[0].join(', ')}), (${p[1].join(', ')}))`;
const values = (v: number[]) => (v.length === 1 || v.every((x) => x === v[0]) ? `${Number(v[0]!.toPrecision(6))}` : `${v.length} per-channel values`);

/** The options that tell layers of one class apart, in Keras's words (empty when none matter). */
export function layerOptions(node: GraphNode): string {
  switch (node.op) {
    case 'globalAvgPool2d':
    case 'globalMaxPool2d':
      return node.keepdims ? 'keepdims' : '';
    case 'zeroPad2d':
      return `padding ${pairs(node.padding)}`;
    case 'crop2d':
      return `cropping ${pairs(node.cropping)}`;
    case 'upSample2d':
      return `size (${node.size.join(', ')}), nearest`;
    case 'affine':
      return `scale ${values(node.scale)}, offset ${values(node.offset)}`;
    case 'conv2d':
    case 'depthwiseConv2d':
      return `${node.kernelSize.join('×')}${node.strides.some((s) => s !== 1) ? `, strides ${node.strides.join('×')}` : ''}, ${node.padding}`;
    case 'activation':
      return node.activation === 'leaky_relu' && node.alpha !== undefined ? `alpha ${node.alpha}` : '';
    case 'dropout':
      return `rate ${node.rate}${node.noiseShape ? `, noise shape [${node.noiseShape.map((d) => d ?? 'None').join(', ')}]` : ''}`;
    default:
      return '';
  }
}

export interface GraphSummary {
  inputShape: number[];
  numClasses: number;
  layerCount: number;
  paramCount: number;
  layers: LayerSummary[];
}

export function summarizeGraph(graph: Graph): GraphSummary {
  const layers = graph.nodes.map((node): LayerSummary => {
    const weightShapes: Record<string, number[]> = {};
    if ('weights' in node) {
      for (const [name, w] of Object.entries(node.weights) as [string, WeightData | undefined][]) if (w) weightShapes[name] = w.shape;
    }
    return {
      name: node.name,
      // An opaque layer shows its Keras class (LayerNormalization…), which says more than 'layer'.
      op: node.op === 'layer' ? node.className : node.op,
      className: kerasClassOf(node),
      ...(layerOptions(node) ? { options: layerOptions(node) } : {}),
      inputs: node.inputs,
      outputShape: node.outputShape,
      params: parameterCount(node),
      weightShapes,
      ...('activation' in node ? { activation: node.activation } : {}),
    };
  });
  const output = graph.nodes.find((n) => n.name === graph.output);
  return {
    inputShape: inputNode(graph).outputShape,
    numClasses: output ? (output.outputShape[output.outputShape.length - 1] ?? 0) : 0,
    layerCount: graph.nodes.length - 1,
    paramCount: layers.reduce((sum, l) => sum + l.params, 0),
    layers,
  };
}
