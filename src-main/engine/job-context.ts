/**
 * What an engine job sees of whoever runs it (the worker thread, a test, the
 * bench): progress out, events out, cancellation in. The engine owns this
 * contract; jobs/ implements it over worker messages.
 */

export interface JobContext {
  jobId: number;
  progress(phase: string, done: number, total: number, message?: string): void;
  /** Streams a named record (e.g. a training curve point) to the main thread. */
  emit(name: string, data: unknown): void;
  cancelled(): boolean;
  /** Throws CancelledError when the job was asked to stop; call between batches. */
  checkCancelled(): void;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled by the user');
    this.name = 'CancelledError';
  }
}

/** Job event: the best checkpoint of a training that diverged (engine/train/checkpoint.ts). */
export const CHECKPOINT_EVENT = 'checkpoint';
