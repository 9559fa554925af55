/**
 * Data-parallel calibration: the calibration batches are split into
 * contiguous shards (whole batches, so each worker sees exactly the batches
 * the serial run would), each shard runs the float model and the activation
 * observers in a helper worker, and the observers' states are merged
 * (./merge-observers.ts). Two-pass (histogram) estimators merge pass 0 first
 * and hand the merged range back to every worker before pass 1, so all shards
 * bin over the same edges. The merged observers equal the serial run's
 * exactly (the test in test/src-main/engine/ptq/parallel-calibrate.test.ts).
 *
 * A part read from disk goes to the workers as its description (BatchSource
 * spec) and shard indices: each worker opens it and reads its own batches, so
 * no shard is ever gathered here. A part held in memory sends its shard.
 *
 * Kernels are observed once, here, as in the serial run. Progress is the sum
 * of the shards' progress; a cancel (onBatch throwing) sets the shared flag,
 * waits for every worker to stop at its next batch, and rethrows.
 */
import os from 'node:os';
import type { Estimator } from '../../api/run-config.js';
import type { GraphRuntime } from '../graph/runtime.js';
import { serializeGraph } from '../graph/serialize.js';
import type { Graph } from '../graph/types.js';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import { activationObservers, observeWeights, type Calibration, type CalibrateOptions } from '../ptq/calibrate.js';
import { observerFromConfig, type Observer, type ObserverConfig } from '../quant/observers/index.js';
import type { QParams } from '../quant/qparams.js';
import type { QuantPlan } from '../transform/plan.js';
import { isMergeable, mergeObserverConfigs } from './merge-observers.js';
import { calibrationPool, type PoolWorker } from './pool.js';
import type { CalibrationWorkerData, FromCalibrationWorker } from './protocol.js';

export const CALIBRATION_WORKERS_ENV = 'STUDIO_CALIBRATION_WORKERS';

/**
 * Helper workers for calibration: the request (payload or
 * $STUDIO_CALIBRATION_WORKERS), else min(2, cores). 1 means the serial path in
 * the calling thread. Native TensorFlow already uses every core itself, so it
 * stays serial unless asked.
 */
export function calibrationWorkers(requested: number | undefined, backend: string, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = env[CALIBRATION_WORKERS_ENV] !== undefined ? Number(env[CALIBRATION_WORKERS_ENV]) : undefined;
  const want = requested ?? fromEnv;
  if (want !== undefined) {
    if (!Number.isInteger(want) || want < 1) throw new Error(`calibration workers must be a positive integer, got ${String(requested ?? env[CALIBRATION_WORKERS_ENV])}`);
    return want;
  }
  if (backend === 'tensorflow') return 1;
  return Math.max(1, Math.min(2, os.availableParallelism()));
}

/** Whether the estimator's calibration can run in shards (order-free statistics). */
export function canCalibrateInParallel(estimator: Estimator): boolean {
  return isMergeable(estimator.kind);
}

/** Contiguous whole-batch shards of `indices` for `n` workers (empty shards dropped). */
export function shardIndices(indices: Int32Array, batchSize: number, n: number): Int32Array[] {
  const batches = Math.ceil(indices.length / batchSize);
  const shards: Int32Array[] = [];
  let b = 0;
  for (let w = 0; w < n; w++) {
    const take = Math.floor(batches / n) + (w < batches % n ? 1 : 0);
    const from = b * batchSize;
    const to = Math.min(indices.length, (b + take) * batchSize);
    if (to > from) shards.push(indices.subarray(from, to));
    b += take;
  }
  return shards;
}

export interface ParallelCalibrationInput {
  /** The float (BatchNorm-folded) graph that `runtime` runs. */
  graph: Graph;
  runtime: GraphRuntime;
  plan: QuantPlan;
  estimator: Estimator;
  part: BatchSource;
  indices: Int32Array;
  batchSize: number;
  inputShape: number[];
  workers: number;
  backend: CalibrationWorkerData['backend'];
}

