/**
 * Classification metrics shared by training and evaluation: sparse softmax
 * cross-entropy on logits and top-1 accuracy.
 *
 * Loss per sample: CE(z, y) = logsumexp(z) − z_y, where z are the logits.
 * When the graph ends in softmax the runtime is asked for logits (the softmax
 * is skipped, see logitsOf); otherwise the output itself is taken as logits.
 */
import { tf } from '../tfjs.js';
import type { ForwardHooks, GraphRuntime } from '../graph/runtime.js';
import { inputNode, nodeByName } from '../graph/types.js';
import { makeBatches, type BatchSource } from '../../io/data/split.js';
import type { JobContext } from '../job-context.js';

/** Number of classes the graph scores: the last axis of its output. */
export function outputClasses(runtime: GraphRuntime): number {
  const shape = nodeByName(runtime.graph, runtime.graph.output).outputShape;
  return shape[shape.length - 1]!;
}

/** Mean (or summed) sparse softmax cross-entropy of logits [n, classes] against int labels [n]. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor1D, numClasses: number, reduction: 'mean' | 'sum' = 'mean'): tf.Scalar {
  return tf.tidy(() => {
    const onehot = tf.oneHot(labels, numClasses);
    const r = reduction === 'mean' ? tf.Reduction.MEAN : tf.Reduction.SUM;
    return tf.losses.softmaxCrossEntropy(onehot, logits as tf.Tensor2D, undefined, 0, r) as tf.Scalar;
  });
}

/** How many rows' argmax equals the label (an int32 scalar). */
export function countCorrect(logits: tf.Tensor, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'int32')) as tf.Scalar);
}

export interface EvaluateOptions {
  batchSize: number;
  /** Forward hooks (e.g. fake quantization) used for every batch. */
  hooks?: ForwardHooks;
  /** Checked for cancellation between batches; reports progress under `phase` when one is given. */
  ctx?: JobContext;
  phase?: string;
}

export interface EvaluateResult {
  /** Top-1 accuracy in [0, 1]. */
  accuracy: number;
  /** Mean cross-entropy per sample. */
  loss: number;
  count: number;
}

/** Inference-mode accuracy and loss of the runtime on the given samples of a part. */
export async function evaluate(runtime: GraphRuntime, part: BatchSource, indices: Int32Array, opts: EvaluateOptions): Promise<EvaluateResult> {
  const inputShape = inputNode(runtime.graph).outputShape;
  const classes = outputClasses(runtime);
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  for (const batch of makeBatches(part, indices, opts.batchSize, inputShape)) {
    try {
      opts.ctx?.checkCancelled();
      const [l, c] = tf.tidy(() => {
        const logits = runtime.apply(batch.x, { logits: true, ...(opts.hooks ? { hooks: opts.hooks } : {}) });
        return [crossEntropy(logits, batch.y, classes, 'sum'), countCorrect(logits, batch.y)];
      });
      lossSum += (await l.data())[0]!;
      correct += (await c.data())[0]!;
      tf.dispose([l, c]);
    } finally {
      tf.dispose([batch.x, batch.y]);
    }
    count += batch.size;
    if (opts.ctx && opts.phase) opts.ctx.progress(opts.phase, count, indices.length);
    await yieldToEventLoop();
  }
  return { accuracy: correct / count, loss: lossSum / count, count };
}

/** Lets quick engine calls be answered between batches of a long job. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
