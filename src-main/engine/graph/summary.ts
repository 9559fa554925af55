/** What the Model view and the store show of a graph; pure, no tfjs. */
import type { LayerSummary } from '../../api/contract.js';
import { inputNode, parameterCount, type Graph, type WeightData } from './types.js';

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
