/**
 * Export jobs from request to stored record: checks what can be checked at
 * once (the run is finished, the path is allowed, the destination does not
 * exist unless overwriting, its folder takes files) so the caller hears it
 * before anything is queued; then queues the job in the engine worker,
 * turns its steps and batches into `exports.progress` events with time
 * left, and stores the result. The writer writes, audits and verifies a
 * staging copy beside the destination; only then is the result journaled,
 * stored and renamed over the destination (export-staging.ts), so a failure
 * or a cancel stores nothing and leaves the destination byte for byte as it
 * was, and a kill is repaired by the sweep at the next start.
 *
 * Engine job ids of exports are negative (-exportJobId) so they never meet a
 * run's id in the engine's queue or its cancel flag.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { EventBus } from '../api/events.js';
import type { ExportProgress as ExportProgressEvent } from '../api/contract.js';
import { ApiError } from '../api/dispatch.js';
import { ExportError } from '../export/errors.js';
import { exportOutputPaths } from '../export/formats.js';
import { exportPayloadFromStore, storeExport } from '../export/payload.js';
import type { ExportFormat, ExportResult } from '../export/types.js';
import { checkDestination } from '../export/write-file.js';
import type { Store } from '../store/index.js';
import type { ExportRecord } from '../store/exports.js';
import { JobCancelledError, type EngineHost } from './engine-host.js';
import { EtaClock } from './eta.js';
import { settleWithin } from './settle.js';
import { resolveExportPath, type ExportDestinationPolicy } from './export-job-paths.js';
import { ExportStaging, pauseForTest, sweepExportLeftovers, type RecoveryEntry } from './export-staging.js';

export interface StartExport {
  runId: number;
  format: ExportFormat;
  path: string;
  verify?: boolean;
  overwrite?: boolean;
  /** TFLite: int8 model input and output. */
  integerIo?: boolean;
}

export interface ExportJobInfo {
  exportJobId: number;
  runId: number;
  format: ExportFormat;
  path: string;
}

/** How an export job ended, for callers that wait on it (exports.create, the CLI). */
export type ExportOutcome = { ok: true; record: ExportRecord } | { ok: false; cancelled: boolean; message: string };

/** A missing run is not_found; a run not finished or a path that exists is a conflict (the UI asks about overwriting); the rest is bad input. */
function apiCodeOf(e: ExportError): ApiError['code'] {
  if (e.code === 'run') return / does not exist$/.test(e.message) ? 'not_found' : 'conflict';
  return e.code === 'exists' ? 'conflict' : 'invalid_input';
}

export class ExportJobs {
  private nextId = 1;
  private readonly active = new Map<number, { info: ExportJobInfo; done: Promise<ExportOutcome> }>();

  constructor(
    private readonly store: Store,
    private readonly engine: EngineHost,
    private readonly events: EventBus,
    readonly policy: ExportDestinationPolicy,
  ) {}

  /** Validates and queues an export; resolves as soon as it is queued. */
  async start(req: StartExport): Promise<ExportJobInfo> {
    const dest = await resolveExportPath(this.policy, req.path);
    const options = { verify: req.verify ?? true, overwrite: req.overwrite ?? false, ...(req.integerIo ? { tfliteIo: 'int8' as const } : {}) };
    let payload;
    try {
      payload = exportPayloadFromStore(this.store, req.runId, req.format, dest, options);
      for (const out of exportOutputPaths(req.format, dest)) await checkDestination(out, options);
    } catch (e) {
      if (!(e instanceof ExportError)) throw e;
      throw new ApiError(apiCodeOf(e), e.message);
    }
    const staging = new ExportStaging(path.dirname(this.store.path), req.runId, req.format, dest);
    // The writer gets the staging path, which never exists before: overwriting is decided at the rename.
    payload = { ...payload, path: staging.stagingPath, options: { ...payload.options, overwrite: false } };
    try {
      staging.begin();
    } catch (e) {
      throw new ApiError('failed', `cannot export to ${dest}: cannot write the export journal in ${path.dirname(this.store.path)}: ${(e as Error).message}`);
    }
    const info: ExportJobInfo = { exportJobId: this.nextId++, runId: req.runId, format: req.format, path: dest };
    const done = this.execute(info, payload, staging, options.overwrite).finally(() => this.active.delete(info.exportJobId));
    this.active.set(info.exportJobId, { info, done });
    return info;
  }

