/**
 * The parameters sidecar: every quantized tensor's scale and zero point (per
 * channel where per-channel) with the run's config, as JSON and as CSV (one
 * row a channel), so other toolchains can take the studio's ranges.
 *
 * Conventions written into the file: scales are float32 values (printed so
 * they parse back to the same float32); zero points are given in TF's
 * unsigned domain [qmin, qmax] (`zeroPoint`) and in the signed domain
 * (`zeroPointSigned` = zeroPoint − 2^(bits−1), range [qminSigned, qmaxSigned]);
 * a weight's `axis` is on its Keras kernel layout (`view`: depthwise kernels
 * [kh,kw,in,mult] are quantized on [kh,kw,in·mult]). Biases: int32, scale
 * s_in·s_w, zero point 0.
 *
 * `layerMap` says where each layer went in the other formats' files: ONNX
 * node and tensor names and TFLite tensor names → the Keras layer path they
 * came from (the writers' own tags, built here without writing the files),
 * or why that format refuses the run.
 */
import { readFile } from 'node:fs/promises';
import { integerQParams, qparamsEquals, qparamsFromJSON, qparamsToJSON, type QParams, type QParamsJSON } from '../engine/quant/qparams.js';
import { ExportError, lowered } from './errors.js';
import { LoweringError } from '../engine/lowering-error.js';
import { quantizedBiases } from '../engine/integer/biases.js';
import type { ExportInput, ExportOptions, ExportResult } from './types.js';
import { csvPathOf } from './formats.js';
import { fileDigest, checkDestination, writeFileAtomic } from './write-file.js';
import { buildOnnx, EXPORT_FORMAT } from '../engine/onnx/build.js';
import { computeQParams } from '../engine/quant/qparams.js';
import { onnxLayerMap, type OnnxLayerMap } from './onnx/layer-map.js';
import { buildTflite, tfliteLayerMap } from './tflite/build.js';
import { tfliteQuant } from '../engine/targets/tflite/quant.js';

export const PARAMS_FORMAT = 'quant-studio-params';
export const PARAMS_VERSION = 1;

export interface ParamsTensor {
  /** Quantizer name: `<layer>/kernel`, `<layer>/bias`, `input`, `<layer>/output`. */
  name: string;
  kind: 'weight' | 'bias' | 'activation' | 'input';
  /** Layers of the one integer op (activations), or the weighted layer. */
  layers: string[];
  /** Weights: the shape the axis refers to. */
  view?: number[];
  /** Activations sharing a Concatenate's range: the quantizer they share. */
  sharedWith?: string | null;
  qparams: QParamsJSON;
  zeroPointSigned: number[];
  qminSigned: number;
  qmaxSigned: number;
  /** Observed range (envelope) from the run's record, when known. */
  observed?: { min: number; max: number; sqnr: number | null; clipRate: number | null } | null;
}

export interface ParamsFile {
  format: typeof PARAMS_FORMAT;
  version: number;
  model: string;
  runId: number | null;
  config: unknown;
  conventions: Record<string, string>;
  tensors: ParamsTensor[];
  layerMap: LayerMap;
}

/** Each format's names → Keras layer paths, or the reason the format refuses the run. */
export interface LayerMap {
  onnx: OnnxLayerMap | { refused: string };
  tflite: { tensors: Record<string, string> } | { refused: string };
}

/** Why a writer refuses the run (its ExportError / LoweringError message); other errors are thrown. */
function refusal(e: unknown): { refused: string } {
  if ((e instanceof ExportError || e instanceof LoweringError) && (e.code === 'unsupported' || e.code === 'run')) return { refused: e.message };
  throw e;
}

/** The names the ONNX and TFLite writers give the run's nodes and tensors, each with its Keras layer path. */
export async function layerMapOf(input: ExportInput): Promise<LayerMap> {
  const { graph, plan, qparams } = input;
  let onnx: LayerMap['onnx'];
  try {
    onnx = onnxLayerMap(lowered(() => buildOnnx({ graph, plan, qparams, format: EXPORT_FORMAT })));
  } catch (e) {
    onnx = refusal(e);
  }
  let tflite: LayerMap['tflite'];
  try {
    // Names do not depend on the logits range of a fused softmax (observed on samples when the file is written): a unit range stands in.
    const quant = await tfliteQuant(graph, plan, qparams, async (softmax, model) => ({
      qparams: computeQParams([-1], [1], { ...model.plan.activations.find((a) => a.name === softmax.quantizer)!.spec, granularity: 'per-tensor' }),
    }));
    tflite = { tensors: tfliteLayerMap(buildTflite({ quant, io: 'float', metadata: {} })) };
  } catch (e) {
    tflite = refusal(e);
  }
  return { onnx, tflite };
}

