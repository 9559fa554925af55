/** A real PTQ result of a built-in model on the bundled Fashion-MNIST subset, as an ExportInput. */
import { serializeGraph } from '../../../src-main/engine/graph/serialize.js';
import { preparePtq, runPtq } from '../../../src-main/engine/ptq/run.js';
import { builtinModel } from '../../../src-main/io/models/builtins.js';
import type { RunConfigInput } from '../../../src-main/api/run-config.js';
import { qparamsFromRecords } from '../../../src-main/export/qparams-from-record.js';
import type { ExportInput } from '../../../src-main/export/types.js';
import { samplesFromPart } from '../../../src-main/engine/eval-samples.js';
import type { RunResults } from '../../../src-main/store/tensors.js';
import { SAMPLE_DATA, config, context } from '../engine/ptq/ptq-fixtures.js';

export { SAMPLE_DATA };

export const PER_TENSOR = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-tensor' } as const;
export const PER_CHANNEL = { bits: 8, symmetric: true, narrowRange: true, granularity: 'per-channel' } as const;

export interface PtqExport {
  input: ExportInput;
  results: RunResults;
}

/** Runs PTQ of a built-in model (eval split of `evalCount` samples) and rebuilds its qparams from the records, as an export from the store does. */
export async function ptqExport(modelName: string, extra: Partial<RunConfigInput> = {}, evalCount = 500): Promise<PtqExport> {
  const model = serializeGraph(builtinModel(modelName).build());
  const cfg = config({ eval: { count: evalCount, seed: 1 }, ...extra });
  const payload = { config: cfg, modelName, model, dataset: SAMPLE_DATA };
  const results = await runPtq(payload, context());
  const prep = preparePtq(payload);
  const qparams = qparamsFromRecords(prep.plan, results.tensors);
  const inputShape = prep.graph.nodes[0]!.outputShape;
  const samples = samplesFromPart(prep.data.parts.test, prep.evalIdx, inputShape);
  return {
    results,
    input: { modelName, config: cfg, graph: prep.graph, plan: prep.plan, qparams, records: results.tensors, samples },
  };
}
