/**
 * A small pool of calibration helper workers (./calibration-worker.ts), made
 * on first use and kept for the life of the process, as a thread pool is: a
 * worker costs a backend start (wasm compile) that a calibration should not
 * pay each time. Idle workers are unref'd so they never keep a process alive;
 * while a session runs they are ref'd, so the process waits for them.
 */
import { Worker } from 'node:worker_threads';
import type { CalibrationWorkerData, FromCalibrationWorker, ToCalibrationWorker } from './protocol.js';

const WORKER_URL = new URL('./calibration-worker.js', import.meta.url);

export class PoolWorker {
  readonly ready: Promise<void>;
  private listeners = new Set<(m: FromCalibrationWorker) => void>();
  private failure: Error | null = null;

  constructor(
    readonly worker: Worker,
    private readonly onGone: (w: PoolWorker) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: FromCalibrationWorker) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'fatal') reject(this.fail(new Error(m.message)));
        for (const l of this.listeners) l(m);
      });
      worker.on('error', (err) => reject(this.fail(new Error(`a calibration worker crashed: ${err.message}`))));
      worker.on('exit', (code) => reject(this.fail(new Error(`a calibration worker stopped (exit code ${code})`))));
    });
    // A rejected start is reported to whoever awaits it; never as an unhandled rejection.
    this.ready.catch(() => {});
    worker.unref();
  }

  private fail(err: Error): Error {
    if (!this.failure) {
      this.failure = err;
      this.onGone(this);
      const gone = { type: 'error', session: -1, message: err.message, cancelled: false } as const;
      for (const l of this.listeners) l(gone);
    }
    return this.failure;
  }

  get failed(): Error | null {
    return this.failure;
  }

  post(m: ToCalibrationWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  listen(l: (m: FromCalibrationWorker) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

export class CalibrationPool {
  private readonly workers: PoolWorker[] = [];
  readonly cancelFlag = new SharedArrayBuffer(4);
  private nextSession = 1;

  constructor(readonly backend: CalibrationWorkerData['backend']) {}

  /** `n` started workers (started now if needed), ref'd until {@link release}. */
  async take(n: number): Promise<PoolWorker[]> {
    while (this.workers.length < n) {
      const w = new Worker(WORKER_URL, { workerData: { backend: this.backend, cancelFlag: this.cancelFlag } satisfies CalibrationWorkerData });
      this.workers.push(new PoolWorker(w, (gone) => this.drop(gone)));
    }
    const picked = this.workers.slice(0, n);
    for (const w of picked) w.worker.ref();
    try {
      await Promise.all(picked.map((w) => w.ready));
    } catch (err) {
      this.release(picked);
      throw err;
    }
    return picked;
  }

  /** Lets idle workers no longer keep the process alive. */
  release(workers: readonly PoolWorker[]): void {
    for (const w of workers) w.worker.unref();
  }

  session(): number {
    return this.nextSession++;
  }

  cancel(session: number): void {
    Atomics.store(new Int32Array(this.cancelFlag), 0, session);
  }

  private drop(w: PoolWorker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
  }

  async close(): Promise<void> {
    const all = this.workers.splice(0);
    await Promise.all(all.map((w) => w.worker.terminate()));
  }
}

const pools = new Map<string, CalibrationPool>();

/** The process's pool for a backend. */
export function calibrationPool(backend: CalibrationWorkerData['backend']): CalibrationPool {
  let p = pools.get(backend);
  if (!p) {
    p = new CalibrationPool(backend);
    pools.set(backend, p);
  }
  return p;
}

/** Stops every pool's workers (tests, shutdown). */
export async function closeCalibrationPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close()));
}
