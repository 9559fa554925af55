/**
 * Audit of a written ONNX file: read it back with the same generated onnx.proto code
 * and check it against the run's plan and qparams, not against what the
 * writer meant to do:
 *  - the file is opset ≥ 21 and IR ≥ 10, and every node carries the Keras
 *    layer path it came from (metadata_props `studio.layer`);
 *  - every planned weight reaches its Conv/Gemm through a DequantizeLinear of
 *    an initializer of its type (INT4 / INT8 / INT16 by bits, qdq-types.ts)
 *    whose values lie in the integer range of its bits,
 *    signedness and narrow range, with one scale and zero point per channel on
 *    the right axis (per-channel) or scalars (per-tensor), equal to the run's;
 *  - every bias of a quantized layer with an input range is int32 with scale
 *    f32(s_in·s_w[c]) and zero point 0;
 *  - every planned activation has a QuantizeLinear → DequantizeLinear with the
 *    run's scale and zero point, of its type (UINT4/8/16 asymmetric,
 *    INT4/8/16 symmetric, by bits), and
 *    the DequantizeLinear's output is read;
 *  - no Conv/Gemm of a quantized layer reads a float weight.
 */
import type { Graph } from '../../engine/graph/types.js';
import { integerQParams, type QParams } from '../../engine/quant/qparams.js';
import type { QuantPlan } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { quantizedBiases } from '../../engine/integer/biases.js';
import { decodeOnnx, EXPORT_FORMAT, LAYER_KEY, onnxWeightAxis } from '../../engine/onnx/build.js';
import { activationQdqType, weightQdqType, type QdqType } from '../../engine/onnx/qdq-types.js';
import { attrOf, DT, tensorValues, type NodeProto, type ValueInfoProto } from '../../engine/onnx/proto.js';

export interface AuditedTensor {
  tensor: string;
  kind: 'weight' | 'bias' | 'activation';
  dtype: string;
  channels: number;
  axis: number | null;
  range: [number, number] | null;
}

export interface AuditReport {
  ok: boolean;
  opset: number;
  checked: AuditedTensor[];
  /** One line per mismatch, each naming the tensor. */
  problems: string[];
}

const DT_NAME: Record<number, string> = {
  [DT.FLOAT]: 'float32',
  [DT.INT4]: 'int4',
  [DT.UINT4]: 'uint4',
  [DT.INT8]: 'int8',
  [DT.UINT8]: 'uint8',
  [DT.INT16]: 'int16',
  [DT.UINT16]: 'uint16',
  [DT.INT32]: 'int32',
  [DT.INT64]: 'int64',
};
const typeName = (dt: number) => DT_NAME[dt] ?? `type ${dt}`;

function sameF32(a: readonly number[], b: ArrayLike<number>): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(Math.fround(v), Math.fround(b[i]!)));
}

