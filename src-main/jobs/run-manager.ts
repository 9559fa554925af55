/**
 * Runs from request to stored result: creates the run row, queues its job in
 * the engine worker, turns progress into events with time left, and writes
 * the outcome in one transaction. A failure or a cancel is recorded with its
 * reason; nothing a finished run stored is touched.
 */
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
import { jobPayloadFor, storeCheckpoint, storeJobResult, type RunKind } from './run-jobs.js';

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
    const done = this.execute(run.id, req.kind, prepared.payload).finally(() => {
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

  private async execute(runId: number, kind: RunKind, payload: unknown): Promise<void> {
    const eta = new EtaClock();
    let started = false;
    const markStarted = () => {
      if (started) return;
      started = true;
      this.store.runs.markRunning(runId, this.engine.activeBackend?.name ?? 'unknown');
      this.events.emit('runs.changed', { id: runId, status: 'running' });
    };
    try {
      const result = await this.engine.runJob(runId, kind, { ...(payload as object), runId }, {
        onProgress: (p) => {
          markStarted();
          const etaSeconds = eta.update(p.phase, p.done, p.total);
          this.events.emit('job.progress', { runId, phase: p.phase, done: p.done, total: p.total, etaSeconds, ...(p.message ? { message: p.message } : {}) });
        },
        onEvent: (name, data) => this.onJobEvent(runId, name, data),
      });
      markStarted();
      storeJobResult(this.store, runId, kind, result);
      this.events.emit('runs.changed', { id: runId, status: 'done' });
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
