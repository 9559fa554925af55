/**
 * Every quantization variable a QAT model carries, named and explained, for
 * the model view, the API and `studio explain`.
 *
 * Two columns:
 *  - keras: what tfmot's `quantize_model` adds with its default 8-bit scheme,
 *    so users can map the extra "parameters" in their Keras summary to a role:
 *    the input QuantizeLayer holds quantize_layer_min / _max and an
 *    optimizer_step (3); each QuantizeWrapper holds an optimizer_step, and for
 *    a Dense/Conv kernel_min / kernel_max plus post_activation_min / _max (5
 *    per Dense). tfmot's defaults: Dense kernels per-tensor, Conv2D and
 *    DepthwiseConv2D kernels per-channel (kernel_min/max of shape [channels]).
 *    A Dense 784-256-128-10 (235,146 parameters) becomes 235,164.
 *  - studio: this studio's own quantizers for the run config (from the plan):
 *    one min/max pair per activation quantizer and per kernel, vectors of the
 *    channel count when per-channel, plus one step counter for the whole model
 *    (it drives the BatchNorm freeze and the moving averages).
 * All quantization variables are non-trainable: ranges come from observers,
 * not from gradients.
 */
import { prepare } from '../prepare.js';
import type { RunConfig } from '../../api/run-config.js';
import type { Graph, GraphNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { layerQuantization, type LayerQuantization } from '../transform/layer-notes.js';

export interface QuantVariable {
  /** Layer it belongs to (the input quantizer: the input layer). */
  layer: string;
  name: string;
  /** [] for a scalar, [C] for a per-channel vector. */
  shape: number[];
  trainable: boolean;
  role: string;
}

export interface ParamTotals {
  trainable: number;
  nonTrainable: number;
  total: number;
}

export interface VariableExplanation {
  float: ParamTotals;
  keras: { variables: QuantVariable[]; totals: ParamTotals };
  /** layers: how each layer of the model is quantized under the config (transform/layer-notes.ts). */
  studio: { variables: QuantVariable[]; totals: ParamTotals; folded: { bn: string; into: string }[]; layers: LayerQuantization[] };
}

const TRAINABLE = new Set(['kernel', 'bias', 'gamma', 'beta']);

export function floatTotals(graph: Graph): ParamTotals {
  let trainable = 0;
  let nonTrainable = 0;
  for (const node of graph.nodes) {
    if (!('weights' in node)) continue;
    for (const [key, w] of Object.entries(node.weights)) {
      if (!w) continue;
      const n = w.values.length;
      if (TRAINABLE.has(key)) trainable += n;
      else nonTrainable += n;
    }
  }
  return { trainable, nonTrainable, total: trainable + nonTrainable };
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function withVariables(base: ParamTotals, vars: QuantVariable[]): ParamTotals {
  const extra = vars.filter((v) => !v.trainable).reduce((s, v) => s + size(v.shape), 0);
  return { trainable: base.trainable, nonTrainable: base.nonTrainable + extra, total: base.total + extra };
}

const scalar = (layer: string, name: string, role: string): QuantVariable => ({ layer, name, shape: [], trainable: false, role });

/** tfmot's default 8-bit scheme, layer by layer (see the module comment). */
export function kerasQatVariables(graph: Graph): QuantVariable[] {
  const out: QuantVariable[] = [];
  const input = graph.nodes.find((n) => n.op === 'input')!;
  out.push(
    scalar('quantize_layer', 'quantize_layer_min', `lower end of the model input range (${input.name}), a moving average of batch minima`),
    scalar('quantize_layer', 'quantize_layer_max', 'upper end of the model input range, a moving average of batch maxima'),
    scalar('quantize_layer', 'optimizer_step', 'training step counter of the input quantizer (moving averages start from it)'),
  );
  for (const node of graph.nodes) {
    if (!isWeighted(node)) continue;
    const wrapper = `quant_${node.name}`;
    const perChannel = node.op !== 'dense';
    const channels = perChannel ? kernelChannels(node) : 0;
    const shape = perChannel ? [channels] : [];
    const per = perChannel ? `per output channel (${channels} values)` : 'one value for the whole kernel';
    out.push(
      { layer: wrapper, name: 'kernel_min', shape, trainable: false, role: `lower end of the kernel range, ${per}; LastValue: the current kernel's minimum at each step` },
      { layer: wrapper, name: 'kernel_max', shape, trainable: false, role: `upper end of the kernel range, ${per}` },
      scalar(wrapper, 'post_activation_min', `lower end of the range of ${node.name}'s output after its activation (${node.activation}), a moving average`),
      scalar(wrapper, 'post_activation_max', `upper end of that output range`),
      scalar(wrapper, 'optimizer_step', 'training step counter of this wrapper'),
    );
  }
  return out;
}

function kernelChannels(node: GraphNode): number {
  if (!isWeighted(node)) return 0;
  const s = node.weights.kernel.shape;
  return node.op === 'depthwiseConv2d' ? s[2]! * s[3]! : s[s.length - 1]!;
}

/** The studio's own quantization variables for this config. */
export function studioQatVariables(graph: Graph, config: RunConfig): { variables: QuantVariable[]; folded: { bn: string; into: string }[]; layers: LayerQuantization[] } {
  const { graph: folded, folded: records, plan } = prepare(graph, config);
  const vars: QuantVariable[] = [];
  for (const a of plan.activations) {
    if (a.sharedWith) continue;
    const layer = a.role === 'input' ? a.at : a.layers[0]!;
    const node = folded.nodes.find((n) => n.name === a.at)!;
    const channels = node.outputShape[node.outputShape.length - 1]!;
    const shape = a.spec.granularity === 'per-channel' ? [channels] : [];
    const what = a.role === 'input' ? 'the model input' : `the output of ${a.layers.join(' + ')}`;
    const est = config.estimator.kind;
    vars.push(
      { layer, name: `${a.name}/min`, shape, trainable: false, role: `lower end of the range of ${what} (${est})${shape.length ? `, per channel` : ''}` },
      { layer, name: `${a.name}/max`, shape, trainable: false, role: `upper end of that range` },
    );
  }
  for (const w of plan.weights) {
    const shape = w.axis === null ? [] : [w.channels];
    const per = w.axis === null ? 'one value for the whole kernel' : `one value per output channel (${w.channels})`;
    vars.push(
      { layer: w.layer, name: `${w.name}_min`, shape, trainable: false, role: `lower end of the ${w.spec.bits}-bit kernel range, ${per}; recomputed from the (BN-folded) kernel each step` },
      { layer: w.layer, name: `${w.name}_max`, shape, trainable: false, role: `upper end of that kernel range` },
    );
  }
  vars.push(scalar('(model)', 'step', `training step counter: moving averages and the BatchNorm freeze (step ${config.training?.bnFreezeStep ?? 200}) follow it`));
  return { variables: vars, folded: records.map((r) => ({ bn: r.batchNorm, into: r.layer })), layers: layerQuantization(graph, folded, records, plan) };
}

export function explainVariables(graph: Graph, config: RunConfig): VariableExplanation {
  const float = floatTotals(graph);
  const keras = kerasQatVariables(graph);
  const studio = studioQatVariables(graph, config);
  return {
    float,
    keras: { variables: keras, totals: withVariables(float, keras) },
    studio: { variables: studio.variables, totals: withVariables(float, studio.variables), folded: studio.folded, layers: studio.layers },
  };
}
