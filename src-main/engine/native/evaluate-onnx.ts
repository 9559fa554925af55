/**
 * Native evaluation: the float model and the studio's simulation of the
 * quantized model run side by side in one onnxruntime-node graph, on the
 * same batch, and every per-layer statistic is reduced inside that graph so
 * only small vectors come back to JS:
 *
 *   input ─┬─ float branch (the folded float model) ──────── output
 *          └─ simulated branch (fake-quantized kernels,  ── q:output
 *             TF's half-up fake quant at every activation)
 *   at each planned activation, float f against simulated q, both returned
 *   on the statistics batches and read by the same ActivationStatsAccumulator
 *   as the TensorFlow.js evaluation (ptq/activation-stats.ts):
 *     Σf² and Σ(f−q)² (per channel when the quantizer is),   → SQNR
 *     count of f beyond the grid's reach (clipBounds)        → clip rate
 *     histogram of f over the span the caller gives          → counts
 *   (statistics on the first batches; accuracy and loss on all)
 *
 * Why in JS: one pass of a typed-array loop over f and q costs less than the
 * ONNX form of the same statistics (measured on the bundled CNN: a
 * ScatterElements histogram is single-threaded and the comparisons, casts and
 * reductions each read the whole tensor again), and the figures are then
 * computed by one piece of code for both runtimes. Copying f and q out still
 * costs memory traffic on a large model, so the statistics are taken on the
 * first `statsSamples` samples (whole batches); the rest of the split runs a
 * second graph with the two branches only, for accuracy and loss. The run
 * summary states both counts. When an earlier run's float figures carry this
 * evaluation's key (./float-reference.ts), that second graph is the
 * simulated branch alone and the float figures are the earlier run's.
 *
 * The simulation is the same as engine/ptq/sim-hooks.ts: kernels are
 * fake-quantized by that module's fakeQuantKernel (so the float values are
 * identical), activations by the same float32 op sequence (engine/onnx/
 * fake-quant.ts), biases stay float. A run with a target passes its
 * target's simulation instead (`simulation`: engine/targets/simulation.ts).
 */
