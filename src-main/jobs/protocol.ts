/**
 * Messages between the main thread and the engine worker. Every message has a
 * `type`; failures come back as `{type: 'job-error' | 'reply' with ok:false}`
 * carrying a readable message, and an unknown type is answered with an error
 * rather than ignored.
 */
import type { BackendInfo } from '../api/contract.js';

export type WorkerRequest =
  | { type: 'job'; jobId: number; kind: string; payload: unknown }
  | { type: 'call'; id: number; fn: string; args: unknown };

export type WorkerReply =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'progress'; jobId: number; phase: string; done: number; total: number; message?: string }
  | { type: 'event'; jobId: number; name: string; data: unknown }
  | { type: 'job-done'; jobId: number; result: unknown }
  | { type: 'job-error'; jobId: number; message: string; cancelled: boolean }
  | { type: 'reply'; id: number; ok: true; result: unknown }
  | { type: 'reply'; id: number; ok: false; message: string }
  | { type: 'fatal'; message: string };

export interface WorkerData {
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** Int32Array view: slot 0 holds the id of a job asked to stop. */
  cancelFlag: SharedArrayBuffer;
}

export { CancelledError, CHECKPOINT_EVENT, type JobContext } from '../engine/job-context.js';
