/**
 * The TensorFlow Lite full-integer format: prepare what TFLite imposes
 * (quant.ts), build, write atomically, audit the file read back, verify it in
 * the real TFLite interpreter (wasm, in Node) against the studio's TFLite
 * simulation.
 */
import { readFile } from 'node:fs/promises';
import { ExportError } from '../errors.js';
import type { ExportInput, ExportOptions, ExportResult } from '../types.js';
import { fileDigest, writeFileAtomic } from '../write-file.js';
import { assertTfliteAudit, auditTflite, type TfliteAuditReport } from './audit.js';
import { assertExpressible, buildTflite, encodeTflite, type TfliteIo } from './build.js';
import { observeLogitsRange, quantizerAt, tfliteQuant, type TfliteQuant } from './quant.js';
import { simulateTflite, tfliteHooks, TFLITE_INPUT_ROUNDING, TFLITE_ROUNDING } from './simulate.js';
import { verifyTflite } from './verify.js';
import { integerQParams, qparamsToJSON } from '../../engine/quant/qparams.js';

/**
 * What TFLite stores for the run (softmax grid, logits range observed on the
 * run's calibration samples; on the eval samples only where an input has no
 * calibration split, as in tests that build an input by hand).
 */
export function prepareTflite(input: ExportInput): TfliteQuant {
  const { graph, plan, qparams } = input;
  const samples = input.calibration ?? input.samples;
  assertExpressible(graph, plan);
  return tfliteQuant(graph, plan, qparams, (softmax) => {
    if (!samples) return null;
    const spec = plan.activations.find((a) => a.name === softmax.quantizer)!.spec;
    return observeLogitsRange(graph, tfliteHooks(graph, plan, qparams, softmax), samples, spec);
  });
}

export async function exportTflite(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const io: TfliteIo = opts.tfliteIo ?? 'float';
  opts.onPhase?.('write');
  const quant = prepareTflite(input);
  const model = buildTflite({
    graph: input.graph,
    plan: input.plan,
    qparams: input.qparams,
    quant,
    io,
    metadata: { model: input.modelName, ...(input.runId !== undefined ? { run: input.runId } : {}), config: input.config, io },
  });
  await writeFileAtomic(dest, encodeTflite(model), opts);
  return finishTflite(input, quant, dest, io, opts);
}

/** Audit and verification of a TFLite file already at `dest`. */
export async function finishTflite(input: ExportInput, quant: TfliteQuant, dest: string, io: TfliteIo, opts: ExportOptions = {}): Promise<ExportResult> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(dest);
  } catch (e) {
    throw new ExportError(`cannot read back ${dest}: ${(e as Error).message}`, 'verify', { path: dest, format: 'tflite' }, { cause: e });
  }
  opts.onPhase?.('audit');
  let audit: TfliteAuditReport;
  try {
    audit = auditTflite(bytes, input.graph, input.plan, input.qparams, quant, io);
  } catch (e) {
    throw new ExportError(`audit of ${dest} failed: the file does not decode as TFLite (${(e as Error).message})`, 'audit', { path: dest, format: 'tflite' }, { cause: e });
  }
  assertTfliteAudit(audit, dest);
  let verification = null;
  if ((opts.verify ?? true) && input.samples) {
    opts.onPhase?.('verify');
    const sim = simulateTflite(input.graph, input.plan, input.qparams, quant.softmax, quant.logits, input.samples);
    const text = `studio fake-quant, input QUANTIZE rounding ${TFLITE_INPUT_ROUNDING}, requantization ${TFLITE_ROUNDING}, int32 biases, softmax on TFLite's 1/256 grid${quant.logits ? ', logits quantized' : ''} (graph ${input.graph.name})`;
    verification = await verifyTflite(dest, input.samples, sim, text, io === 'int8' ? { int8: int8Ends(input, quant) } : {}, input);
  }
  const digest = await fileDigest(dest);
  const extra = { forced: quant.forced, ...(quant.logits ? { logits: qparamsToJSON(quant.logits) } : {}) };
  return {
    format: 'tflite',
    path: dest,
    extraPaths: [],
    ...digest,
    audit: audit as unknown as Record<string, unknown>,
    verification: verification ? { ...verification, ...extra } : null,
  };
}

/** The int8 grids of the model input and output (integer-IO files). */
export function int8Ends(input: ExportInput, quant: TfliteQuant) {
  const grid = (name: string) => {
    const iq = integerQParams(quant.act.get(name)!, 'signed');
    return { scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]! };
  };
  const inQ = quantizerAt(input.plan, input.graph.nodes[0]!.name)!;
  const outQ = quantizerAt(input.plan, input.graph.output);
  if (!outQ) throw new ExportError(`the model output ${input.graph.output} has no quantizer`, 'unsupported', { tensor: input.graph.output, format: 'tflite' });
  return { input: grid(inQ.name), output: grid(outQ.name) };
}
