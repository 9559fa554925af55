/**
 * The Export view: which run, which formats, where to, verify or not; the
 * export jobs started from here followed through exports.* events; and the
 * run's previous exports. Everything goes through the API, so the host
 * decides where files may go (on the web host: only inside its export
 * folder, which this store shows).
 */
import type { ExportFormatInfo, ExportProgress, ExportRecord, MethodOutput } from '../../../src-main/api/contract.js';
import type { RunConfig } from '../../../src-main/api/run-config.js';
import { toApiError, type ApiClient, type ApiError } from '../api.js';
import { defaultExportName, destinationProblem, exportTarget, integerIoProblem } from '../data/export-format.js';
import { Resource } from './resource.svelte.js';

export type ExportJobStatus = 'running' | 'done' | 'failed' | 'cancelled';

export interface ExportJobView {
  exportJobId: number;
  runId: number;
  format: string;
  path: string;
  status: ExportJobStatus;
  progress: ExportProgress | null;
  /** Verification passes seen so far, in order (e.g. studio simulation, onnxruntime). */
  stages: string[];
  record: ExportRecord | null;
  error: string | null;
}

/** A destination that exists, waiting for the user to allow overwriting it. */
export interface OverwriteQuestion {
  format: string;
  path: string;
}

/** What `app.pickPath` answers (the save dialog; supported:false on the web host). */
type PickedPath = MethodOutput<'app.pickPath'>;

export class ExportStore {
  #api: ApiClient;
  readonly formats = new Resource<ExportFormatInfo[]>(() => this.#api.call('exports.formats', {}));
  readonly destination = new Resource<MethodOutput<'exports.destination'>>(() => this.#api.call('exports.destination', {}));
  readonly history = new Resource<ExportRecord[]>(() => (this.runId === null ? Promise.resolve([]) : this.#api.call('exports.list', { runId: this.runId })));

  runId = $state<number | null>(null);
  chosen = $state.raw<ReadonlySet<string>>(new Set(['onnx']));
  /** A file name inside the export folder (web host), or a full path without extension (desktop). */
  base = $state('');
  verify = $state(true);
  /** TFLite: int8 model input and output instead of float ones. */
  integerIo = $state(false);
  /** Why the chosen run cannot have int8 input/output (16-bit activations), or null. */
  integerIoProblem = $state<string | null>(null);
  jobs = $state.raw<ExportJobView[]>([]);
  starting = $state(false);
  startError = $state.raw<ApiError | null>(null);
  overwrite = $state.raw<OverwriteQuestion[]>([]);
  /** False once app.pickPath said it has no dialog here. */
  dialogSupported = $state(true);

  readonly restricted = $derived(this.destination.value?.restricted ?? false);
  readonly problem = $derived(destinationProblem(this.base, this.restricted));
  /** Where each chosen format will go, as sent to the host. */
  readonly targets = $derived.by(() => {
    const all = this.formats.value ?? [];
    return all.filter((f) => this.chosen.has(f.format)).map((f) => ({ format: f.format, path: exportTarget(this.base, f, all) }));
  });
  readonly jobsOfRun = $derived(this.jobs.filter((j) => j.runId === this.runId));
  readonly busy = $derived(this.jobs.some((j) => j.runId === this.runId && j.status === 'running'));

  /** The host's data folder (app.info), where the desktop's suggested path points. */
  #dataDir: () => string | null;

  constructor(api: ApiClient, dataDir: () => string | null = () => null) {
    this.#api = api;
    this.#dataDir = dataDir;
  }

  load(): Promise<unknown> {
    return Promise.all([this.formats.refresh(), this.destination.refresh(), this.history.refresh(), this.#reattach()]);
  }

  /** Picks the run and suggests a name for its files: a bare name inside the web host's folder, a path in the data folder on the desktop. */
  selectRun(run: { id: number; name: string; config?: RunConfig }): void {
    if (this.runId === run.id) return;
    this.runId = run.id;
    this.integerIoProblem = run.config ? integerIoProblem(run.config) : null;
    const name = defaultExportName(run);
    const dir = this.#dataDir();
    this.base = this.restricted || !dir ? name : `${dir}${dir.includes('\\') && !dir.includes('/') ? '\\' : '/'}${name}`;
    this.startError = null;
    this.overwrite = [];
    void this.history.refresh();
  }

  /** From a run's Export button elsewhere: learns where exports may go first, so the suggested name fits the host. */
  async open(run: { id: number; name: string; config?: RunConfig }): Promise<void> {
    if (!this.destination.loaded) await this.destination.refresh();
    this.selectRun(run);
  }

  toggleFormat(format: string): void {
    const next = new Set(this.chosen);
    if (next.has(format)) next.delete(format);
    else next.add(format);
    this.chosen = next;
  }

  /** Opens the desktop save dialog; false when there is none (web host), so the path field is used. */
  async pickPath(title: string): Promise<boolean> {
    try {
      const picked: PickedPath = await this.#api.call('app.pickPath', {
        mode: 'save',
        title,
        filters: this.targets.length === 1 ? this.#filters() : [],
        ...(this.base.trim() !== '' ? { defaultPath: this.base.trim() } : {}),
      });
      if (!picked.supported) {
        this.dialogSupported = false;
        return false;
      }
      if (picked.path) this.base = picked.path;
      return true;
    } catch (err) {
      this.startError = toApiError(err, 'app.pickPath');
      return false;
    }
  }

  #filters(): { name: string; extensions: string[] }[] {
    const info = (this.formats.value ?? []).find((f) => this.chosen.has(f.format));
    return info?.target.kind === 'file' ? [{ name: info.format, extensions: [info.target.extension.replace(/^\./, '')] }] : [];
  }

  /** Starts one job per chosen format; existing destinations are collected in `overwrite` to ask about. */
  async start(): Promise<void> {
    if (this.runId === null || this.problem !== null || this.targets.length === 0) return;
    await this.#startAll(this.targets, false);
  }

  /** The user allowed replacing the files in `overwrite`. */
  async confirmOverwrite(): Promise<void> {
    const asked = this.overwrite;
    this.overwrite = [];
    await this.#startAll(asked, true);
  }

  declineOverwrite(): void {
    this.overwrite = [];
  }

  async #startAll(targets: readonly OverwriteQuestion[], overwrite: boolean): Promise<void> {
    const runId = this.runId;
    if (runId === null) return;
    this.starting = true;
    this.startError = null;
    const exists: OverwriteQuestion[] = [];
    try {
      for (const t of targets) {
        try {
          const job = await this.#api.call('exports.start', { runId, format: t.format as never, path: t.path, verify: this.verify, ...(overwrite ? { overwrite: true } : {}), ...(t.format === 'tflite' && this.integerIo && this.integerIoProblem === null ? { integerIo: true } : {}) });
          this.#upsert({ exportJobId: job.exportJobId, runId, format: t.format, path: job.path });
        } catch (err) {
          const e = toApiError(err, 'exports.start');
          if (e.code === 'conflict' && /already exists/.test(e.message)) exists.push(t);
          else {
            this.startError = e;
            break;
          }
        }
      }
    } finally {
      this.starting = false;
      this.overwrite = exists;
    }
  }

  cancel(exportJobId: number): Promise<unknown> {
    return this.#api.call('exports.cancel', { exportJobId }).catch((err: unknown) => {
      this.startError = toApiError(err, 'exports.cancel');
    });
  }

