/**
 * Audit of a written .tflite file: read it back with the generated reader and
 * check it against the run's plan and qparams, not against what the writer
 * meant to do:
 *  - each planned kernel is the filter input of its layer's CONV_2D /
 *    DEPTHWISE_CONV_2D / FULLY_CONNECTED, int8, in TFLite's layout, with one
 *    scale and zero point per output channel on quantized_dimension 0 (conv,
 *    FC) or 3 (depthwise) when per-channel, one when per-tensor, equal to the
 *    run's, zero points 0, and values inside the range of its bits and narrow
 *    range;
 *  - each bias is int32, zero point 0, scale f32(s_in·s_w[c]) of the run and
 *    of the input and filter tensors the op actually reads, holding the run's
 *    bias integers (round half to even of b / s);
 *  - each activation quantizer's tensor is int8 with the run's scale and zero
 *    point − 128 (or the grid TFLite forces, listed in `forced`);
 *  - a 16x8 file (int16.ts): activations int16 with zero point 0, biases
 *    int64, ADD with pot_scale_int16 false, CONCATENATION's inputs on its
 *    output's grid, and the 16x8 kernels' op versions;
 *  - the ops of the lowered graph (audit-ops.ts): pass-through ops on one
 *    grid, LOGISTIC / TANH on their fixed grids, the int8 constants of MUL /
 *    ADD, LEAKY_RELU's alpha, the resize flags and reduction axes;
 *  - no tensor stayed float except the float model input and output.
 * The plan and qparams checked are those of the graph lowered for TFLite
 * (quant.model, lower.ts): the run's, plus what the lowering adds.
 */
