/**
 * Entry of the engine worker thread: TensorFlow.js lives here, so a long
 * calibration or training never blocks the UI or the API. Job kinds and quick
 * calls are looked up in the registry; anything unknown is answered with an
 * error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../engine/backend.js';
import { CancelledError, type JobContext, type WorkerData, type WorkerReply, type WorkerRequest } from './protocol.js';
import { calls, jobs } from './registry.js';

const port = parentPort;
if (!port) throw new Error('engine-worker.js must run as a worker thread');
const data = workerData as WorkerData;
const cancelFlag = new Int32Array(data.cancelFlag);

function send(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function contextFor(jobId: number): JobContext {
  const cancelled = () => Atomics.load(cancelFlag, 0) === jobId;
  return {
    jobId,
    progress: (phase, done, total, message) => send({ type: 'progress', jobId, phase, done, total, ...(message ? { message } : {}) }),
    emit: (name, payload) => send({ type: 'event', jobId, name, data: payload }),
    cancelled,
    checkCancelled: () => {
      if (cancelled()) throw new CancelledError();
    },
  };
}

async function handle(message: WorkerRequest): Promise<void> {
  if (message.type === 'job') {
    const run = jobs[message.kind];
    if (!run) {
      send({ type: 'job-error', jobId: message.jobId, message: `unknown job kind "${message.kind}"`, cancelled: false });
      return;
    }
    try {
      const result = await run(message.payload, contextFor(message.jobId));
      send({ type: 'job-done', jobId: message.jobId, result });
    } catch (err) {
      const cancelled = err instanceof CancelledError;
      send({ type: 'job-error', jobId: message.jobId, message: err instanceof Error ? err.message : String(err), cancelled });
    }
    return;
  }
  if (message.type === 'call') {
    const fn = calls[message.fn];
    if (!fn) {
      send({ type: 'reply', id: message.id, ok: false, message: `unknown engine call "${message.fn}"` });
      return;
    }
    try {
      send({ type: 'reply', id: message.id, ok: true, result: await fn(message.args) });
    } catch (err) {
      send({ type: 'reply', id: message.id, ok: false, message: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  send({ type: 'fatal', message: `unknown message type "${(message as { type?: unknown }).type}"` });
}

// Jobs run one at a time in arrival order; quick calls are answered between them.
let chain: Promise<void> = Promise.resolve();
port.on('message', (message: WorkerRequest) => {
  if (message.type === 'call') {
    void handle(message);
  } else {
    chain = chain.then(() => handle(message));
  }
});

initBackend(data.backend)
  .then((backend) => send({ type: 'ready', backend }))
  .catch((err) => send({ type: 'fatal', message: `no TensorFlow.js backend could start: ${err instanceof Error ? err.message : String(err)}` }));
