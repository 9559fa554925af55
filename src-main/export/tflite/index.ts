/**
 * The TensorFlow Lite full-integer format: prepare what TFLite imposes
 * (quant.ts), build, write atomically, audit the file read back, verify it in
 * the real TFLite interpreter (wasm, in Node) against the studio's TFLite
 * simulation (simulate.ts, run on onnxruntime: export/verify.ts).
 */
import { readFile } from 'node:fs/promises';
import { ExportError, lowered, loweredAsync } from '../errors.js';
import type { ExportInput, ExportOptions, ExportResult } from '../types.js';
import { fileDigest, writeFileAtomic } from '../write-file.js';
import { assertTfliteAudit, auditTflite, type TfliteAuditReport } from './audit.js';
import { assertExpressible, buildTflite, encodeTflite, type TfliteIo } from './build.js';
import { fileModel, inputQuantizer, logitsQParams, quantizerAt, tfliteQuant, type TfliteQuant } from '../../engine/targets/tflite/quant.js';
import { logitsSimulation, tfliteSimulation, tfliteSimulationText } from './simulate.js';
import { runSimulation, simulationChoice } from '../verify.js';
import { assertTargetRules } from '../target-rules.js';
import type { EvalSamples } from '../../engine/eval-samples.js';
import { preprocessedSamples, verifyTflite } from './verify.js';
import { tfliteLayerDiff } from '../diff/tflite-diff.js';
import { layerDiffOrReason, type LayerDiffReport } from '../diff/layer-diff.js';
import type { AffineNode } from '../../engine/graph/types.js';
import { integerQParams, qparamsToJSON } from '../../engine/quant/qparams.js';

/**
 * What TFLite stores for the run (softmax grid, logits range observed on the
 * run's calibration samples by the TFLite simulation, on onnxruntime unless
 * it cannot run it (export/verify.ts runSimulation, `opts` as for the
 * verification); on the eval samples only where an input has no calibration
 * split, as in tests that build an input by hand).
 */
export async function prepareTflite(input: ExportInput, opts: ExportOptions = {}): Promise<TfliteQuant> {
  const { graph, plan, qparams } = input;
  const samples = input.calibration ?? input.samples;
  assertExpressible(graph, plan);
  return loweredAsync(() => tfliteQuant(graph, plan, qparams, async (softmax, model) => {
    if (!samples) return null;
    const spec = model.plan.activations.find((a) => a.name === softmax.quantizer)!.spec;
    // The calibration split is not the verification's: its progress is not reported.
    const quiet: EvalSamples = { labels: samples.labels, inputShape: samples.inputShape, batch: (start, count) => samples.batch(start, count) };
    const { outputs, record } = await runSimulation(logitsSimulation(model, softmax), quiet, simulationChoice(opts));
    return { qparams: logitsQParams(model.graph, outputs, spec), how: { ...record } };
  }));
}

export async function exportTflite(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const io: TfliteIo = opts.tfliteIo ?? 'float';
  assertTargetRules(input, 'tflite');
  opts.onPhase?.('write');
  const quant = await prepareTflite(input, opts);
  if (quant.activationType === 'int16' && io === 'int8') {
    throw new ExportError(`the run's activations are 16-bit: its TFLite file is 16x8, whose integer input and output would be int16; export it with float input/output`, 'unsupported', { path: dest, format: 'tflite' });
  }
  const preprocessing = preprocessingOf(quant).map((a) => ({ layer: a.name, ...(a.kerasClass ? { kerasClass: a.kerasClass } : {}), scale: a.scale, offset: a.offset }));
  const model = lowered(() =>
    buildTflite({
      quant,
      io,
      metadata: {
        model: input.modelName,
        ...(input.runId !== undefined ? { run: input.runId } : {}),
        config: input.config,
        io,
        // The file takes the input after these (x·scale + offset, per channel, in order).
        ...(preprocessing.length > 0 ? { preprocessing } : {}),
      },
    }),
  );
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
  let diff: LayerDiffReport | null = null;
  if ((opts.verify ?? true) && input.samples) {
    opts.onPhase?.('verify');
    const lowered = quant.model.graph.nodes.length !== input.graph.nodes.length || quant.model.forced.length > 0;
    const text = tfliteSimulationText(input.graph, lowered, !!quant.logits, quant.activationType);
    const sim = await runSimulation(tfliteSimulation(input.graph, input.plan, input.qparams, quant.softmax, quant.logits, text), input.samples, simulationChoice(opts));
    const fileSamples = preprocessedSamples(input.samples, preprocessingOf(quant));
    // Layer by layer: the file's int8 activations against the simulation (export/diff), before the full pass so that pass's progress ends the step.
    diff =
      (opts.layerDiff ?? true)
        ? await layerDiffOrReason('tflite', () =>
            tfliteLayerDiff(dest, quant, input.samples!, {
              preprocessing: preprocessingOf(quant),
              ...(io === 'int8' ? { int8Input: int8Ends(input, quant).input } : {}),
              ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}),
            }),
          )
        : null;
    const run = { ...(io === 'int8' ? { int8: int8Ends(input, quant) } : {}), ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}) };
    verification = await verifyTflite(dest, fileSamples, sim, run, { model: fileModel(quant), samples: input.samples });
  }
  const digest = await fileDigest(dest);
  const extra = { forced: quant.forced, ...(quant.logits ? { logits: qparamsToJSON(quant.logits) } : {}), ...(quant.logitsObserved ? { logitsObserved: quant.logitsObserved } : {}) };
  return {
    format: 'tflite',
    path: dest,
    extraPaths: [],
    ...digest,
    audit: audit as unknown as Record<string, unknown>,
    verification: verification ? { ...verification, ...extra, ...(diff ? { layerDiff: diff } : {}) } : null,
  };
}

/** The int8 grids of the model input and output (integer-IO files). */
export function int8Ends(input: ExportInput, quant: TfliteQuant) {
  const grid = (name: string) => {
    const iq = integerQParams(quant.act.get(name)!, 'signed');
    return { scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]! };
  };
  const inQ = inputQuantizer(input.graph, input.plan)!;
  const outQ = quantizerAt(input.plan, input.graph.output);
  if (!outQ) throw new ExportError(`the model output ${input.graph.output} has no quantizer`, 'unsupported', { tensor: input.graph.output, format: 'tflite' });
  return { input: grid(inQ.name), output: grid(outQ.name) };
}

/** The input's preprocessing affines (Rescaling / Normalization the plan folds into the input quantizer), in order. */
export function preprocessingOf(quant: TfliteQuant): AffineNode[] {
  const { graph, plan } = quant.model;
  const inQ = inputQuantizer(graph, plan);
  return (inQ?.layers.slice(1) ?? []).map((l) => graph.nodes.find((n) => n.name === l)).filter((n): n is AffineNode => n?.op === 'affine');
}
