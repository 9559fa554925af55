/** The ONNX (QDQ, opset 21, IR 10) format: build, write atomically, audit the file read back, verify in onnxruntime-node against the studio's half-even simulation (itself run on onnxruntime: export/simulate.ts). */
import { readFile } from 'node:fs/promises';
import { ExportError, lowered } from '../errors.js';
import { qdqSimulation } from '../simulate.js';
import type { ExportInput, ExportOptions, ExportResult } from '../types.js';
import { runSimulation, simulationChoice } from '../verify.js';
import { fileDigest, writeFileAtomic } from '../write-file.js';
import { assertAudit, auditOnnx } from './audit.js';
import { buildOnnx, encodeOnnx, EXPORT_FORMAT } from '../../engine/onnx/build.js';
import { verifyOnnx } from './verify.js';
import { onnxLayerDiff } from '../diff/onnx-diff.js';
import { layerDiffOrReason } from '../diff/layer-diff.js';
import { assertTargetRules } from '../target-rules.js';

export async function exportOnnx(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  assertTargetRules(input, 'onnx');
  opts.onPhase?.('write');
  const model = lowered(() =>
    buildOnnx({
      graph: input.graph,
      plan: input.plan,
      qparams: input.qparams,
      format: EXPORT_FORMAT,
      metadata: {
        'studio.model': input.modelName,
        ...(input.runId !== undefined ? { 'studio.run': String(input.runId) } : {}),
        'studio.config': JSON.stringify(input.config),
        'studio.layout': 'input float NHWC, output float; NCHW inside',
      },
    }),
  );
  await writeFileAtomic(dest, encodeOnnx(model), opts);
  return finishOnnx(input, dest, opts);
}

/** Audit and verification of an ONNX file already at `dest` (also used to re-check a file). */
export async function finishOnnx(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(dest);
  } catch (e) {
    throw new ExportError(`cannot read back ${dest}: ${(e as Error).message}`, 'verify', { path: dest, format: 'onnx' }, { cause: e });
  }
  opts.onPhase?.('audit');
  let audit;
  try {
    audit = auditOnnx(bytes, input.graph, input.plan, input.qparams);
  } catch (e) {
    throw new ExportError(`audit of ${dest} failed: the file does not decode as ONNX (${(e as Error).message})`, 'audit', { path: dest, format: 'onnx' }, { cause: e });
  }
  assertAudit(audit, dest);
  let verification = null;
  if ((opts.verify ?? true) && input.samples) {
    opts.onPhase?.('verify');
    const sim = await runSimulation(qdqSimulation(input.graph, input.plan, input.qparams), input.samples, simulationChoice(opts));
    // Layer by layer: the file's integers at every activation against the simulation (export/diff), before the full pass so that pass's progress ends the step.
    const diff = (opts.layerDiff ?? true) ? await layerDiffOrReason('onnx', () => onnxLayerDiff(dest, input, { ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}), onnxOptimization: opts.onnxOptimization ?? 'disabled' })) : null;
    // The integer reference runs beside it: what an int8 runtime computes, compared with onnxruntime.
    verification = await verifyOnnx(dest, input.samples, sim, opts.onnxOptimization ?? 'disabled', input);
    if (diff) verification = { ...verification, layerDiff: diff };
  }
  const digest = await fileDigest(dest);
  return { format: 'onnx', path: dest, extraPaths: [], ...digest, audit: audit as unknown as Record<string, unknown>, verification: verification as unknown as Record<string, unknown> | null };
}