/** Sends one message to each worker and collects one reply each (progress forwarded); cancels all on the first failure. */
async function roundTrip(
  workers: PoolWorker[],
  session: number,
  send: (w: PoolWorker, i: number) => void,
  want: FromCalibrationWorker['type'],
  onProgress: (i: number, done: number) => void,
  cancel: () => void,
): Promise<FromCalibrationWorker[]> {
  const replies: FromCalibrationWorker[] = new Array(workers.length);
  let firstError: Error | null = null;
  await Promise.all(
    workers.map(
      (w, i) =>
        new Promise<void>((resolve) => {
          const stop = w.listen((m) => {
            if ('session' in m && m.session !== session && m.session !== -1) return;
            if (m.type === 'progress') {
              try {
                onProgress(i, m.done);
              } catch (err) {
                if (!firstError) firstError = err as Error;
                cancel();
              }
              return;
            }
            if (m.type === want || m.type === 'error') {
              stop();
              if (m.type === 'error' && !firstError) firstError = m.cancelled ? new Error('cancelled') : new Error(m.message);
              if (m.type === 'error') cancel();
              replies[i] = m;
              resolve();
            }
          });
          if (w.failed) {
            stop();
            if (!firstError) firstError = w.failed;
            resolve();
            return;
          }
          send(w, i);
        }),
    ),
  );
  if (firstError) throw firstError;
  return replies;
}

const isResident = (part: BatchSource) => (part as { resident?: boolean }).resident === true;

export async function calibrateParallel(input: ParallelCalibrationInput, opts: CalibrateOptions = {}): Promise<Calibration> {
  const started = performance.now();
  const { plan, estimator } = input;
  if (!canCalibrateInParallel(estimator)) throw new Error(`${estimator.kind} depends on batch order; calibrate it serially`);
  if (input.indices.length === 0) throw new Error('the calibration split is empty: nothing to calibrate on');
  const shards = shardIndices(input.indices, input.batchSize, input.workers);
  const pool = calibrationPool(input.backend);
  const workers = await pool.take(shards.length);
  const session = pool.session();
  const graphBytes = serializeGraph(input.graph);
  const { passes } = activationObservers(plan, estimator);
  const cancel = () => pool.cancel(session);
  try {
    await roundTrip(
      workers,
      session,
      (w, i) => {
        const shard = shards[i]!;
        const open = { type: 'open', session, graph: graphBytes, plan, estimator, inputShape: input.inputShape, batchSize: input.batchSize } as const;
        if (input.part.spec && !isResident(input.part)) {
          // A part read from disk: each worker opens it and reads its own batches.
          w.post({ ...open, samples: { source: input.part.spec, indices: shard.slice() } });
        } else {
          // Held in memory (at most RESIDENT_MAX_BYTES for a loaded part): the shard's samples go along.
          const images = gatherSamples(input.part, shard);
          w.post({ ...open, samples: { images, count: shard.length } }, [images.buffer as ArrayBuffer]);
        }
      },
      'opened',
      () => {},
      cancel,
    );
    let merged: Record<string, ObserverConfig> | null = null;
    let samples = 0;
    for (let pass = 0; pass < passes; pass++) {
      const done = new Array<number>(workers.length).fill(0);
      opts.onBatch?.(pass, passes, 0);
      const restore = merged;
      const replies = await roundTrip(
        workers,
        session,
        (w) => w.post({ type: 'pass', session, pass, restore }),
        'pass-done',
        (i, d) => {
          done[i] = d;
          opts.onBatch?.(pass, passes, done.reduce((a, b) => a + b, 0));
        },
        cancel,
      );
      const states = replies.map((r) => (r as Extract<FromCalibrationWorker, { type: 'pass-done' }>).states);
      if (pass === 0) samples = replies.reduce((a, r) => a + (r as { samples: number }).samples, 0);
      merged = {};
      for (const name of Object.keys(states[0]!)) merged[name] = mergeObserverConfigs(states.map((s) => s[name]!), pass === 0 ? 0 : 1);
    }
    opts.onBatch?.(passes - 1, passes, samples);

    const unique = new Map<string, Observer>();
    for (const [name, c] of Object.entries(merged!)) unique.set(name, observerFromConfig(c));
    const observers = new Map<string, Observer>();
    for (const a of plan.activations) {
      const obs = unique.get(a.sharedWith ?? a.name);
      if (!obs) throw new Error(`activation quantizer ${a.name} has no merged observer`);
      observers.set(a.name, obs);
    }
    const qparams = new Map<string, QParams>();
    for (const a of plan.activations) qparams.set(a.name, observers.get(a.name)!.qparams());
    const weightObservers = observeWeights(input.runtime, plan, estimator, qparams);
    return { qparams, observers, weightObservers, samples, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const w of workers) if (!w.failed) w.post({ type: 'close', session });
    pool.release(workers);
  }
}
