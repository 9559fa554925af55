/**
 * What a full-integer TFLite file stores for each activation quantizer of the
 * run, where TFLite asks for something the run's plan does not hold:
 *
 *  - int8 SOFTMAX requires its output at scale 1/256, zero point −128
 *    (TFLite's int8 spec; the kernel refuses anything else). The run's softmax
 *    range ([0, 1] → scale 1/255) is replaced by that grid: TF's unsigned
 *    domain scale 1/256, zero point 0, i.e. [0, 255/256]. In 16x8 (int16.ts)
 *    the int16 SOFTMAX's grid: scale 1/32768, zero point 0.
 *  - A softmax fused into the output Dense/Conv (Keras activation='softmax')
 *    has no integer logits in the plan (the studio quantizes after the
 *    softmax), but TFLite computes FULLY_CONNECTED → int8 logits → SOFTMAX.
 *    The logits get the run's activation spec (per-tensor) with a range
 *    observed by the TFLite simulation itself (the run's quantizers up to the
 *    layer, logits unquantized; on onnxruntime like the verification's,
 *    export/tflite/simulate.ts logitsSimulation) on the export's samples, the way the
 *    TFLite converter ranges every tensor on a representative dataset.
 *    (A run with target tflite-int8 has the softmax split off already,
 *    engine/targets/plan.ts: its logits keep the run's calibrated range.)
 * Everything else keeps the run's qparams as they are, on the graph lowered
 * for TFLite (lower.ts: the LOGISTIC / TANH grids, the ranges derived for the
 * intermediate tensors of swish, hard sigmoid and affine, the constants).
 */
import type { QuantSpec } from '../../../api/run-config.js';
import type { Graph, GraphNode } from '../../graph/types.js';
import { inputNode, isWeighted, nodeByName } from '../../graph/types.js';
import { lowerForTflite, type LoweredModel } from './lower.js';
import { computeQParams, type QParams } from '../../quant/qparams.js';
import type { ActivationQuantizer, QuantPlan } from '../../transform/plan.js';
import { LoweringError } from '../../lowering-error.js';
import { activationTypeOf, softmaxQParams16, type TfliteActivationType } from './int16.js';

