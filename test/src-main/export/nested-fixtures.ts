/** The trained sample CNN nested as transfer learning nests models: Sequential([fashion_base (conv… flatten), fashion_head (dense, dense_1)]). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { graphFromLayersModel, layersModelFromGraph } from '../../../src-main/engine/graph/from-layers.js';
import type { Graph, GraphNode } from '../../../src-main/engine/graph/types.js';
import { readTfjsLayersModel } from '../../../src-main/io/models/tfjs-layers.js';

const SAMPLE_MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../assets/sample/models/fashion_cnn/model.json');

export async function nestedSample(): Promise<Graph> {
  const flat = await readTfjsLayersModel(SAMPLE_MODEL);
  const cut = flat.nodes.findIndex((n) => n.name === 'flatten') + 1;
  const base = layersModelFromGraph({ name: 'fashion_base', nodes: flat.nodes.slice(0, cut), output: 'flatten' });
  const headInput: GraphNode = { name: 'head_input', op: 'input', inputs: [], outputShape: flat.nodes[cut - 1]!.outputShape };
  const headNodes = flat.nodes.slice(cut).map((n) => (n.inputs[0] === 'flatten' ? { ...n, inputs: ['head_input'] } : n));
  const head = layersModelFromGraph({ name: 'fashion_head', nodes: [headInput, ...headNodes], output: flat.output });
  const nested = tf.sequential({ name: 'fashion_nested', layers: [base, head] });
  try {
    return graphFromLayersModel(nested);
  } finally {
    nested.dispose();
  }
}
