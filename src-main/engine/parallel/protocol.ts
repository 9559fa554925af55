/**
 * Messages between a calibration (main) thread and its helper workers. Every
 * message has a `type`; failures come back as `{type: 'error'}` with a
 * readable message, and an unknown type is answered with an error.
 */
import type { Estimator } from '../../api/run-config.js';
import type { PartSpec } from '../../io/data/types.js';
import type { ObserverConfig } from '../quant/observers/index.js';
import type { QuantPlan } from '../transform/plan.js';

export type ToCalibrationWorker =
  | {
      type: 'open';
      session: number;
      /** serializeGraph of the (BatchNorm-folded) graph to calibrate. */
      graph: Uint8Array;
      plan: QuantPlan;
      estimator: Estimator;
      /**
       * The shard's samples: for a part read from disk, where it is (the worker
       * opens it and reads its own batches) and the shard's indices into it;
       * for a part held in memory (small, or built by hand), the shard's
       * samples themselves, row-major, `indices.length · sampleSize` values.
       */
      samples: { source: PartSpec; indices: Int32Array } | { images: Float32Array; count: number };
      inputShape: number[];
      batchSize: number;
    }
  | { type: 'pass'; session: number; pass: number; restore: Record<string, ObserverConfig> | null }
  | { type: 'close'; session: number };

export type FromCalibrationWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'opened'; session: number }
  | { type: 'progress'; session: number; pass: number; done: number }
  | { type: 'pass-done'; session: number; pass: number; samples: number; states: Record<string, ObserverConfig> }
  | { type: 'error'; session: number; message: string; cancelled: boolean };

export interface CalibrationWorkerData {
  backend: 'tensorflow' | 'wasm' | 'cpu';
  /** Int32Array view: slot 0 holds the id of a session asked to stop. */
  cancelFlag: SharedArrayBuffer;
}
