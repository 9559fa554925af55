/**
 * Entry of a calibration helper worker: holds its own TensorFlow.js backend
 * (the same one as the thread that started it), and for each session runs the
 * float model over its shard of the calibration batches with the plan's
 * activation observers, one pass at a time, answering the observers' states
 * for the caller to merge (./merge-observers.ts). Between batches it checks the
 * shared cancel flag, so a cancel stops it within one batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import { GraphRuntime } from '../graph/runtime.js';
import { deserializeGraph } from '../graph/serialize.js';
import { activationObservers, observePass, type ActivationObservers } from '../ptq/calibrate.js';
import type { BaseObserver } from '../quant/observers/base.js';
import { openPart } from '../../io/data/dataset.js';
import { arrayPart } from '../../io/data/sources.js';
import { makeBatches, type BatchSource } from '../../io/data/split.js';
import type { CalibrationWorkerData, FromCalibrationWorker, ToCalibrationWorker } from './protocol.js';
import type { ObserverConfig } from '../quant/observers/index.js';

const port = parentPort;
if (!port) throw new Error('calibration-worker.js must run as a worker thread');
const data = workerData as CalibrationWorkerData;
const cancelFlag = new Int32Array(data.cancelFlag);

class Cancelled extends Error {}

interface Session {
  id: number;
  runtime: GraphRuntime;
  observers: ActivationObservers;
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  batchSize: number;
}

const sessions = new Map<number, Session>();

function send(message: FromCalibrationWorker): void {
  port!.postMessage(message);
}

function open(m: Extract<ToCalibrationWorker, { type: 'open' }>): void {
  const graph = deserializeGraph(m.graph, m.plan.graph);
  const runtime = new GraphRuntime(graph, { trainable: false });
  const sampleSize = m.inputShape.reduce((a, b) => a * b, 1);
  const s = m.samples;
  // A part on disk is opened here and read batch by batch; samples sent along are batched as they are
  // (labels are not needed to calibrate; makeBatches still wants one per sample).
  const { part, indices } =
    'source' in s
      ? { part: openPart(s.source) as BatchSource, indices: s.indices }
      : { part: arrayPart(s.images, new Int32Array(s.count), sampleSize), indices: Int32Array.from({ length: s.count }, (_, i) => i) };
  sessions.set(m.session, {
    id: m.session,
    runtime,
    observers: activationObservers(m.plan, m.estimator),
    part,
    indices,
    inputShape: m.inputShape,
    batchSize: m.batchSize,
  });
  send({ type: 'opened', session: m.session });
}

async function runPass(m: Extract<ToCalibrationWorker, { type: 'pass' }>): Promise<void> {
  const s = sessions.get(m.session);
  if (!s) throw new Error(`calibration session ${m.session} is not open`);
  const { unique, atNode } = s.observers;
  if (m.restore) {
    for (const [name, obs] of unique) {
      const c = m.restore[name];
      if (!c) throw new Error(`no merged state for observer ${name}`);
      (obs as BaseObserver).restore(c.state);
    }
  }
  const samples = await observePass(
    s.runtime,
    atNode,
    m.pass,
    makeBatches(s.part, s.indices, s.batchSize, s.inputShape),
    (done) => {
      if (Atomics.load(cancelFlag, 0) === s.id) throw new Cancelled();
      if (done > 0) send({ type: 'progress', session: s.id, pass: m.pass, done });
    },
    { yieldEachBatch: false },
  );
  const states: Record<string, ObserverConfig> = {};
  for (const [name, obs] of unique) states[name] = obs.toConfig();
  send({ type: 'pass-done', session: s.id, pass: m.pass, samples, states });
}

function close(session: number): void {
  sessions.get(session)?.runtime.dispose();
  sessions.delete(session);
}

async function handle(m: ToCalibrationWorker): Promise<void> {
  const session = (m as { session?: number }).session ?? 0;
  try {
    switch (m.type) {
      case 'open':
        return open(m);
      case 'pass':
        return await runPass(m);
      case 'close':
        return close(m.session);
      default:
        throw new Error(`unknown message type "${(m as { type?: unknown }).type}"`);
    }
  } catch (err) {
    const cancelled = err instanceof Cancelled;
    if (cancelled || m.type !== 'close') send({ type: 'error', session, message: err instanceof Error ? err.message : String(err), cancelled });
  }
}

// Messages are handled one at a time, in order.
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToCalibrationWorker) => {
  chain = chain.then(() => handle(m));
});

initBackend(data.backend)
  .then((info) => {
    if (info.name !== data.backend) throw new Error(`backend ${data.backend} did not start in a calibration worker (got ${info.name})`);
    send({ type: 'ready' });
  })
  .catch((err) => send({ type: 'fatal', message: `calibration worker: ${err instanceof Error ? err.message : String(err)}` }));