function entry(name: string, kind: ParamsTensor['kind'], layers: string[], qp: QParams, extra: Partial<ParamsTensor> = {}): ParamsTensor {
  const signed = integerQParams(qp, 'signed');
  return { name, kind, layers, ...extra, qparams: qparamsToJSON(qp), zeroPointSigned: Array.from(signed.zeroPoint), qminSigned: signed.qmin, qmaxSigned: signed.qmax };
}

export function buildParams(input: ExportInput, layerMap: LayerMap): ParamsFile {
  const { plan, qparams } = input;
  const record = (layer: string, role: string) => input.records?.find((r) => r.layer === layer && r.role === role);
  const observed = (layer: string, role: string) => {
    const r = record(layer, role);
    return r && r.min !== undefined && r.max !== undefined ? { min: r.min, max: r.max, sqnr: r.sqnr ?? null, clipRate: r.clipRate ?? null } : null;
  };
  const tensors: ParamsTensor[] = [];
  const act = (name: string) => qparams.get(plan.activations.find((a) => a.name === name)?.sharedWith ?? name)!;
  const a0 = plan.activations.find((a) => a.role === 'input');
  if (a0) tensors.push(entry(a0.name, 'input', [...a0.layers], act(a0.name), { observed: observed(a0.at, 'input'), sharedWith: a0.sharedWith }));
  const biases = lowered(() => quantizedBiases(input.graph, plan, qparams));
  for (const wq of plan.weights) {
    tensors.push(entry(wq.name, 'weight', [wq.layer], qparams.get(wq.name)!, { view: [...wq.view], observed: observed(wq.layer, 'weight') }));
    const b = biases.get(wq.layer);
    if (b) {
      const n = b.scales.length;
      const biasQp: QParams = {
        bits: 32,
        symmetric: true,
        narrowRange: false,
        granularity: wq.axis !== null ? 'per-channel' : 'per-tensor',
        ...(wq.axis !== null ? { axis: 0 } : {}),
        qmin: -(2 ** 31),
        qmax: 2 ** 31 - 1,
        scale: wq.axis !== null ? b.scales : b.scales.slice(0, 1),
        zeroPoint: new Int32Array(wq.axis !== null ? n : 1),
        nudgedMin: new Float32Array(wq.axis !== null ? n : 1),
        nudgedMax: new Float32Array(wq.axis !== null ? n : 1),
      };
      const j = qparamsToJSON(biasQp);
      tensors.push({ name: `${wq.layer}/bias`, kind: 'bias', layers: [wq.layer], view: [n], qparams: { ...j, nudgedMin: j.scale.map(() => 0), nudgedMax: j.scale.map(() => 0) }, zeroPointSigned: j.zeroPoint, qminSigned: biasQp.qmin, qmaxSigned: biasQp.qmax, observed: null });
    }
  }
  for (const a of plan.activations) {
    if (a.role === 'input') continue;
    tensors.push(entry(a.name, 'activation', [...a.layers], act(a.name), { observed: observed(a.layers[0]!, 'activation'), sharedWith: a.sharedWith }));
  }
  return {
    format: PARAMS_FORMAT,
    version: PARAMS_VERSION,
    model: input.modelName,
    runId: input.runId ?? null,
    config: input.config,
    conventions: {
      domain: "qparams.zeroPoint, qmin, qmax: TF's unsigned domain ([0 or 1, 2^bits-1]); zeroPointSigned, qminSigned, qmaxSigned: the signed (int8) domain, zeroPoint - 2^(bits-1)",
      dequantize: 'real = scale * (q - zeroPoint), per channel along qparams.axis of view for per-channel tensors',
      layouts: 'Keras/TF.js: Dense [in,out], Conv2D [kh,kw,in,out], DepthwiseConv2D quantized on [kh,kw,in*mult]; activations NHWC, per-channel on the last axis',
      bias: 'int32, scale = input scale * weight scale (per output channel), zero point 0; qmin/qmax are the int32 limits',
    },
    tensors,
    layerMap,
  };
}

