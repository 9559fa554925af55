/**
 * Native evaluation: the float model and the studio's simulation of the
 * quantized model run side by side in one onnxruntime-node graph, on the
 * same batch, and every per-layer statistic is reduced inside that graph so
 * only small vectors come back to JS:
 *
 *   input ─┬─ float branch (the folded float model) ──────── output
 *          └─ simulated branch (fake-quantized kernels,  ── q:output
 *             TF's half-up fake quant at every activation)
 *   at each planned activation, float f against simulated q:
 *     Σf² and Σ(f−q)² (per channel when the quantizer is),   → SQNR
 *     count of f beyond the grid's reach (clipBounds)        → clip rate
 *     histogram of f over the span the caller gives          → counts
 *   (statistics on the first batches; accuracy and loss on all)
 *
 * The sums are float32 per batch and float64 across batches; the clip count
 * compares float32 values as the JS counter does. The statistics cost more
 * than both forward passes on a large model (the tensors leave the fast
 * blocked layout, and every value passes through several reductions), so
 * they are taken on the first `statsSamples` samples (whole batches); the
 * rest of the split runs a second graph with the two branches only, for
 * accuracy and loss. The run summary states both counts.
 *
 * The simulation is the same as engine/ptq/sim-hooks.ts: kernels are
 * fake-quantized by that module's fakeQuantKernel (so the float values are
 * identical), activations by the same float32 op sequence (export/onnx/
 * fake-quant.ts), biases stay float.
 */
