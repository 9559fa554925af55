/**
 * A calibrated PTQ run of the bundled sample CNN (assets/sample/models/fashion_cnn,
 * trained) on the bundled Fashion-MNIST subset, as an export input: the
 * fixture of the integer reference's whole-model tests. Falls back to the
 * built-in fashion_cnn (same architecture, initial weights) when the sample
 * files are absent, as the e2e tests do.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { RunConfigInput } from '../../../../src-main/api/run-config.js';
import { serializeGraph } from '../../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../../src-main/engine/ptq/run.js';
import { qparamsFromRecords } from '../../../../src-main/export/qparams-from-record.js';
import type { ExportInput } from '../../../../src-main/export/types.js';
import { samplesFromPart } from '../../../../src-main/engine/eval-samples.js';
import { builtinModel } from '../../../../src-main/io/models/builtins.js';
import { readTfjsLayersModel } from '../../../../src-main/io/models/tfjs-layers.js';
import { ROOT, SAMPLE_DATA, config, context } from '../ptq/ptq-fixtures.js';

export const SAMPLE_MODEL = path.join(ROOT, 'assets', 'sample', 'models', 'fashion_cnn', 'model.json');

/** W8A8 (asymmetric uint8-grid activations, the default) with narrow symmetric int8 weights. */
export const W8_PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
export const W8_PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

export async function sampleCnnModel(): Promise<{ name: string; bytes: Uint8Array }> {
  if (existsSync(SAMPLE_MODEL)) return { name: 'fashion_cnn_sample', bytes: serializeGraph(await readTfjsLayersModel(SAMPLE_MODEL)) };
  return { name: 'fashion_cnn', bytes: serializeGraph(builtinModel('fashion_cnn').build()) };
}

/** PTQ of `model` (200 calibration images), its qparams rebuilt from the stored records, and `evalCount` eval samples. */
export async function calibratedExport(model: { name: string; bytes: Uint8Array }, extra: Partial<RunConfigInput>, evalCount: number): Promise<ExportInput> {
  const cfg = config({ eval: { count: evalCount, seed: 1 }, ...extra });
  // One calibration thread: the machine is shared, and worker threads would outlive a failing test.
  const payload = { config: cfg, modelName: model.name, model: model.bytes, dataset: SAMPLE_DATA, calibrationWorkers: 1 };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, prep.graph.nodes[0]!.outputShape);
  return {
    modelName: model.name,
    config: cfg,
    graph: prep.graph,
    plan: prep.plan,
    qparams: qparamsFromRecords(prep.plan, results.tensors),
    records: results.tensors,
    samples,
  };
}