  dismissJob(exportJobId: number): void {
    this.jobs = this.jobs.filter((j) => j.exportJobId !== exportJobId);
  }

  /** Follows export events; returns the unsubscribe function. */
  listen(): () => void {
    const offs = [
      this.#api.on('exports.progress', (p) => this.#upsert(p, { progress: p })),
      this.#api.on('exports.finished', (f) => {
        this.#upsert(f, { status: 'done', record: f.export });
        if (f.runId === this.runId) void this.history.refresh();
      }),
      this.#api.on('exports.failed', (f) => this.#upsert(f, { status: f.cancelled ? 'cancelled' : 'failed', error: f.message })),
    ];
    return () => offs.forEach((off) => off());
  }

  /** Jobs running on the host that this page did not start (or started before a reload). */
  async #reattach(): Promise<void> {
    try {
      for (const job of await this.#api.call('exports.running', {})) this.#upsert(job);
    } catch {
      // Not worth an error: progress events bring them in anyway.
    }
  }

  #upsert(ref: { exportJobId: number; runId: number; format: string; path: string }, change: Partial<ExportJobView> = {}): void {
    const at = this.jobs.findIndex((j) => j.exportJobId === ref.exportJobId);
    const base: ExportJobView =
      at >= 0 ? this.jobs[at]! : { exportJobId: ref.exportJobId, runId: ref.runId, format: ref.format, path: ref.path, status: 'running', progress: null, stages: [], record: null, error: null };
    // A late progress event must not turn a finished job back into a running one.
    if (base.status !== 'running' && change.progress && !change.status) return;
    const next = { ...base, ...change };
    const stage = change.progress?.phase === 'verify' ? change.progress.message : undefined;
    if (stage && !next.stages.includes(stage)) next.stages = [...next.stages, stage];
    this.jobs = at >= 0 ? this.jobs.map((j, i) => (i === at ? next : j)) : [next, ...this.jobs];
  }
}