/** TFLite's int8 softmax output grid, in TF's unsigned domain: scale 1/256, zero point 0 (signed −128); with `bits` 16 the int16 one (1/32768, signed zero point 0). */
export function softmaxQParams(bits = 8): QParams {
  if (bits === 16) return softmaxQParams16();
  return computeQParams([0], [255 / 256], { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' });
}

/** Where the model's softmax sits: fused in the output weighted layer, a standalone output Activation, or none. */
export type SoftmaxAt = { kind: 'fused'; layer: string; quantizer: string } | { kind: 'layer'; layer: string; quantizer: string } | null;

export interface TfliteQuant {
  /** int8, or int16 for a 16x8 file (int16.ts). */
  activationType: TfliteActivationType;
  /** Qparams by activation quantizer name as the file stores them (shared ranges resolved). */
  act: Map<string, QParams>;
  softmax: SoftmaxAt;
  /** Qparams of the integer logits before a fused softmax (null without one). */
  logits: QParams | null;
  /** Tensors whose qparams TFLite decides, not the run, and why. */
  forced: { tensor: string; reason: string }[];
  /** The graph, plan and qparams the file is written from (lower.ts; the softmax grid is in `act`, not here). */
  model: LoweredModel;
  /** How the logits range was observed (the simulation's record: its runtime), when there are logits. */
  logitsObserved?: Record<string, unknown>;
}

/** The quantizer of the model input (after its preprocessing affines, when it has some). */
export function inputQuantizer(graph: Graph, plan: QuantPlan): ActivationQuantizer | undefined {
  const input = inputNode(graph).name;
  return plan.activations.find((a) => a.layers[0] === input);
}

/**
 * The model as the file computes it, for the integer reference: the lowered
 * model with the softmax on TFLite's grid, and a softmax fused into the output
 * layer split off as the file writes it (the layer's int8 logits on the
 * observed range, then `<layer>/softmax`).
 */
export function fileModel(quant: TfliteQuant): { graph: Graph; plan: QuantPlan; qparams: Map<string, QParams> } {
  const { graph, plan } = quant.model;
  const qparams = new Map(quant.model.qparams);
  const sm = quant.softmax;
  if (sm) qparams.set(sm.quantizer, softmaxQParams(qparams.get(sm.quantizer)?.bits));
  if (sm?.kind !== 'fused' || !quant.logits) return { graph, plan, qparams };
  return splitFusedSoftmax({ graph, plan, qparams }, sm, quant.logits);
}

/**
 * A softmax fused into the output layer `sm.layer`, split off as the file
 * computes it: the layer linear, its logits quantized on `logits` by the
 * quantizer `<layer>/logits` (left float when null), then the activation node
 * `<layer>/softmax` with the softmax's quantizer. `model.qparams` is taken over.
 */
export function splitFusedSoftmax(
  model: { graph: Graph; plan: QuantPlan; qparams: Map<string, QParams> },
  sm: { layer: string; quantizer: string },
  logits: QParams | null,
): { graph: Graph; plan: QuantPlan; qparams: Map<string, QParams> } {
  const { graph, plan, qparams } = model;
  const layer = sm.layer;
  const act = `${layer}/softmax`;
  const logitsName = `${layer}/logits`;
  if (logits) qparams.set(logitsName, logits);
  const nodes = graph.nodes.flatMap((n): GraphNode[] =>
    n.name === layer && isWeighted(n) ? [{ ...n, activation: 'linear' }, { name: act, inputs: [layer], outputShape: [...n.outputShape], op: 'activation', activation: 'softmax' }] : [n],
  );
  const activations = plan.activations.flatMap((a) =>
    a.name === sm.quantizer ? [...(logits ? [{ ...a, name: logitsName, role: 'layer' as const, at: layer, layers: [layer] }] : []), { ...a, role: 'activation' as const, at: act, layers: [act] }] : [a],
  );
  const tensors = plan.tensors.flatMap((t) =>
    t.tensor === layer ? [logits ? { tensor: layer, range: logitsName, how: 'quantized' as const } : { tensor: layer, range: null, how: 'float' as const }, { tensor: act, range: sm.quantizer, how: 'quantized' as const }] : [t],
  );
  return { graph: { ...graph, nodes, output: act }, plan: { ...plan, activations, tensors }, qparams };
}

/** The activation quantizer closing node `at`. */
export function quantizerAt(plan: QuantPlan, at: string): ActivationQuantizer | undefined {
  return plan.activations.find((a) => a.at === at);
}

/** Finds the softmax; refuses one TFLite's int8 SOFTMAX cannot take (not at the model output). */
export function findSoftmax(graph: Graph, plan: QuantPlan): SoftmaxAt {
  for (const n of graph.nodes) {
    const fused = isWeighted(n) && n.activation === 'softmax';
    const layer = n.op === 'activation' && n.activation === 'softmax';
    if (!fused && !layer) continue;
    if (n.name !== graph.output) {
      throw new LoweringError(`layer ${n.name} applies softmax inside the model; the TFLite export supports softmax only as the model output`, 'unsupported', { tensor: n.name, format: 'tflite' });
    }
    const q = quantizerAt(plan, n.name);
    if (!q) throw new LoweringError(`softmax ${n.name} has no activation quantizer in the run's plan`, 'unsupported', { tensor: n.name, format: 'tflite' });
    return { kind: fused ? 'fused' : 'layer', layer: n.name, quantizer: q.name };
  }
  return null;
}

/**
 * Qparams the file stores, on the graph lowered for TFLite; `observeLogits`
 * gives the logits range when a fused softmax needs one (it is handed the
 * lowered model), and how it was observed (TfliteQuant.logitsObserved).
 */
export async function tfliteQuant(
  graph: Graph,
  plan: QuantPlan,
  qparams: ReadonlyMap<string, QParams>,
  observeLogits: (softmax: NonNullable<SoftmaxAt>, model: LoweredModel) => Promise<{ qparams: QParams; how?: Record<string, unknown> } | null>,
): Promise<TfliteQuant> {
  const activationType = activationTypeOf(plan);
  const model = lowerForTflite(graph, plan, qparams);
  const act = new Map<string, QParams>();
  for (const a of model.plan.activations) {
    const q = model.qparams.get(a.sharedWith ?? a.name);
    if (!q) throw new LoweringError(`no qparams for activation quantizer ${a.sharedWith ?? a.name}`, 'run', { tensor: a.name, format: 'tflite' });
    act.set(a.name, q);
  }
  const softmax = findSoftmax(model.graph, model.plan);
  const forced: TfliteQuant['forced'] = [...model.forced];
  let logits: QParams | null = null;
  let logitsObserved: Record<string, unknown> | undefined;
  if (softmax) {
    const sixteen = activationType === 'int16';
    act.set(softmax.quantizer, softmaxQParams(sixteen ? 16 : 8));
    forced.push({ tensor: softmax.quantizer, reason: sixteen ? 'TFLite int16 SOFTMAX output: scale 1/32768, zero point 0' : 'TFLite int8 SOFTMAX output: scale 1/256, zero point -128' });
    if (softmax.kind === 'fused') {
      const observed = await observeLogits(softmax, model);
      if (!observed) {
        throw new LoweringError(`layer ${softmax.layer} fuses softmax: its integer logits need a range, observed on the run's samples, and none were given`, 'run', { tensor: `${softmax.layer}/logits`, format: 'tflite' });
      }
      logits = observed.qparams;
      logitsObserved = observed.how;
      forced.push({ tensor: `${softmax.layer}/logits`, reason: 'logits before the fused softmax: range observed on the export samples by the TFLite simulation' });
    }
  }
  return { activationType, act, softmax, logits, forced, model, ...(logitsObserved ? { logitsObserved } : {}) };
}

/**
 * Qparams of the per-tensor form of `spec` over [min, max] of the logits of
 * the output layer (outputs of the TFLite simulation without its logits
 * quantizer, back to back: export/tflite/simulate.ts logitsSimulation).
 */
export function logitsQParams(graph: Graph, logits: Float32Array, spec: QuantSpec): QParams {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of logits) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = nodeByName(graph, graph.output);
  return computeQParams([lo], [hi], { ...spec, granularity: 'per-tensor' }, { name: `${out.name}/logits` });
}