  /** How the job ended; undefined for an id that is not running (finished jobs are in exports.list). */
  outcome(exportJobId: number): Promise<ExportOutcome> | undefined {
    return this.active.get(exportJobId)?.done;
  }

  running(): ExportJobInfo[] {
    return [...this.active.values()].map((j) => j.info);
  }

  /** A queued export is dropped at once; a running one stops after its current batch. False if it is not running. */
  cancel(exportJobId: number): boolean {
    if (!this.active.has(exportJobId)) return false;
    return this.engine.cancel(-exportJobId);
  }

  async shutdown(): Promise<void> {
    for (const id of this.active.keys()) this.engine.cancel(-id);
    await settleWithin([...this.active.values()].map((j) => j.done), 2000);
  }

  private progress(info: ExportJobInfo, p: Omit<ExportProgressEvent, 'exportJobId' | 'runId' | 'format' | 'path'>): void {
    this.events.emit('exports.progress', { ...info, ...p });
  }

  /**
   * Finishes or undoes what killed exports left (export-staging.ts); run
   * when the studio opens. The export folder (web host) is scanned too.
   */
  sweep(): RecoveryEntry[] {
    return sweepExportLeftovers(this.store, path.dirname(this.store.path), this.policy.folder ? [this.policy.folder] : []);
  }

  private async execute(info: ExportJobInfo, payload: ReturnType<typeof exportPayloadFromStore>, staging: ExportStaging, overwrite: boolean): Promise<ExportOutcome> {
    const eta = new EtaClock();
    this.progress(info, { phase: 'queued', done: 0, total: 1, etaSeconds: null });
    let result: ExportResult;
    try {
      result = (await this.engine.runJob(-info.exportJobId, 'export', payload, {
        onProgress: (p) => {
          const etaSeconds = eta.update(p.phase, p.done, p.total);
          this.progress(info, { phase: p.phase, done: p.done, total: p.total, etaSeconds, ...(p.message ? { message: p.message } : {}) });
        },
      })) as ExportResult;
    } catch (err) {
      staging.discard();
      staging.end();
      const cancelled = err instanceof JobCancelledError;
      const reason = staging.toDest(err instanceof Error ? err.message : String(err));
      // Every message names the file, also when the writer's names only the tensor.
      const message = cancelled
        ? `export of run ${info.runId} to ${info.path} was cancelled; nothing was written`
        : reason.includes(info.path)
          ? reason
          : `cannot export run ${info.runId} to ${info.path}: ${reason}`;
      this.events.emit('exports.failed', { ...info, cancelled, message });
      return { ok: false, cancelled, message };
    }
    const fail = (message: string): ExportOutcome => {
      staging.discard();
      staging.end();
      this.events.emit('exports.failed', { ...info, cancelled: false, message });
      return { ok: false, cancelled: false, message };
    };
    result = staging.resultAtDest(result);
    if (!overwrite) {
      const appeared = staging.outputs.find((p) => existsSync(p));
      if (appeared) return fail(`export of run ${info.runId}: ${appeared} was created by something else while the export ran; it was left as it is and the export was not stored`);
    }
    this.progress(info, { phase: 'store', done: 0, total: 1, etaSeconds: null });
    let record: ExportRecord;
    try {
      staging.committing(result);
      pauseForTest('commit');
      record = storeExport(this.store, info.runId, result);
    } catch (err) {
      // The run went away meanwhile (deleted), or the database is locked: nothing was renamed.
      return fail(`export of run ${info.runId} could not be stored: ${err instanceof Error ? err.message : String(err)}; ${info.path} was left as it was`);
    }
    pauseForTest('stored');
    try {
      staging.rename();
    } catch (err) {
      // The journal stays: the next start renames it into place (the record is stored).
      const message = `export of run ${info.runId} was stored but could not be moved to ${info.path}: ${err instanceof Error ? err.message : String(err)}; the next start retries`;
      this.events.emit('exports.failed', { ...info, cancelled: false, message });
      return { ok: false, cancelled: false, message };
    }
    pauseForTest('renamed');
    staging.end();
    this.events.emit('exports.finished', { ...info, export: record });
    return { ok: true, record };
  }
}
