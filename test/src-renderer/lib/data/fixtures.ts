/** Run fixtures for the renderer's data tests, built through the real RunConfig schema. */
import type { RunSummary } from '../../../../src-main/api/contract.js';
import { RunConfig, type RunConfigInput } from '../../../../src-main/api/run-config.js';

export function config(extra: Partial<RunConfigInput> = {}): RunConfig {
  return RunConfig.parse({ modelId: 1, datasetId: 1, ...extra });
}

export function run(id: number, extra: Partial<RunSummary> = {}): RunSummary {
  return {
    id,
    name: `run_${id}`,
    kind: 'ptq',
    status: 'done',
    modelId: 1,
    modelName: 'fashion_cnn',
    datasetId: 1,
    datasetName: 'fashion_mnist',
    parentId: null,
    backend: 'cpu',
    floatAccuracy: 0.9,
    quantAccuracy: 0.89,
    floatLoss: null,
    quantLoss: null,
    error: null,
    createdAt: `2025-11-${String(10 + id).padStart(2, '0')}T10:00:00.000Z`,
    startedAt: null,
    finishedAt: null,
    config: config(),
    ...extra,
  };
}