import * as tf from '@tensorflow/tfjs';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT, ONNX_OUTPUT, type OnnxValue } from '../../export/onnx/build.js';
import { DT, floats, int64s, node, onnx, tensor, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import type { Graph, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { ClassificationAccumulator, clipBounds, sqnrDb } from '../metrics.js';
import type { ActivationStats, Comparison } from '../ptq/evaluate.js';
import { activationQParamsAt, fakeQuantKernel, type QParamsByName } from '../ptq/sim-hooks.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import { createSession, loadOnnxRuntime, type SessionPlacement } from './session.js';

/** Opset 17: ScatterElements with reduction (16+), Reduce* with `axes` as an attribute (until 18). */
const EVAL_OPSET = 17;
const QUANT_PREFIX = 'q:';
export const QUANT_OUTPUT = `${QUANT_PREFIX}${ONNX_OUTPUT}`;

/** One planned activation's statistics outputs. */
interface StatProbe {
  quantizer: string;
  at: string;
  qp: QParams;
  perChannel: boolean;
  /** Values of the watched tensor per sample (the clip rate's denominator). */
  valuesPerSample: number;
  lo: number;
  hi: number;
  bins: number;
  signal: string;
  noise: string;
  clipped: string;
  hist: string;
}

export interface EvaluationModels {
  /** Both branches and every statistic. */
  withStats: Uint8Array;
  /** Both branches only. */
  plain: Uint8Array;
  /** Per activation: its outputs in withStats. */
  probes: StatProbe[];
}

export interface EvaluationModelInput {
  graph: Graph;
  plan: QuantPlan;
  qparams: QParamsByName;
  /** Histogram span per activation quantizer (calibration envelope); the chosen range is added. */
  histogramSpan: ReadonlyMap<string, { lo: number; hi: number }>;
  bins: number;
}

/** The planned kernels fake-quantized as the TensorFlow.js simulation does, by layer name (Keras layout). */
export function simulatedKernels(graph: Graph, plan: QuantPlan, qparams: QParamsByName): Map<string, Float32Array> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const out = new Map<string, Float32Array>();
  for (const wq of plan.weights) {
    const n = byName.get(wq.layer) as WeightedNode | undefined;
    const qp = qparams.get(wq.name);
    if (!n || !isWeighted(n)) throw new Error(`weight quantizer ${wq.name} names no weighted layer`);
    if (!qp) throw new Error(`no range for weight quantizer ${wq.name}`);
    const k = n.weights.kernel;
    const values = tf.tidy(() => fakeQuantKernel(tf.tensor(k.values, k.shape, 'float32'), wq, qp).dataSync() as Float32Array);
    out.set(wq.layer, Float32Array.from(values));
  }
  return out;
}

export function buildEvaluationModels(input: EvaluationModelInput): EvaluationModels {
  const { graph, plan, qparams } = input;
  const float = buildOnnxGraph({ graph, plan: { ...plan, weights: [], activations: [] }, qparams: new Map() });
  const quant = buildOnnxGraph({ graph, plan, qparams, simulate: { kernels: simulatedKernels(graph, plan, qparams) } });
  const qg = prefixed(quant.model, QUANT_PREFIX);
  const fg = float.model.graph!;
  const nodes: NodeProto[] = [...(fg.node as NodeProto[]), ...(qg.node as NodeProto[])];
  const inits: TensorProto[] = [...(fg.initializer as TensorProto[]), ...(qg.initializer as TensorProto[])];
  const shapes = new Map(graph.nodes.map((n) => [n.name, n.outputShape]));
  const statNodes: NodeProto[] = [];
  const statInits: TensorProto[] = [];
  const probes: StatProbe[] = [];
  for (const [at, { name, qp }] of activationQParamsAt(plan, qparams)) {
      const f = float.values.get(at);
      const q = quant.values.get(at);
      if (!f || !q) throw new Error(`activation ${name} watches ${at}, which the ONNX graph does not compute`);
      const given = input.histogramSpan.get(name) ?? { lo: qp.nudgedMin[0]!, hi: qp.nudgedMax[0]! };
      const lo = Math.min(given.lo, ...qp.nudgedMin);
      const top = Math.max(given.hi, ...qp.nudgedMax);
      const span = { lo, hi: top > lo ? top : lo + 1e-6, bins: input.bins };
      const values = shapes.get(at)!.reduce((a, b) => a * b, 1);
      probes.push(statistics(`stat${probes.length}`, name, at, f, QUANT_PREFIX + q.name, qp, values, span, statNodes, statInits));
  }
  const outputs = probes.flatMap((p) => [p.signal, p.noise, p.clipped, p.hist]);
  return {
    withStats: assemble(float.model, [...nodes, ...statNodes], [...inits, ...statInits], [ONNX_OUTPUT, QUANT_OUTPUT, ...outputs]),
    plain: assemble(float.model, nodes, inits, [ONNX_OUTPUT, QUANT_OUTPUT]),
    probes,
  };
}

/**
 * The statistics of one activation: Σf² and Σ(f−q)² in float32 per batch
 * (summed across batches in float64 in JS), reduced over every axis but the
 * channel one (per-channel) or all; the count of f the grid clips (more than
 * half a step outside the nudged range of its channel, as ClipCounter); and
 * the histogram of f as a scatter-add of each value's slot.
 */
function statistics(
  p: string,
  quantizer: string,
  at: string,
  f: OnnxValue,
  q: string,
  qp: QParams,
  valuesPerSample: number,
  span: { lo: number; hi: number; bins: number },
  nodes: NodeProto[],
  inits: TensorProto[],
): StatProbe {
  const n = (op: string, out: string, ins: string[], attrs: Record<string, number | number[] | string> = {}) => {
    nodes.push(node(op, `${p}/${out}`, ins, [`${p}/${out}`], attrs));
    return `${p}/${out}`;
  };
  const perChannel = qp.granularity === 'per-channel';
  const channelAxis = f.rank === 4 && f.nchw ? 1 : f.rank - 1;
  const axes = Array.from({ length: f.rank }, (_, i) => i).filter((i) => !perChannel || i !== channelAxis);
  const signal = n('ReduceSumSquare', 'signal', [f.name], { axes, keepdims: 0 });
  const noise = n('ReduceSumSquare', 'noise', [n('Sub', 'diff', [f.name, q])], { axes, keepdims: 0 });

  const dims = perChannel ? Array.from({ length: f.rank }, (_, i) => (i === channelAxis ? qp.nudgedMin.length : 1)) : [];
  const bounds = clipBounds(qp);
  inits.push(floats(`${p}/clip_lo`, dims, bounds.lo), floats(`${p}/clip_hi`, dims, bounds.hi));
  const outside = n('Or', 'outside', [n('Less', 'below_range', [f.name, `${p}/clip_lo`]), n('Greater', 'above_range', [f.name, `${p}/clip_hi`])]);
  const clipped = n('ReduceSum', 'clipped', [n('Cast', 'outside32', [outside], { to: DT.INT32 })], { keepdims: 0 });

  // Slot of each value: 0 below lo, 1..bins in span, bins+1 above hi (float32; a value within rounding of
  // an edge may land in the next bin). countsWithEdges folds under/overflow into the edge bins anyway;
  // NaN gets slot bins+2 and is dropped, as HistogramAccumulator drops it.
  const { lo, hi, bins } = span;
  inits.push(
    int64s(`${p}/flat_shape`, [-1]),
    floats(`${p}/lo`, [], [lo]),
    floats(`${p}/per_width`, [], [bins / (hi - lo)]),
    floats(`${p}/below`, [], [-1]),
    floats(`${p}/above`, [], [bins]),
    floats(`${p}/nan_slot`, [], [bins + 1]),
    floats(`${p}/one_f`, [], [1]),
    tensor(`${p}/zeros`, DT.INT32, [bins + 3], new Int32Array(bins + 3)),
    tensor(`${p}/one`, DT.INT32, [1], Int32Array.from([1])),
  );
  const flat = n('Reshape', 'flat', [f.name, `${p}/flat_shape`]);
  const pos = n('Floor', 'bin_raw', [n('Mul', 'bin_pos', [n('Sub', 'from_lo', [flat, `${p}/lo`]), `${p}/per_width`])]);
  const bin = n('Clip', 'bin', [pos, `${p}/below`, `${p}/above`]);
  const slot = n('Add', 'slot_f', [n('Where', 'bin_or_nan', [n('IsNaN', 'is_nan', [flat]), `${p}/nan_slot`, bin]), `${p}/one_f`]);
  const index = n('Cast', 'slot', [slot], { to: DT.INT32 });
  const ones = n('Expand', 'ones', [`${p}/one`, n('Shape', 'count', [index])]);
  const hist = n('ScatterElements', 'hist', [`${p}/zeros`, index, ones], { axis: 0, reduction: 'add' });
  return { quantizer, at, qp, perChannel, valuesPerSample, lo: span.lo, hi: span.hi, bins: span.bins, signal, noise, clipped, hist };
}

/** A copy of `model`'s graph with every value, node and initializer name prefixed, the model input kept. */
function prefixed(model: ModelProto, prefix: string): { node: NodeProto[]; initializer: TensorProto[] } {
  const rename = (name: string) => (name === '' || name === ONNX_INPUT ? name : prefix + name);
  const g = model.graph!;
  const nodes = (g.node as NodeProto[]).map((n) =>
    onnx.NodeProto.create({ ...n, name: rename(n.name ?? ''), input: (n.input ?? []).map(rename), output: (n.output ?? []).map(rename) }),
  );
  const inits = (g.initializer as TensorProto[]).map((t) => onnx.TensorProto.create({ ...t, name: rename(t.name ?? '') }));
  return { node: nodes, initializer: inits };
}

function assemble(template: ModelProto, nodes: NodeProto[], inits: TensorProto[], outputs: string[]): Uint8Array {
  const g = template.graph!;
  const graph = onnx.GraphProto.create({
    name: `${g.name}/evaluation`,
    node: nodes,
    initializer: inits,
    input: g.input,
    output: outputs.map((name) => onnx.ValueInfoProto.create({ name })),
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: template.producerName,
    domain: 'studio.evaluation',
    opsetImport: [{ domain: '', version: EVAL_OPSET }],
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
}

export interface NativeComparison extends Comparison {
  /** Samples the per-layer statistics were taken on. */
  statsCount: number;
  batchSize: number;
  placement: SessionPlacement;
}

export async function evaluateOnnx(input: NativeEvaluationInput): Promise<NativeComparison> {
  const { part, indices, inputShape, batchSize } = input;
  if (indices.length === 0) throw new Error('the eval split is empty: nothing to evaluate');
  const models = input.models ?? buildEvaluationModels(input);
  const ort = await loadOnnxRuntime();
  const sessionOpts = { ...(input.threads ? { threads: input.threads } : {}), ...(input.provider ? { provider: input.provider } : {}) };
  const statsSession = await createSession(models.withStats, sessionOpts);
  const plainSession = indices.length > input.statsSamples ? await createSession(models.plain, sessionOpts) : null;
  const floatAcc = new ClassificationAccumulator();
  const quantAcc = new ClassificationAccumulator();
  const sums = models.probes.map((p) => ({
    signal: new Float64Array(p.perChannel ? p.qp.nudgedMin.length : 1),
    noise: new Float64Array(p.perChannel ? p.qp.nudgedMin.length : 1),
    clipped: 0,
    total: 0,
    hist: new Float64Array(p.bins + 3),
  }));
  let count = 0;
  let statsCount = 0;
  try {
    for (let start = 0; start < indices.length; start += batchSize) {
      input.onBatch?.(count);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const withStats = start < input.statsSamples || !plainSession;
      const session = withStats ? statsSession.session : plainSession.session;
      const out = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', gatherSamples(part, idx), [idx.length, ...inputShape]) });
      const labels = Int32Array.from(idx, (i) => part.labels[i]!);
      const f = out[ONNX_OUTPUT]!;
      const k = Number(f.dims[f.dims.length - 1]);
      floatAcc.addRows(f.data as Float32Array, idx.length, k, labels, { fromLogits: input.fromLogits });
      quantAcc.addRows(out[QUANT_OUTPUT]!.data as Float32Array, idx.length, k, labels, { fromLogits: input.fromLogits });
      if (withStats) {
        models.probes.forEach((p, i) => {
          const s = sums[i]!;
          addInto(s.signal, out[p.signal]!.data as Float32Array);
          addInto(s.noise, out[p.noise]!.data as Float32Array);
          s.clipped += (out[p.clipped]!.data as Int32Array)[0]!;
          s.total += idx.length * p.valuesPerSample;
          addInto(s.hist, out[p.hist]!.data as Int32Array);
        });
        statsCount += idx.length;
      }
      for (const t of Object.values(out)) t.dispose?.();
      count += idx.length;
    }
  } finally {
    await statsSession.session.release();
    await plainSession?.session.release();
  }
  input.onBatch?.(count);
  const activations = new Map<string, ActivationStats>();
  models.probes.forEach((p, i) => {
    const s = sums[i]!;
    let signal = 0;
    let noise = 0;
    for (let c = 0; c < s.signal.length; c++) {
      signal += s.signal[c]!;
      noise += s.noise[c]!;
    }
    // Edge bins take the values beyond the span (countsWithEdges); NaN is dropped from the picture.
    const counts = Uint32Array.from(s.hist.subarray(1, p.bins + 1));
    counts[0]! += s.hist[0]!;
    counts[p.bins - 1]! += s.hist[p.bins + 1]!;
    activations.set(p.quantizer, {
      quantizer: p.quantizer,
      at: p.at,
      sqnr: s.total === 0 ? NaN : sqnrDb(signal, noise),
      perChannelSqnr: p.perChannel ? Float32Array.from(s.signal, (sig, c) => sqnrDb(sig, s.noise[c]!)) : null,
      clipRate: s.total === 0 ? NaN : s.clipped / s.total,
      histogram: { lo: p.lo, hi: p.hi, counts },
    });
  });
  return {
    float: { accuracy: floatAcc.accuracy(), loss: floatAcc.loss() },
    quant: { accuracy: quantAcc.accuracy(), loss: quantAcc.loss() },
    count,
    activations,
    statsCount,
    batchSize,
    placement: statsSession.placement,
  };
}

function addInto(acc: Float64Array, v: ArrayLike<number>): void {
  for (let i = 0; i < acc.length; i++) acc[i]! += v[i]!;
}
