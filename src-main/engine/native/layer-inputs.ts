/**
 * The inputs of chosen layers on a set of samples, read out of the float
 * inference graph of a model (onnx/build's lowering, as the calibration's
 * probe graph: BatchNorm folded, no quantizer) on onnxruntime-node: what
 * AdaRound reconstructs each layer on. Images come back NCHW (the layout the
 * training rules hold them in), other values as Keras lays them out.
 */
import type * as Ort from 'onnxruntime-node';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT } from '../onnx/build.js';
import { node as onnxNode, valueInfo } from '../onnx/proto.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import type { Graph, GraphNode } from '../graph/types.js';
import { createSession, loadOnnxRuntime } from './session.js';

/** The float model with the input of each named layer as a graph output (`in/<layer>`). */
export function layerInputsModel(graph: Graph, layers: readonly string[]): Uint8Array {
  const { model, values } = buildOnnxGraph({ graph, plan: { graph: graph.name, weights: [], activations: [], float: [], tensors: [] }, qparams: new Map() });
  const g = model.graph!;
  g.output = [];
  for (const layer of layers) {
    const node = graph.nodes.find((n) => n.name === layer);
    const from = node?.inputs[0];
    const v = from !== undefined ? values.get(from) : undefined;
    if (!node || !v) throw new Error(`AdaRound: the ONNX graph of ${graph.name} does not compute the input of ${layer}`);
    const out = `in/${layer}`;
    // Images NCHW: a Transpose where the lowering left the value NHWC (the model input).
    g.node.push(v.rank === 4 && !v.nchw ? onnxNode('Transpose', out, [v.name], [out], { perm: [0, 3, 1, 2] }) : onnxNode('Identity', out, [v.name], [out]));
    g.output.push(valueInfo(out));
  }
  return encodeOnnx(model);
}

/** A session of layerInputsModel; `read` gives one layer's input for samples, N·(its per-sample size) values. */
export class LayerInputs {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly inputShape: number[],
  ) {}

  static async open(graph: Graph, layers: readonly string[], threads?: number): Promise<LayerInputs> {
    const ort = await loadOnnxRuntime();
    const { session } = await createSession(layerInputsModel(graph, layers), { ...(threads ? { threads } : {}), provider: 'cpu' });
    const input = graph.nodes.find((n): n is GraphNode & { op: 'input' } => n.op === 'input')!;
    return new LayerInputs(ort, session, [...input.outputShape]);
  }

  /**
   * The layer's input for the samples `indices` of `part`, read in batches of
   * `batchSize`; `onBatch` is called before each (it may throw to cancel).
   */
  async read(layer: string, part: BatchSource, indices: Int32Array, batchSize: number, perSample: number, onBatch?: () => void): Promise<Float32Array> {
    const out = new Float32Array(indices.length * perSample);
    for (let start = 0; start < indices.length; start += batchSize) {
      onBatch?.();
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const feeds = { [ONNX_INPUT]: new this.ort.Tensor('float32', gatherSamples(part, idx), [idx.length, ...this.inputShape]) };
      const result = await this.session.run(feeds, [`in/${layer}`]);
      const t = result[`in/${layer}`]!;
      out.set(t.data as Float32Array, start * perSample);
      t.dispose?.();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
