/**
 * Runs from request to stored result: creates the run row, queues its job in
 * the engine worker, turns progress into events with time left, and writes
 * the outcome in one transaction. A failure or a cancel is recorded with its
 * reason; nothing a finished run stored is touched.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isBusyError, resultRetryWindowMs, retryWhileBusy } from '../store/busy.js';
import { notStoredMessage, resultRecoveryPath } from '../store/recovery.js';
import type { EventBus } from '../api/events.js';
import type { RunSummary } from '../api/contract.js';
import type { RunConfigInput } from '../api/run-config.js';
import { ApiError } from '../api/dispatch.js';
import type { Store } from '../store/index.js';
import { JobCancelledError, type EngineHost } from './engine-host.js';
import { EtaClock } from './eta.js';
import { settleWithin } from './settle.js';
import type { CheckpointEvent } from '../engine/train/checkpoint.js';
import { CHECKPOINT_EVENT } from './protocol.js';
import { jobPayloadFor, payloadAtStart, storeCheckpoint, storeJobResult, type RunJobPayload, type RunKind } from './run-jobs.js';

export interface StartRun {
  kind: RunKind;
  name?: string;
  config: RunConfigInput;
  parentId?: number;
}

export class RunManager {
  private readonly active = new Map<number, Promise<void>>();
  /** What became of the best checkpoint of a run whose training diverged, for its error message. */
  private readonly checkpoints = new Map<number, string>();

  constructor(
    private readonly store: Store,
    private readonly engine: EngineHost,
    private readonly events: EventBus,
  ) {}

  /** Creates the run and queues it; resolves as soon as it is queued. */
  async start(req: StartRun): Promise<RunSummary> {
    // Build the payload first: a bad model, dataset or config fails here, before anything is stored.
    const prepared = await jobPayloadFor(this.store, this.engine, req);
    const run = this.store.runs.create({
      kind: req.kind,
      config: req.config,
      ...(req.name ? { name: req.name } : { name: prepared.defaultName }),
      ...(req.parentId ? { parentId: req.parentId } : {}),
    });
    if (prepared.lint.length > 0) this.store.runs.setLint(run.id, prepared.lint);
    this.events.emit('runs.changed', { id: run.id, status: 'queued' });
    const done = this.execute(run.id, req.kind, () => payloadAtStart(this.store, prepared.payload)).finally(() => {
      this.active.delete(run.id);
      this.checkpoints.delete(run.id);
    });
    this.active.set(run.id, done);
    return this.store.runs.get(run.id)!;
  }

  /** Resolves when the run has left the queue (done, failed or cancelled). */
  async settled(id: number): Promise<void> {
    await this.active.get(id);
  }

  cancel(id: number): boolean {
    const status = this.store.runs.status(id);
    if (status === undefined) throw new ApiError('not_found', `run ${id} does not exist`);
    if (status !== 'queued' && status !== 'running') return false;
    return this.engine.cancel(id);
  }

  /** Cancels what is running; the next open marks anything left as interrupted. */
  async shutdown(): Promise<void> {
    for (const id of this.active.keys()) this.engine.cancel(id);
    await settleWithin([...this.active.values()], 2000);
  }

  private async execute(runId: number, kind: RunKind, payload: () => RunJobPayload): Promise<void> {
    const eta = new EtaClock();
    let started = false;
    const markStarted = () => {
      if (started) return;
      started = true;
      this.store.runs.markRunning(runId, this.engine.activeBackend?.name ?? 'unknown');
      this.events.emit('runs.changed', { id: runId, status: 'running' });
    };
    try {
      const result = await this.engine.runJob(runId, kind, () => ({ ...payload(), runId }), {
        onProgress: (p) => {
          markStarted();
          const etaSeconds = eta.update(p.phase, p.done, p.total);
          this.events.emit('job.progress', { runId, phase: p.phase, done: p.done, total: p.total, etaSeconds, ...(p.message ? { message: p.message } : {}) });
        },
        onEvent: (name, data) => this.onJobEvent(runId, name, data),
      });
      markStarted();
      const stored = await this.storeResult(runId, kind, result);
      this.events.emit('runs.changed', { id: runId, status: stored ? 'done' : 'failed' });
    } catch (err) {
      if (err instanceof JobCancelledError) {
        this.store.runs.finish(runId, { status: 'cancelled', error: 'cancelled by the user' });
        this.events.emit('runs.changed', { id: runId, status: 'cancelled' });
      } else {
        const message = err instanceof Error ? err.message : String(err);
        const kept = this.checkpoints.get(runId);
        this.store.runs.fail(runId, kept ? `${message}; ${kept}` : message);
        this.events.emit('runs.changed', { id: runId, status: 'failed' });
      }
    }
  }

  /**
   * Stores a finished run's result, retried with backoff while another
   * process holds the database (store/busy.ts: busy timeout per attempt,
   * retries for resultRetryWindowMs). If it still cannot be written, the
   * result is kept in a recovery file in the data folder and the run is
   * labelled "finished but its result could not be stored: <file>" (now if
   * the database takes that, else at the next start); false then.
   */
  private async storeResult(runId: number, kind: RunKind, result: unknown): Promise<boolean> {
    try {
      await retryWhileBusy(() => storeJobResult(this.store, runId, kind, result), resultRetryWindowMs());
      return true;
    } catch (err) {
      if (!isBusyError(err)) throw err;
      const file = resultRecoveryPath(path.dirname(this.store.path), runId);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify({ runId, kind, keptAt: new Date().toISOString(), reason: lockedMessage(this.store.path, runId), result }, typedArraysAsLists));
      try {
        this.store.runs.fail(runId, notStoredMessage(file));
      } catch {
        // Still locked: the next start labels it from the recovery file.
      }
      return false;
    }
  }

  private onJobEvent(runId: number, name: string, data: unknown): void {
    if (name === CHECKPOINT_EVENT) {
      this.checkpoints.set(runId, storeCheckpoint(this.store, runId, data as CheckpointEvent));
      return;
    }
    if (name === 'curves') {
      this.store.curves.append(runId, data as Parameters<Store['curves']['append']>[1]);
      this.events.emit('runs.changed', { id: runId, status: 'running' });
    }
  }
}

/** The sentence for a result the lock kept out: the stage and the database's path. */
export function lockedMessage(dbPath: string, runId: number): string {
  return `the database ${dbPath} stayed locked by another process for longer than ${resultRetryWindowMs() / 1000} s while storing the result of run ${runId}`;
}

/** JSON.stringify replacer: typed arrays as plain lists (they would otherwise become index-keyed objects). */
function typedArraysAsLists(_key: string, value: unknown): unknown {
  return ArrayBuffer.isView(value) && !(value instanceof DataView) ? { type: value.constructor.name, values: Array.from(value as unknown as ArrayLike<number>) } : value;
}