import type { Graph, WeightedNode } from '../../engine/graph/types.js';
import { isWeighted } from '../../engine/graph/types.js';
import { integerQParams, type QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { inputScaleOf } from '../../engine/integer/biases.js';
import { biasScales } from '../../engine/quant/int-tensors.js';
import { decodeTflite, FLOAT_INPUT, FLOAT_OUTPUT, TFLITE_SCHEMA_VERSION, type TfliteIo } from './build.js';
import { tfliteKernelShape, tfliteQuantizedDimension } from './layout.js';
import type { TfliteQuant } from '../../engine/targets/tflite/quant.js';
import { auditLoweredOps, type AuditedTensor } from './audit-ops.js';
import { OP_VERSION_16X8 } from './op-versions-16x8.js';
import { quantizedBiases } from '../../engine/integer/biases.js';

export type { AuditedTensor } from './audit-ops.js';
import { BuiltinOperator, TensorType, type ModelT, type TensorT } from './schema/generated/schema_generated.js';

export interface TfliteAuditReport {
  ok: boolean;
  schemaVersion: number;
  io: TfliteIo;
  operators: string[];
  checked: AuditedTensor[];
  /** Tensors whose grid TFLite imposes instead of the run's. */
  forced: { tensor: string; reason: string }[];
  /** One line per mismatch, each starting with the tensor's name. */
  problems: string[];
}

const TYPE_NAME: Partial<Record<TensorType, string>> = { [TensorType.FLOAT32]: 'float32', [TensorType.INT8]: 'int8', [TensorType.UINT8]: 'uint8', [TensorType.INT32]: 'int32', [TensorType.INT16]: 'int16', [TensorType.INT64]: 'int64' };
const typeName = (t: TensorType) => TYPE_NAME[t] ?? `type ${t}`;
const LAYER_OP: Record<WeightedNode['op'], BuiltinOperator> = { conv2d: BuiltinOperator.CONV_2D, depthwiseConv2d: BuiltinOperator.DEPTHWISE_CONV_2D, dense: BuiltinOperator.FULLY_CONNECTED };

const sameQParams = (a: QParams | undefined, b: QParams | undefined) => !!a && !!b && sameF32(Array.from(a.scale), b.scale) && Array.from(a.zeroPoint).join() === Array.from(b.zeroPoint).join();
const sameF32 = (a: readonly number[], b: ArrayLike<number>) => a.length === b.length && a.every((v, i) => Object.is(Math.fround(v), Math.fround(b[i]!)));

/** A constant tensor's integers (int64 as exact doubles), or null. */
function values(model: ModelT, t: TensorT): Int8Array | Int16Array | Int32Array | Float64Array | null {
  const data = model.buffers[t.buffer]?.data;
  if (!data || data.length === 0) return null;
  const bytes = Uint8Array.from(data);
  if (t.type === TensorType.INT8) return new Int8Array(bytes.buffer);
  if (t.type === TensorType.INT16) return new Int16Array(bytes.buffer, 0, bytes.length >> 1);
  if (t.type === TensorType.INT32) return new Int32Array(bytes.buffer, 0, bytes.length >> 2);
  if (t.type === TensorType.INT64) return Float64Array.from(new BigInt64Array(bytes.buffer, 0, bytes.length >> 3), Number);
  return null;
}

export function auditTflite(bytes: Uint8Array, runGraph: Graph, runPlan: QuantPlan, runQParams: ReadonlyMap<string, QParams>, quant: TfliteQuant, io: TfliteIo): TfliteAuditReport {
  // The lowered model carries the run's graph, plan and qparams (lower.ts); the run's are checked to be those.
  const { graph, plan, qparams } = quant.model;
  const sameRun = runGraph.name === graph.name && runPlan.weights.length === plan.weights.length && runPlan.weights.every((w) => sameQParams(runQParams.get(w.name), qparams.get(w.name)));
  if (!sameRun) throw new Error(`the TFLite quantization given was not prepared from this run's graph ${runGraph.name} and qparams`);
  const model = decodeTflite(bytes);
  const problems: string[] = [];
  const checked: AuditedTensor[] = [];
  if (model.version !== TFLITE_SCHEMA_VERSION) problems.push(`model: schema version ${model.version}, ${TFLITE_SCHEMA_VERSION} expected`);
  const sg = model.subgraphs[0];
  if (!sg || model.subgraphs.length !== 1) throw new Error(`${model.subgraphs.length} subgraphs, one expected`);
  const byName = new Map(sg.tensors.map((t, i) => [String(t.name), i]));
  const code = (opcodeIndex: number) => {
    const c = model.operatorCodes[opcodeIndex]!;
    return Math.max(c.builtinCode, c.deprecatedBuiltinCode) as BuiltinOperator;
  };
  const operators = sg.operators.map((o) => BuiltinOperator[code(o.opcodeIndex)] ?? String(code(o.opcodeIndex)));

  const sixteen = quant.activationType === 'int16';
  const actType = sixteen ? TensorType.INT16 : TensorType.INT8;
  const biasType = sixteen ? TensorType.INT64 : TensorType.INT32;
  const runBiases = quantizedBiases(graph, plan, qparams);
  if (sixteen) {
    for (const c of model.operatorCodes) {
      const op = Math.max(c.builtinCode, c.deprecatedBuiltinCode) as BuiltinOperator;
      const want = OP_VERSION_16X8[op];
      if (want !== undefined && c.version !== want) problems.push(`${BuiltinOperator[op]}: operator version ${c.version}, ${want} expected for its 16x8 kernel`);
    }
  }
  const scalesOf = (t: TensorT) => t.quantization?.scale ?? [];
  const zerosOf = (t: TensorT) => (t.quantization?.zeroPoint ?? []).map(Number);

  for (const wq of plan.weights) {
    const tensor = wq.name;
    const node = graph.nodes.find((n) => n.name === wq.layer);
    if (!node || !isWeighted(node)) continue;
    const index = byName.get(tensor);
    const consumer = sg.operators.find((o) => o.inputs[1] === index);
    if (index === undefined || !consumer) {
      problems.push(`${tensor}: no filter tensor of that name read by an operator`);
      continue;
    }
    const t = sg.tensors[index]!;
    if (code(consumer.opcodeIndex) !== LAYER_OP[node.op]) problems.push(`${tensor}: read by ${BuiltinOperator[code(consumer.opcodeIndex)]}, ${BuiltinOperator[LAYER_OP[node.op]]} expected`);
    if (t.type !== TensorType.INT8) {
      problems.push(`${tensor}: ${t.type === TensorType.FLOAT32 ? 'stayed float' : `stored as ${typeName(t.type)}`}, int8 expected`);
      continue;
    }
    const want = tfliteKernelShape(node);
    if (t.shape.join() !== want.join()) problems.push(`${tensor}: shape [${t.shape}] stored, [${want}] expected`);
    const q = qparams.get(wq.name)!;
    const iq = integerQParams(q, 'signed');
    const perChannel = wq.axis !== null;
    const dim = tfliteQuantizedDimension(node.op);
    const scales = scalesOf(t);
    if (perChannel) {
      if (scales.length !== wq.channels) problems.push(`${tensor}: ${scales.length} scales stored, ${wq.channels} channels planned (per-channel)`);
      if (t.quantization?.quantizedDimension !== dim) problems.push(`${tensor}: per-channel on quantized_dimension ${t.quantization?.quantizedDimension} stored, ${dim} expected`);
      else if (t.shape[dim] !== scales.length) problems.push(`${tensor}: quantized_dimension ${dim} holds ${t.shape[dim]} channels, ${scales.length} scales stored`);
    } else if (scales.length !== 1) problems.push(`${tensor}: per-tensor quantizer stored with ${scales.length} scales`);
    if (!sameF32(scales, iq.scale)) problems.push(`${tensor}: stored scales differ from the run's`);
    const zeros = zerosOf(t);
    if (zeros.length !== scales.length || zeros.some((z) => z !== 0)) problems.push(`${tensor}: zero points [${zeros.slice(0, 4)}${zeros.length > 4 ? ',…' : ''}] stored, one 0 per scale expected`);
    const ints = values(model, t);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of ints ?? []) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!ints || ints.length !== want.reduce((a, b) => a * b, 1)) problems.push(`${tensor}: ${ints?.length ?? 0} values stored, ${want.reduce((a, b) => a * b, 1)} expected`);
    else if (lo < iq.qmin || hi > iq.qmax) problems.push(`${tensor}: values span [${lo}, ${hi}] outside [${iq.qmin}, ${iq.qmax}] of ${q.bits}-bit signed${q.narrowRange ? ' narrow range' : ''}`);
    checked.push({ tensor, kind: 'weight', dtype: typeName(t.type), channels: scales.length, axis: perChannel ? (t.quantization?.quantizedDimension ?? null) : null, range: ints ? [lo, hi] : null });

    // Bias: int32, scale s_in·s_w of the run and of the tensors the op reads.
    const biasName = `${wq.layer}/bias`;
    const b = sg.tensors[consumer.inputs[2] ?? -1];
    if (!b || String(b.name) !== biasName) {
      problems.push(`${biasName}: ${wq.layer}'s operator reads no bias tensor of that name`);
      continue;
    }
    if (b.type !== biasType) {
      problems.push(`${biasName}: ${b.type === TensorType.FLOAT32 ? 'stayed float' : `stored as ${typeName(b.type)}`}, ${typeName(biasType)} expected`);
      continue;
    }
    const storedInts = values(model, b);
    const runInts = runBiases.get(wq.layer)?.ints;
    if (runInts && (!storedInts || Array.from(storedInts).join() !== Array.from(runInts).join())) problems.push(`${biasName}: stored integers differ from the run's bias / (s_in·s_w)`);
    const sIn = inputScaleOf(plan, qparams, wq.input);
    const channels = want[dim]!;
    const expected = sIn ? biasScales(sIn.scale[0]!, q.scale, channels) : null;
    const stored = scalesOf(b);
    const expectedStored = expected ? (perChannel ? Array.from(expected) : [expected[0]!]) : [];
    if (!expected) problems.push(`${biasName}: the run has no input scale for ${wq.layer}`);
    else if (!sameF32(stored, expectedStored)) problems.push(`${biasName}: scales differ from s_in·s_w of the run`);
    const xIn = sg.tensors[consumer.inputs[0]!];
    const fileProduct = scales.map((s) => Math.fround((xIn?.quantization?.scale[0] ?? NaN) * s));
    if (!sameF32(stored, fileProduct)) problems.push(`${biasName}: scales differ from input scale × filter scale as stored in the file`);
    if (zerosOf(b).some((z) => z !== 0)) problems.push(`${biasName}: zero point is not 0`);
    checked.push({ tensor: biasName, kind: 'bias', dtype: typeName(biasType), channels: stored.length, axis: perChannel ? 0 : null, range: null });
  }

  const activation = (tensor: string, q: QParams) => {
    const index = byName.get(tensor);
    if (index === undefined) {
      problems.push(`${tensor}: no tensor of that name`);
      return;
    }
    const t = sg.tensors[index]!;
    if (t.type !== actType) {
      problems.push(`${tensor}: ${t.type === TensorType.FLOAT32 ? 'stayed float' : `stored as ${typeName(t.type)}`}, ${typeName(actType)} expected`);
      return;
    }
    const iq = integerQParams(q, 'signed');
    if (sixteen && zerosOf(t).some((z) => z !== 0)) problems.push(`${tensor}: zero point ${zerosOf(t)[0]} stored; TFLite's 16x8 kernels need int16 activations with zero point 0`);
    if (scalesOf(t).length !== 1) problems.push(`${tensor}: ${scalesOf(t).length} scales stored, one expected`);
    if (!sameF32(scalesOf(t), iq.scale)) problems.push(`${tensor}: stored scale ${scalesOf(t)[0]} differs from ${iq.scale[0]}`);
    if (zerosOf(t).join() !== Array.from(iq.zeroPoint).join()) problems.push(`${tensor}: stored zero point ${zerosOf(t)[0]} differs from ${iq.zeroPoint[0]}`);
    checked.push({ tensor, kind: 'activation', dtype: typeName(actType), channels: 1, axis: null, range: [iq.qmin, iq.qmax] });
  };
  for (const a of plan.activations) activation(a.name, quant.act.get(a.name) ?? qparams.get(a.sharedWith ?? a.name)!);
  if (quant.softmax?.kind === 'fused' && quant.logits) activation(`${quant.softmax.layer}/logits`, quant.logits);

  auditLoweredOps({ model, sg, code: (o) => code(o.opcodeIndex), values: (t) => values(model, t), problems, checked }, quant.model);

  const floatAllowed = io === 'float' ? new Set([FLOAT_INPUT, FLOAT_OUTPUT]) : new Set<string>();
  for (const t of sg.tensors) {
    if (t.type === TensorType.FLOAT32 && !floatAllowed.has(String(t.name))) problems.push(`${String(t.name)}: stayed float`);
  }
  const ioType = (i: number | undefined) => (i === undefined ? undefined : sg.tensors[i]?.type);
  const wantIo = io === 'float' ? TensorType.FLOAT32 : TensorType.INT8;
  if (ioType(sg.inputs[0]) !== wantIo) problems.push(`input: ${typeName(ioType(sg.inputs[0]) ?? TensorType.FLOAT32)} instead of ${typeName(wantIo)}`);
  if (ioType(sg.outputs[0]) !== wantIo) problems.push(`output: ${typeName(ioType(sg.outputs[0]) ?? TensorType.FLOAT32)} instead of ${typeName(wantIo)}`);
  return { ok: problems.length === 0, schemaVersion: model.version, io, operators, checked, forced: quant.forced, problems };
}

/** Throws ExportError('audit') naming the first tensor with a problem. */
export function assertTfliteAudit(report: TfliteAuditReport, file: string): void {
  if (report.ok) return;
  const first = report.problems[0]!;
  const tensor = first.slice(0, first.indexOf(':'));
  throw new ExportError(`audit of ${file} failed: ${report.problems.join('; ')}`, 'audit', { path: file, tensor, format: 'tflite' });
}
