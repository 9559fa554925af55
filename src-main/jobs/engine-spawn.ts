/**
 * Starting the engine worker, and starting it early: the worker spends its
 * first ~0.5 s importing the engine (TensorFlow.js, onnxruntime-node, the
 * job registry), and so does the main thread importing the hosts and the
 * handlers. Started in sequence (main imports, then the worker), a short
 * CLI job such as `studio calibrate` waits for both; `prestartEngineWorker`,
 * called by bin/studio.js before the CLI's own imports, lets the two load on
 * the machine's two cores at once, and EngineHost adopts the worker when it
 * starts. This module imports nothing heavy, so calling it early costs ~nothing.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerData, WorkerReply } from './protocol.js';

const WORKER_URL = new URL('./engine-worker.js', import.meta.url);

export interface EngineWorker {
  worker: Worker;
  /** Messages the worker sent before its host listened (a worker's messages with no listener are lost). */
  early: WorkerReply[];
  /** Int32Array view: slot 0 holds the id of a job asked to stop (WorkerData.cancelFlag). */
  cancelFlag: SharedArrayBuffer;
  backend: WorkerData['backend'];
}

export function spawnEngineWorker(backend: WorkerData['backend']): EngineWorker {
  const cancelFlag = new SharedArrayBuffer(4);
  const worker = new Worker(WORKER_URL, { workerData: { backend, cancelFlag } satisfies WorkerData });
  return { worker, cancelFlag, backend, early: [] };
}

let early: EngineWorker | null = null;

/**
 * Starts the worker for a CLI invocation that will open the studio (every
 * command but --version / --help), with the backend its `--backend` flag
 * names. Unreferenced until adopted, so a command that never opens the studio
 * still exits when it is done.
 */
export function prestartEngineWorker(argv: readonly string[]): void {
  const args = argv.slice(2);
  if (early || args.length === 0 || args.some((a) => ['-V', '--version', '-h', '--help', 'help'].includes(a))) return;
  const flag = args.findIndex((a) => a === '--backend' || a.startsWith('--backend='));
  const value = flag < 0 ? 'auto' : args[flag]!.includes('=') ? args[flag]!.split('=')[1] : args[flag + 1];
  if (value !== 'auto' && value !== 'tensorflow' && value !== 'wasm' && value !== 'cpu') return;
  const started = spawnEngineWorker(value);
  started.worker.on('message', buffer);
  // Until adopted, a failure is the adopting host's to report (it gets the same error from a fresh start).
  started.worker.on('error', dropped);
  started.worker.on('exit', dropped);
  // After the listeners: adding a 'message' listener refs the worker again.
  started.worker.unref();
  early = started;
}

function buffer(message: WorkerReply): void {
  early?.early.push(message);
}

function dropped(): void {
  early = null;
}

/** The early worker, if one was started for `backend` and is still alive; handed over once. */
export function adoptEarlyWorker(backend: WorkerData['backend']): EngineWorker | null {
  const w = early;
  early = null;
  if (!w) return null;
  w.worker.off('message', buffer).off('error', dropped).off('exit', dropped);
  if (w.backend !== backend) {
    void w.worker.terminate();
    return null;
  }
  w.worker.ref();
  return w;
}