const CSV_HEADER = ['tensor', 'kind', 'layers', 'granularity', 'axis', 'channel', 'bits', 'symmetric', 'narrow_range', 'scale', 'zero_point', 'zero_point_signed', 'qmin', 'qmax', 'nudged_min', 'nudged_max'];

export function paramsCsv(file: ParamsFile): string {
  const lines = [CSV_HEADER.join(',')];
  for (const t of file.tensors) {
    const q = t.qparams;
    for (let c = 0; c < q.scale.length; c++) {
      lines.push(
        [t.name, t.kind, t.layers.join(' '), q.granularity, q.axis ?? '', c, q.bits, q.symmetric, q.narrowRange, q.scale[c], q.zeroPoint[c], t.zeroPointSigned[c], q.qmin, q.qmax, q.nudgedMin[c], q.nudgedMax[c]]
          .map((v) => String(v))
          .join(','),
      );
    }
  }
  return lines.join('\n') + '\n';
}

/** Qparams by tensor name read from a sidecar JSON (weights, activations; biases excluded). */
export function qparamsFromParamsFile(file: ParamsFile): Map<string, QParams> {
  if (file.format !== PARAMS_FORMAT) throw new Error(`not a ${PARAMS_FORMAT} file`);
  return new Map(file.tensors.filter((t) => t.kind !== 'bias').map((t) => [t.name, qparamsFromJSON(t.qparams)]));
}

/** Parses the CSV back into qparams by tensor name (weights, activations). */
export function qparamsFromParamsCsv(csv: string): Map<string, QParams> {
  const rows = csv.trim().split('\n').slice(1).map((l) => l.split(','));
  const by = new Map<string, string[][]>();
  for (const r of rows) if (r[1] !== 'bias') by.set(r[0]!, [...(by.get(r[0]!) ?? []), r]);
  const out = new Map<string, QParams>();
  for (const [name, rs] of by) {
    const f = rs[0]!;
    out.set(
      name,
      qparamsFromJSON({
        bits: Number(f[6]),
        symmetric: f[7] === 'true',
        narrowRange: f[8] === 'true',
        granularity: f[3] as QParamsJSON['granularity'],
        ...(f[4] !== '' ? { axis: Number(f[4]) } : {}),
        qmin: Number(f[12]),
        qmax: Number(f[13]),
        scale: rs.map((r) => Number(r[9])),
        zeroPoint: rs.map((r) => Number(r[10])),
        nudgedMin: rs.map((r) => Number(r[14])),
        nudgedMax: rs.map((r) => Number(r[15])),
      }),
    );
  }
  return out;
}

export async function exportParams(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  opts.onPhase?.('write');
  const file = buildParams(input, await layerMapOf(input));
  const csvPath = csvPathOf(dest);
  await checkDestination(csvPath, opts);
  await writeFileAtomic(dest, JSON.stringify(file, null, 1), opts);
  await writeFileAtomic(csvPath, paramsCsv(file), opts);
  // Audit: both files read back give the run's qparams exactly.
  opts.onPhase?.('audit');
  const problems: string[] = [];
  const fromJson = qparamsFromParamsFile(JSON.parse(await readFile(dest, 'utf8')) as ParamsFile);
  const fromCsv = qparamsFromParamsCsv(await readFile(csvPath, 'utf8'));
  for (const [name, qp] of input.qparams) {
    for (const [what, m] of [['JSON', fromJson], ['CSV', fromCsv]] as const) {
      const got = m.get(name);
      if (!got) problems.push(`${name}: missing from the ${what}`);
      else if (!qparamsEquals(got, qp)) problems.push(`${name}: the ${what} does not read back to the run's qparams`);
    }
  }
  if (problems.length) throw new ExportError(`audit of ${dest} failed: ${problems.join('; ')}`, 'audit', { path: dest, tensor: problems[0]!.split(':')[0]!, format: 'params' });
  const digest = await fileDigest(dest);
  return {
    format: 'params',
    path: dest,
    extraPaths: [csvPath],
    ...digest,
    audit: { ok: true, tensors: file.tensors.length, roundTrip: 'JSON and CSV read back to the run qparams exactly', problems: [] },
    verification: null,
  };
}
