/** Shared bits of the PTQ tests: the bundled Fashion-MNIST subset, configs and a silent job context. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunConfig, type RunConfigInput } from '../../../../src-main/api/run-config.js';
import { CancelledError, type JobContext } from '../../../../src-main/jobs/protocol.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** dist/test/src-main/engine/ptq → repo root. */
export const ROOT = path.resolve(here, '..', '..', '..', '..', '..');
export const SAMPLE_DATA = { path: path.join(ROOT, 'assets', 'sample', 'fashion-mnist'), format: 'idx', preprocessing: {} };

export function config(extra: Partial<RunConfigInput> = {}): RunConfig {
  return RunConfig.parse({ modelId: 1, datasetId: 1, calibration: { count: 200, seed: 0 }, eval: { count: 200, seed: 1 }, ...extra });
}

export interface RecordingContext extends JobContext {
  phases: string[];
}

/** A context that records phases and cancels once `cancelAfter` progress reports have been made. */
export function context(cancelAfter = Infinity): RecordingContext {
  let reports = 0;
  const phases: string[] = [];
  return {
    jobId: 1,
    phases,
    progress(phase) {
      reports++;
      if (phases.at(-1) !== phase) phases.push(phase);
    },
    emit() {},
    cancelled: () => reports >= cancelAfter,
    checkCancelled() {
      if (reports >= cancelAfter) throw new CancelledError();
    },
  };
}
