/**
 * A training run that diverges (NaN or infinite loss) after at least one
 * validation still has its best checkpoint: the loop sets the runtime's
 * weights back to it, and this sends it to the host (job event
 * 'checkpoint'), which keeps it as a model in the library before the run is
 * marked failed.
 */
import { serializeGraph } from '../graph/serialize.js';
import type { GraphRuntime } from '../graph/runtime.js';
import type { Graph } from '../graph/types.js';
import { CHECKPOINT_EVENT, type JobContext } from '../job-context.js';
import { TrainingError, type CheckpointInfo } from './loop.js';

export interface CheckpointEvent extends CheckpointInfo {
  /** Serialized graph holding the checkpoint's weights. */
  model: Uint8Array;
}

/**
 * Emits the best checkpoint of a diverged training, if it has one; returns the error to rethrow.
 * `asStored` turns the trained graph into the model kept (QAT with a target trains a graph with its softmax split off).
 */
export function emitBestCheckpoint(err: unknown, runtime: GraphRuntime, ctx: JobContext, asStored: (g: Graph) => Graph = (g) => g): unknown {
  if (err instanceof TrainingError && err.checkpoint) {
    const event: CheckpointEvent = { ...err.checkpoint, model: serializeGraph(asStored(runtime.toGraph())) };
    ctx.emit(CHECKPOINT_EVENT, event);
  }
  return err;
}