export function auditOnnx(bytes: Uint8Array, graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): AuditReport {
  const model = decodeOnnx(bytes);
  const g = model.graph!;
  const nodes = g.node;
  const inits = new Map(g.initializer.map((t) => [t.name, t]));
  const producer = new Map<string, NodeProto>();
  const readers = new Map<string, NodeProto[]>();
  for (const n of nodes) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) readers.set(i, [...(readers.get(i) ?? []), n]);
  }
  const problems: string[] = [];
  const checked: AuditedTensor[] = [];
  const opset = Math.max(...model.opsetImport.filter((o) => !o.domain).map((o) => Number(o.version)));
  if (!(opset >= EXPORT_FORMAT.opset)) problems.push(`model: opset ${opset} < ${EXPORT_FORMAT.opset}`);
  if (Number(model.irVersion) < EXPORT_FORMAT.irVersion) problems.push(`model: IR version ${model.irVersion} < ${EXPORT_FORMAT.irVersion}`);
  for (const n of nodes) {
    if (!n.metadataProps.some((m) => m.key === LAYER_KEY && m.value !== '')) problems.push(`${n.name}: node carries no Keras layer path (metadata_props ${LAYER_KEY})`);
  }
  const axisOf = (n: NodeProto): number | null => {
    const a = attrOf(n, 'axis');
    return a ? Number(a.i) : null;
  };

  /** Checks a DequantizeLinear's scale/zero point initializers; returns the int data initializer. */
  const checkDq = (tensor: string, dq: NodeProto, want: { dt: number; scale: ArrayLike<number>; zeroPoint: ArrayLike<number>; axis: number | null; perAxis: boolean }) => {
    const [dataName, scaleName, zpName] = dq.input ?? [];
    const scale = inits.get(scaleName!);
    const zp = inits.get(zpName!);
    if (!scale || !zp) {
      problems.push(`${tensor}: DequantizeLinear has no constant scale / zero point`);
      return;
    }
    const sv = tensorValues(scale);
    const zv = tensorValues(zp);
    const dims = scale.dims.map(Number);
    if (want.perAxis) {
      if (dims.length !== 1 || dims[0] !== want.scale.length) problems.push(`${tensor}: ${dims[0] ?? 1} scales stored, ${want.scale.length} channels planned (per-channel)`);
      const axis = axisOf(dq);
      if (axis !== want.axis) problems.push(`${tensor}: per-channel axis ${axis ?? 'missing (defaults to 1)'} stored, ${want.axis} expected`);
    } else if (dims.length !== 0 && !(dims.length === 1 && dims[0] === 1)) {
      problems.push(`${tensor}: per-tensor quantizer stored with ${dims.join('x')} scales`);
    }
    if (!sameF32(sv, want.scale)) problems.push(`${tensor}: stored scales differ from the run's`);
    if (zp.dataType !== want.dt) problems.push(`${tensor}: zero point is ${typeName(zp.dataType)}, ${typeName(want.dt)} expected`);
    if (zv.length !== want.zeroPoint.length || zv.some((z, i) => z !== want.zeroPoint[i])) problems.push(`${tensor}: stored zero points differ from the run's`);
    return dataName ? inits.get(dataName) : undefined;
  };

  for (const wq of plan.weights) {
    const tensor = wq.name;
    const q = qparams.get(wq.name)!;
    const layerNode = nodes.find((n) => n.name === wq.layer && (n.opType === 'Conv' || n.opType === 'Gemm'));
    if (!layerNode) {
      problems.push(`${tensor}: no Conv/Gemm node for layer ${wq.layer}`);
      continue;
    }
    const kernelIn = layerNode.input?.[1] ?? '';
    const dq = producer.get(kernelIn);
    if (!dq || dq.opType !== 'DequantizeLinear') {
      problems.push(`${tensor}: stayed float (the ${layerNode.opType} reads ${inits.has(kernelIn) ? 'a float initializer' : kernelIn})`);
      continue;
    }
    const iq = integerQParams(q, 'signed');
    let type: QdqType;
    try {
      type = weightQdqType(tensor, q.bits, opset);
    } catch (e) {
      problems.push(`${tensor}: ${(e as Error).message}`);
      continue;
    }
    const data = checkDq(tensor, dq, { dt: type.dt, scale: iq.scale, zeroPoint: iq.zeroPoint, axis: onnxWeightAxis(wq), perAxis: wq.axis !== null });
    if (!data) {
      problems.push(`${tensor}: DequantizeLinear input is not a constant`);
      continue;
    }
    if (data.dataType !== type.dt) problems.push(`${tensor}: stored as ${typeName(data.dataType)}, ${typeName(type.dt)} expected for ${q.bits}-bit weights`);
    const ints = tensorValues(data);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of ints) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (lo < iq.qmin || hi > iq.qmax) problems.push(`${tensor}: values span [${lo}, ${hi}] outside [${iq.qmin}, ${iq.qmax}] of ${q.bits}-bit signed${q.narrowRange ? ' narrow range' : ''}`);
    checked.push({ tensor, kind: 'weight', dtype: typeName(data.dataType), channels: iq.scale.length, axis: wq.axis !== null ? onnxWeightAxis(wq) : null, range: [lo, hi] });
  }

  for (const b of quantizedBiases(graph, plan, qparams).values()) {
    const tensor = `${b.layer}/bias`;
    const layerNode = nodes.find((n) => n.name === b.layer);
    const biasIn = layerNode?.input?.[2] ?? '';
    const dq = producer.get(biasIn);
    if (!dq || dq.opType !== 'DequantizeLinear') {
      problems.push(`${tensor}: stayed float (int32 with scale s_in·s_w expected)`);
      continue;
    }
    const wq = plan.weights.find((w) => w.layer === b.layer)!;
    const perAxis = wq.axis !== null;
    const data = checkDq(tensor, dq, { dt: DT.INT32, scale: perAxis ? b.scales : b.scales.subarray(0, 1), zeroPoint: new Array(perAxis ? b.scales.length : 1).fill(0), axis: 0, perAxis });
    if (data && data.dataType !== DT.INT32) problems.push(`${tensor}: stored as ${typeName(data.dataType)}, int32 expected`);
    checked.push({ tensor, kind: 'bias', dtype: 'int32', channels: b.scales.length, axis: perAxis ? 0 : null, range: null });
  }

  for (const a of plan.activations) {
    const tensor = a.name;
    const q = qparams.get(a.sharedWith ?? a.name)!;
    const qn = nodes.find((n) => n.opType === 'QuantizeLinear' && n.name === `${a.name}/QuantizeLinear`);
    if (!qn) {
      problems.push(`${tensor}: stayed float (no QuantizeLinear)`);
      continue;
    }
    let type: QdqType;
    try {
      type = activationQdqType(tensor, q, opset);
    } catch (e) {
      problems.push(`${tensor}: ${(e as Error).message}`);
      continue;
    }
    const { dt, domain } = type;
    const iq = integerQParams(q, domain);
    const want = { dt, scale: iq.scale, zeroPoint: iq.zeroPoint, axis: null, perAxis: q.granularity === 'per-channel' };
    if (want.perAxis) {
      // Activation axis: the channel axis of the tensor as laid out in the file; only its presence is checked here.
      const ax = axisOf(qn);
      (want as { axis: number | null }).axis = ax;
    }
    checkDq(tensor, qn, want);
    const dq = (readers.get(qn.output![0]!) ?? []).find((n) => n.opType === 'DequantizeLinear');
    if (!dq) problems.push(`${tensor}: QuantizeLinear is not followed by a DequantizeLinear`);
    else if ((readers.get(dq.output![0]!) ?? []).length === 0) problems.push(`${tensor}: the dequantized tensor is never read`);
    checked.push({ tensor, kind: 'activation', dtype: typeName(dt), channels: iq.scale.length, axis: null, range: [iq.qmin, iq.qmax] });
  }

  for (const n of nodes) {
    if (n.opType !== 'Conv' && n.opType !== 'Gemm') continue;
    const planned = plan.weights.some((w) => w.layer === n.name);
    const floatLayer = plan.float.some((f) => f.layer === n.name);
    if (!planned && !floatLayer) problems.push(`${n.name}: ${n.opType} with no weight quantizer in the plan and not kept float by it`);
  }
  const elemType = (v: ValueInfoProto | undefined) => (v?.type?.value.case === 'tensorType' ? v.type.value.value.elemType : undefined);
  const inputType = elemType(g.input[0]);
  const outputType = elemType(g.output[0]);
  if (inputType !== DT.FLOAT) problems.push(`input: ${typeName(inputType ?? 0)} instead of float32`);
  if (outputType !== DT.FLOAT) problems.push(`output: ${typeName(outputType ?? 0)} instead of float32`);
  return { ok: problems.length === 0, opset, checked, problems };
}

/** Throws an ExportError naming the first tensor that does not match. */
export function assertAudit(report: AuditReport, path: string): void {
  if (report.ok) return;
  const first = report.problems[0]!;
  throw new ExportError(`audit of ${path} failed: ${report.problems.join('; ')}`, 'audit', { path, tensor: first.split(':')[0]!, format: 'onnx' });
}
