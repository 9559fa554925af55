/**
 * Main-thread side of the engine worker: starts it, queues jobs (one runs at a
 * time, the worker runs them in order), forwards progress, cancels, and
 * answers quick calls. If the worker dies, everything pending fails with a
 * message saying so and the next request starts a fresh worker.
 */
import type { Worker } from 'node:worker_threads';
import type { BackendInfo } from '../api/contract.js';
import { adoptEarlyWorker, spawnEngineWorker } from './engine-spawn.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './protocol.js';

export interface JobCallbacks {
  onProgress?(p: { phase: string; done: number; total: number; message?: string }): void;
  onEvent?(name: string, data: unknown): void;
}

export class JobCancelledError extends Error {
  constructor(jobId: number) {
    super(`job ${jobId} was cancelled`);
    this.name = 'JobCancelledError';
  }
}

interface PendingJob {
  jobId: number;
  kind: string;
  /** A function is called when the job leaves the queue: it sees the store as it is then. */
  payload: unknown;
  transfer: ArrayBuffer[];
  resolve(result: unknown): void;
  reject(err: Error): void;
  callbacks: JobCallbacks;
}

interface PendingCall {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

export class EngineHost {
  private worker: Worker | null = null;
  private ready: Promise<BackendInfo> | null = null;
  private cancelFlag = new SharedArrayBuffer(4);
  /** Jobs waiting their turn, and the one in the worker (at most one at a time, so a cancel flag is unambiguous). */
  private readonly queue: PendingJob[] = [];
  private running: PendingJob | null = null;
  private readonly calls = new Map<number, PendingCall>();
  private nextCallId = 1;
  private backendInfo: BackendInfo | null = null;

  constructor(private readonly backend: WorkerData['backend'] = 'auto') {}

  /** Starts the worker (if needed) and resolves with the backend it chose. */
  start(): Promise<BackendInfo> {
    if (this.ready) return this.ready;
    // The worker bin/studio.js started before the CLI's imports, or a new one.
    const started = adoptEarlyWorker(this.backend) ?? spawnEngineWorker(this.backend);
    const worker = started.worker;
    this.cancelFlag = started.cancelFlag;
    this.worker = worker;
    this.ready = new Promise<BackendInfo>((resolve, reject) => {
      const onReply = (message: WorkerReply) => {
        if (message.type === 'ready') {
          this.backendInfo = message.backend;
          resolve(message.backend);
        } else if (message.type === 'fatal') {
          reject(new Error(message.message));
        }
        this.route(message);
      };
      for (const message of started.early) onReply(message);
      worker.on('message', onReply);
      worker.on('error', (err) => {
        reject(err);
        this.workerGone(worker, `the engine worker crashed: ${err.message}`);
      });
      worker.on('exit', (code) => {
        reject(new Error(`the engine worker stopped (exit code ${code}) before it was ready`));
        this.workerGone(worker, code === 0 ? null : `the engine worker stopped (exit code ${code})`);
      });
    });
    return this.ready;
  }

  get activeBackend(): BackendInfo | null {
    return this.backendInfo;
  }

  /**
   * Runs a job in the worker; resolves with its result, rejects with its error or JobCancelledError.
   * `payload` may be a function, called when the job leaves the queue (a run queued behind another reads what that one stored).
   */
  runJob(jobId: number, kind: string, payload: unknown, callbacks: JobCallbacks = {}, transfer: ArrayBuffer[] = []): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ jobId, kind, payload, transfer, resolve, reject, callbacks });
      void this.pump();
    });
  }

  /** A queued job is dropped at once; a running one stops at its next batch boundary. */
  cancel(jobId: number): boolean {
    const queued = this.queue.findIndex((j) => j.jobId === jobId);
    if (queued >= 0) {
      const [job] = this.queue.splice(queued, 1);
      job!.reject(new JobCancelledError(jobId));
      return true;
    }
    if (this.running?.jobId !== jobId) return false;
    Atomics.store(new Int32Array(this.cancelFlag), 0, jobId);
    return true;
  }

  private async pump(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    this.running = job;
    try {
      await this.start();
      Atomics.store(new Int32Array(this.cancelFlag), 0, 0);
      const payload = typeof job.payload === 'function' ? (job.payload as () => unknown)() : job.payload;
      this.post({ type: 'job', jobId: job.jobId, kind: job.kind, payload }, job.transfer);
    } catch (err) {
      this.finishRunning(job.jobId, err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finishRunning(jobId: number, outcome: { result: unknown } | Error): void {
    const job = this.running;
    if (!job || job.jobId !== jobId) return;
    this.running = null;
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome.result);
    void this.pump();
  }

  async call<T>(fn: string, args: unknown): Promise<T> {
    await this.start();
    const id = this.nextCallId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (r: unknown) => void, reject });
      this.post({ type: 'call', id, fn, args });
    });
  }

  isBusy(): boolean {
    return this.running !== null || this.queue.length > 0;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    this.ready = null;
    this.failAll('the studio is shutting down', true);
    if (worker) await worker.terminate();
  }

  private post(message: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    if (!this.worker) throw new Error('the engine worker is not running');
    this.worker.postMessage(message, transfer);
  }

  private route(message: WorkerReply): void {
    switch (message.type) {
      case 'progress':
        if (this.running?.jobId === message.jobId) this.running.callbacks.onProgress?.(message);
        return;
      case 'event':
        if (this.running?.jobId === message.jobId) this.running.callbacks.onEvent?.(message.name, message.data);
        return;
      case 'job-done':
        this.finishRunning(message.jobId, { result: message.result });
        return;
      case 'job-error':
        this.finishRunning(message.jobId, message.cancelled ? new JobCancelledError(message.jobId) : new Error(message.message));
        return;
      case 'reply': {
        const call = this.calls.get(message.id);
        this.calls.delete(message.id);
        if (!call) return;
        if (message.ok) call.resolve(message.result);
        else call.reject(new Error(message.message));
        return;
      }
      case 'fatal':
        this.failAll(message.message);
        return;
      case 'ready':
        return;
    }
  }

  private workerGone(worker: Worker, reason: string | null): void {
    if (this.worker !== worker) return;
    this.worker = null;
    this.ready = null;
    if (reason) this.failAll(reason);
  }

  /** Fails the running job and open calls; queued jobs too when shutting down, else they get a fresh worker. */
  private failAll(reason: string, includeQueued = false): void {
    const jobs = [...(this.running ? [this.running] : []), ...(includeQueued ? this.queue.splice(0) : [])];
    this.running = null;
    for (const job of jobs) job.reject(new Error(reason));
    for (const call of this.calls.values()) call.reject(new Error(reason));
    this.calls.clear();
    if (!includeQueued) queueMicrotask(() => void this.pump());
  }
}