import { tf } from '../tfjs.js';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT, ONNX_OUTPUT, poolFirstQuantizers, type OnnxValue } from '../onnx/build.js';
import { cloneNode, cloneTensor, createGraph, createModel, valueInfo, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import type { Graph, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { ClassificationAccumulator } from '../metrics.js';
import { ActivationStatsAccumulator, type ActivationStats } from '../ptq/activation-stats.js';
import type { Comparison } from '../ptq/evaluate.js';
import { activationQParamsAt, fakeQuantKernel, type QParamsByName } from '../ptq/sim-hooks.js';
import type { RoundingMode } from '../quant/fake-quant.js';
import { fakeQuantValues } from '../quant/fake-quant-values.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import type * as Ort from 'onnxruntime-node';
import { createSession, loadOnnxRuntime, type SessionPlacement } from './session.js';
import { SIMULATION_OPTIMIZATION } from './simulate-onnx.js';
import { findFloatReference, floatKey, type FloatReference } from './float-reference.js';

/** Opset 17: ScatterElements with reduction (16+), Reduce* with `axes` as an attribute (until 18). */
const EVAL_OPSET = 17;
const QUANT_PREFIX = 'q:';
export const QUANT_OUTPUT = `${QUANT_PREFIX}${ONNX_OUTPUT}`;

/** One planned activation: the graph outputs holding its float and simulated tensors. */
interface StatProbe {
  quantizer: string;
  at: string;
  qp: QParams;
  span: { lo: number; hi: number } | undefined;
  /** Channel axis of the ONNX layout (NCHW inside the graph for rank 4). */
  channelAxis: number;
  float: string;
  simulated: string;
}

export interface EvaluationModels {
  /** Both branches and every statistic. */
  withStats: Uint8Array;
  /** Both branches only. */
  plain: Uint8Array;
  /** Per activation: its outputs in withStats. */
  probes: StatProbe[];
  /** What the simulated branch computes, when it is a target's (QuantBranch.description). */
  simulation?: string;
  /** The float branch alone, encoded: what its figures depend on (float-reference.ts); encoded only when a run asks for its key. */
  floatModel(): Uint8Array;
  /** The accuracy graph without its float branch, for a run whose float figures are already known. */
  simulatedOnly(): Uint8Array;
}

/** A simulated branch built elsewhere (a target's arithmetic), with where each of its plan's quantizers sits. */
export interface QuantBranch {
  model: ModelProto;
  values: ReadonlyMap<string, OnnxValue>;
  /** Its plan: the run's quantizers under the same names (plus any the target adds), each at the node computing it there. */
  plan: QuantPlan;
  /** What it computes, for the run's summary. */
  description: string;
}

export interface EvaluationModelInput {
  graph: Graph;
  /** The float reference when it is not `graph` (bias correction shifts only the quantized model's biases). */
  floatGraph?: Graph;
  plan: QuantPlan;
  qparams: QParamsByName;
  /** Histogram span per activation quantizer (calibration envelope); the chosen range is added. */
  histogramSpan: ReadonlyMap<string, { lo: number; hi: number }>;
  bins: number;
  /** The simulated branch when it is not the studio's plain fake quant (a run's target). */
  simulation?: QuantBranch;
}

/** The planned kernels fake-quantized as the TensorFlow.js simulation does (`rounding`: the PTQ simulation's 'half-up' by default; an export's simulation passes its target's), by layer name (Keras layout). */
export function simulatedKernels(graph: Graph, plan: QuantPlan, qparams: QParamsByName, rounding: RoundingMode = 'half-up'): Map<string, Float32Array> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const out = new Map<string, Float32Array>();
  for (const wq of plan.weights) {
    const n = byName.get(wq.layer) as WeightedNode | undefined;
    const qp = qparams.get(wq.name);
    if (!n || !isWeighted(n)) throw new Error(`weight quantizer ${wq.name} names no weighted layer`);
    if (!qp) throw new Error(`no range for weight quantizer ${wq.name}`);
    const k = n.weights.kernel;
    if (rounding === 'half-up') {
      // TF's fake quant in plain JS (the TF.js op's bits, without tensors).
      out.set(wq.layer, fakeQuantValues(k.values, wq.view, qp, wq.axis ?? undefined));
      continue;
    }
    const values = tf.tidy(() => fakeQuantKernel(tf.tensor(k.values, k.shape, 'float32'), wq, qp, rounding).dataSync() as Float32Array);
    out.set(wq.layer, Float32Array.from(values));
  }
  return out;
}

export function buildEvaluationModels(input: EvaluationModelInput): EvaluationModels {
  const { graph, plan, qparams } = input;
  const float = buildOnnxGraph({ graph: input.floatGraph ?? graph, plan: { ...plan, weights: [], activations: [] }, qparams: new Map() });
  const kernels = input.simulation ? null : simulatedKernels(graph, plan, qparams);
  const quant = input.simulation ?? buildOnnxGraph({ graph, plan, qparams, simulate: { kernels: kernels! } });
  // The accuracy graph returns no quantizer's own value, so fake quant may follow a max pool (same values, fewer).
  const pooled = kernels && poolFirstQuantizers(graph, plan).size > 0 ? buildOnnxGraph({ graph, plan, qparams, simulate: { kernels, poolsFirst: true } }) : null;
  // Where each quantizer's simulated value is: the target's graph may compute it at another node (a split-off op).
  const simAt = new Map((input.simulation?.plan ?? plan).activations.map((a) => [a.name, a.at]));
  const qg = prefixed(quant.model, QUANT_PREFIX);
  const fg = float.model.graph!;
  const nodes: NodeProto[] = [...(fg.node as NodeProto[]), ...(qg.node as NodeProto[])];
  const inits: TensorProto[] = [...(fg.initializer as TensorProto[]), ...(qg.initializer as TensorProto[])];
  const pg = pooled ? prefixed(pooled.model, QUANT_PREFIX) : qg;
  const plainNodes: NodeProto[] = pooled ? [...(fg.node as NodeProto[]), ...(pg.node as NodeProto[])] : nodes;
  const plainInits: TensorProto[] = pooled ? [...(fg.initializer as TensorProto[]), ...(pg.initializer as TensorProto[])] : inits;
  const probes: StatProbe[] = [];
  for (const [at, { name, qp }] of activationQParamsAt(plan, qparams)) {
    const f = float.values.get(at);
    const q = quant.values.get(simAt.get(name) ?? at);
    if (!f || !q) throw new Error(`activation ${name} watches ${at}, which the ONNX graph does not compute`);
    // The watched values themselves become graph outputs (not through Identity nodes: onnxruntime's
    // optimizer, removing them, loses the name a fused producer had, and the model no longer loads).
    const channelAxis = f.rank === 4 && f.nchw ? 1 : -1;
    probes.push({ quantizer: name, at, qp, span: input.histogramSpan.get(name), channelAxis, float: f.name, simulated: QUANT_PREFIX + q.name });
  }
  // A value may be watched by two quantizers, or be the model's output already: each graph output once.
  const outputs = [...new Set([ONNX_OUTPUT, QUANT_OUTPUT, ...probes.flatMap((p) => [p.float, p.simulated])])];
  return {
    withStats: assemble(float.model, nodes, inits, outputs),
    plain: assemble(float.model, plainNodes, plainInits, [ONNX_OUTPUT, QUANT_OUTPUT]),
    probes,
    ...(input.simulation ? { simulation: input.simulation.description } : {}),
    floatModel: () => encodeOnnx(float.model),
    simulatedOnly: () => assemble(float.model, pg.node, pg.initializer, [QUANT_OUTPUT]),
  };
}

/** A copy of `model`'s graph with every value, node and initializer name prefixed, the model input kept. */
function prefixed(model: ModelProto, prefix: string): { node: NodeProto[]; initializer: TensorProto[] } {
  const rename = (name: string) => (name === '' || name === ONNX_INPUT ? name : prefix + name);
  const g = model.graph!;
  const nodes = g.node.map((n) => Object.assign(cloneNode(n), { name: rename(n.name), input: n.input.map(rename), output: n.output.map(rename) }));
  const inits = g.initializer.map((t) => Object.assign(cloneTensor(t), { name: rename(t.name) }));
  return { node: nodes, initializer: inits };
}

function assemble(template: ModelProto, nodes: NodeProto[], inits: TensorProto[], outputs: string[]): Uint8Array {
  const g = template.graph!;
  const graph = createGraph({
    name: `${g.name}/evaluation`,
    node: nodes,
    initializer: inits,
    input: g.input,
    output: outputs.map((name) => valueInfo(name)),
  });
  const model = createModel({
    irVersion: 8n,
    producerName: template.producerName,
    domain: 'studio.evaluation',
    opsetImport: [{ domain: '', version: BigInt(EVAL_OPSET) }],
    graph,
  });
  return encodeOnnx(model);
}

export interface NativeEvaluationInput extends EvaluationModelInput {
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  batchSize: number;
  /** Per-layer statistics on the first samples of the split, whole batches (at least one batch); accuracy and loss on all. */
  statsSamples: number;
  /** Outputs are logits (else probabilities). */
  fromLogits: boolean;
  threads?: number;
  provider?: string;
  /** From {@link buildEvaluationModels}, when the caller already built them. */
  models?: EvaluationModels;
  onBatch?(samplesDone: number): void;
  /**
   * The float figures of earlier runs under their keys, and this run's key before the session's placement
   * (float-reference.ts): on a match the accuracy graph runs the simulated branch alone.
   */
  floatReuse?: { base: string; references: readonly FloatReference[] };
}

export interface NativeComparison extends Comparison {
  /** Samples the per-layer statistics were taken on. */
  statsCount: number;
  batchSize: number;
  placement: SessionPlacement;
  /** The key of this run's float figures (float-reference.ts), when the caller gave a base. */
  floatKey?: string;
  /** The run whose float figures were reused (the float branch ran on the statistics batches only). */
  floatFrom?: number;
}

export async function evaluateOnnx(input: NativeEvaluationInput): Promise<NativeComparison> {
  const { part, indices, inputShape, batchSize } = input;
  if (indices.length === 0) throw new Error('the eval split is empty: nothing to evaluate');
  const models = input.models ?? buildEvaluationModels(input);
  const ort = await loadOnnxRuntime();
  // A target's simulated branch runs as the export's verification runs it (CPU, SIMULATION_OPTIMIZATION):
  // at 'all' the NCHWc convolutions sum in another order, and on a deep untrained net those last-bit
  // differences move whole top-1 picks, so the run's accuracy would not be the file's.
  const placement = models.simulation ? { provider: 'cpu', optimization: SIMULATION_OPTIMIZATION } : input.provider ? { provider: input.provider } : {};
  const sessionOpts = { ...(input.threads ? { threads: input.threads } : {}), ...placement };
  // One session at a time: the statistics graph's, then (its memory released) the accuracy graph's.
  const statsSession = await createSession(models.withStats, sessionOpts);
  let open: Ort.InferenceSession | null = statsSession.session;
  const key = input.floatReuse
    ? floatKey(input.floatReuse.base, { provider: statsSession.placement.provider, threads: statsSession.placement.threads, optimization: sessionOpts.optimization ?? 'all', ortVersion: ort.env.versions.common })
    : undefined;
  const known = key ? findFloatReference(input.floatReuse!.references, key, indices.length) : undefined;
  let plainSession: Ort.InferenceSession | null = null;
  const floatAcc = new ClassificationAccumulator();
  const quantAcc = new ClassificationAccumulator();
  const stats = models.probes.map((p) => new ActivationStatsAccumulator(p.quantizer, p.at, p.qp, p.span, input.bins, p.channelAxis));
  let count = 0;
  let statsCount = 0;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      input.onBatch?.(count);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const withStats = start < input.statsSamples;
      if (!withStats && !plainSession) {
        await statsSession.session.release();
        open = null; // released: not again in finally if the next session fails to load
        open = plainSession = (await createSession(known ? models.simulatedOnly() : models.plain, sessionOpts)).session;
      }
      const session = withStats ? statsSession.session : plainSession!;
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(part, idx), [idx.length, ...inputShape]) });
      const labels = Int32Array.from(idx, (i) => part.labels[i]!);
      const q = out[QUANT_OUTPUT]!;
      const k = Number(q.dims[q.dims.length - 1]);
      if (!known) floatAcc.addRows(out[ONNX_OUTPUT]!.data as Float32Array, idx.length, k, labels, { fromLogits: input.fromLogits });
      quantAcc.addRows(q.data as Float32Array, idx.length, k, labels, { fromLogits: input.fromLogits });
      if (withStats) {
        models.probes.forEach((p, i) => {
          const f = out[p.float]!;
          const q = out[p.simulated]!;
          stats[i]!.add({ shape: f.dims.map(Number), data: f.data as Float32Array }, { shape: q.dims.map(Number), data: q.data as Float32Array });
        });
        statsCount += idx.length;
      }
      for (const t of Object.values(out)) t.dispose?.();
      count += idx.length;
    }
  } finally {
    await open?.release();
  }
  input.onBatch?.(count);
  const activations = new Map<string, ActivationStats>(stats.map((t) => [t.quantizer, t.result()]));
  return {
    float: known ? { accuracy: known.accuracy, loss: known.loss } : { accuracy: floatAcc.accuracy(), loss: floatAcc.loss() },
    quant: { accuracy: quantAcc.accuracy(), loss: quantAcc.loss() },
    count,
    activations,
    statsCount,
    batchSize,
    placement: statsSession.placement,
    ...(key ? { floatKey: key } : {}),
    ...(known ? { floatFrom: known.runId } : {}),
  };
}

