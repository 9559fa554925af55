/**
 * The loss of the training step: the mean softmax cross-entropy of the
 * logits against the one-hot labels (tf.losses.softmaxCrossEntropy, mean
 * reduction, as the training loop's crossEntropy), and the count of correct
 * predictions.
 */
import { DT } from '../../onnx/proto.js';
import type { OnnxBuilder } from '../../onnx/builder.js';

/**
 * Declares the inputs `onehot` [N, classes] and `invBatch` (1/N), the outputs
 * `loss` and `correct`; returns the gradient of the loss with respect to the
 * logits: (softmax − onehot)/N.
 */
export function softmaxCrossEntropy(b: OnnxBuilder, logits: string, classes: number): string {
  const onehot = b.input('onehot', ['N', classes]);
  const invBatch = b.input('invBatch', []);
  const logSoftmax = b.op('LogSoftmax', [logits], { axis: 1 });
  const perSample = b.op('ReduceSum', [b.op('Mul', [onehot, logSoftmax]), b.i64([1])], { keepdims: 0 });
  b.output('loss', b.op('Neg', [b.op('ReduceMean', [perSample], { keepdims: 0 })]));
  const hits = b.op('Equal', [b.op('ArgMax', [logits], { axis: 1, keepdims: 0 }), b.op('ArgMax', [onehot], { axis: 1, keepdims: 0 })]);
  b.output('correct', b.op('ReduceSum', [b.op('Cast', [hits], { to: DT.FLOAT }), b.i64([0])], { keepdims: 0 }));
  return b.op('Mul', [b.op('Sub', [b.op('Exp', [logSoftmax]), onehot]), invBatch]);
}
