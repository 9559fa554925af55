/**
 * The studio as the accuracy benches drive it: its typed API (dispatch, the
 * same handlers the hosts serve), a run started and waited for, and the
 * train and test images a run's config draws, so torch can take the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dispatch } from '../src-main/api/dispatch.js';
import type { RunDetail } from '../src-main/api/contract.js';
import type { RunConfigInput } from '../src-main/api/run-config.js';
import { loadDataset, sampleSplit } from '../src-main/io/data/dataset.js';
import { openStudio, type Studio } from '../src-main/studio.js';
import { FASHION } from './ptq.js';

export const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : String(v));

export class Api {
  constructor(readonly studio: Studio) {}

  async call<T>(method: string, input: unknown): Promise<T> {
    const r = await dispatch(this.studio.handlers, method as never, input, { validateOutputs: true });
    if (!r.ok) throw new Error(`${method}: ${r.error.code}: ${r.error.message}`);
    return r.output as T;
  }

  /** Starts a run, waits for it, and returns its detail; a failed run throws its error. */
  async run(kind: 'float' | 'ptq' | 'qat', name: string, config: RunConfigInput): Promise<RunDetail> {
    const t0 = performance.now();
    const started = await this.call<{ id: number }>('runs.start', { kind, name, config });
    await this.studio.runs.settled(started.id);
    const detail = await this.call<RunDetail>('runs.get', { id: started.id });
    if (detail.status !== 'done') throw new Error(`run ${name} ${detail.status}: ${detail.error}`);
    const acc = kind === 'float' ? detail.floatAccuracy : detail.quantAccuracy;
    // A QAT run also says how its trained model scores unquantized.
    const qatFloat = kind === 'qat' ? `, its float model ${pct(detail.summary.qatFloatAccuracy as number)}` : '';
    console.log(`    ${name}: ${pct(acc)}${qatFloat} (${Math.round((performance.now() - t0) / 1000)} s)`);
    return detail;
  }
}

/** The train images a run calibrates on and the test images it evaluates (engine/ptq/run.ts draws them with the same sampleSplit), and how many train images there are. */
export function runSplits(base: { calibration: { count: number; seed: number }; eval: { count: number; seed: number } }): { calibration: Int32Array; test: Int32Array; trainCount: number } {
  const { train, test } = loadDataset({ path: FASHION, format: 'idx', preprocessing: {} }).parts;
  return { calibration: sampleSplit(base.calibration.count, train.count, base.calibration.seed), test: sampleSplit(base.eval.count, test.count, base.eval.seed), trainCount: train.count };
}

/** A fresh studio on its own temporary SQLite file with the full Fashion-MNIST imported; `use` gets it, the dataset's id and the temporary folder (for files torch reads), and both are gone afterwards. */
export async function withBenchStudio<T>(name: string, use: (api: Api, datasetId: number, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `studio-bench-${name}-`));
  try {
    const studio = await openStudio({ dbPath: path.join(dir, 'studio.sqlite'), host: 'cli', defaults: false });
    try {
      const api = new Api(studio);
      const dataset = await api.call<{ id: number }>('datasets.import', { path: FASHION, name: 'fashion-mnist-full' });
      return await use(api, dataset.id, dir);
    } finally {
      await studio.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
