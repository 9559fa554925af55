/**
 * Batches in the TFLite interpreter. The exported file has batch 1, as
 * TFLite's converter writes it; the interpreter of tfjs-tflite's wasm build
 * exposes no ResizeInputTensor (its runner has GetInputs, GetOutputs, Infer
 * only), so a file runs at the batch its tensors are written with. The
 * verification therefore runs a copy of the written file decoded and
 * re-encoded with batch B: the same operators, options, constants and
 * quantization, with only the batch axis changed — the leading 1 of every
 * non-constant tensor's shape, RESHAPE's target shape (its shape tensor and
 * new_shape) and SLICE's size. TFLite's kernels compute each sample of a
 * batch on its own, so the outputs are those of B single-sample Invokes
 * (the tests check that, bit for bit, for int8 and 16x8 files).
 */
import type { MemoryBudget } from '../../engine/memory.js';
import { decodeTflite, encodeTflite } from './build.js';
import { BuiltinOperator, ReshapeOptionsT, TensorType, type ModelT, type TensorT } from './schema/generated/schema_generated.js';

/** Largest verification batch (beyond it the Invoke overhead saved is nil and the wasm heap grows). */
export const TFLITE_MAX_BATCH = 32;

const BYTES: Partial<Record<TensorType, number>> = { [TensorType.FLOAT32]: 4, [TensorType.INT8]: 1, [TensorType.UINT8]: 1, [TensorType.INT16]: 2, [TensorType.INT32]: 4, [TensorType.INT64]: 8 };

const isConstant = (model: ModelT, t: TensorT) => (model.buffers[t.buffer]?.data.length ?? 0) > 0;

/**
 * The verification batch of a file: the largest, up to TFLITE_MAX_BATCH,
 * whose non-constant tensors (summed: an upper bound of the interpreter's
 * arena, which reuses memory) fit in a quarter of the memory budget.
 */
export function tfliteBatchFor(bytes: Uint8Array, budget: MemoryBudget): number {
  const model = decodeTflite(bytes);
  let perSample = 0;
  for (const t of model.subgraphs[0]?.tensors ?? []) {
    if (isConstant(model, t)) continue;
    perSample += t.shape.reduce((a, b) => a * b, 1) * (BYTES[t.type] ?? 4);
  }
  return Math.max(1, Math.min(TFLITE_MAX_BATCH, Math.floor(budget.bytes / 4 / Math.max(1, perSample))));
}

/** The file's bytes with batch `batch` instead of 1 (see the module comment); batch 1 gives the bytes back. */
export function withBatch(bytes: Uint8Array, batch: number): Uint8Array {
  if (batch === 1) return bytes;
  const model = decodeTflite(bytes);
  const sg = model.subgraphs[0];
  if (!sg) throw new Error('the file has no subgraph');
  for (const t of sg.tensors) {
    if (isConstant(model, t)) continue;
    if (t.shape[0] !== 1) throw new Error(`tensor ${String(t.name)} [${t.shape}] has no batch axis of 1`);
    t.shape = [batch, ...t.shape.slice(1)];
  }
  const setFirst = (tensorIndex: number | undefined) => {
    const t = tensorIndex === undefined ? undefined : sg.tensors[tensorIndex];
    const data = t ? model.buffers[t.buffer]?.data : undefined;
    if (!t || t.type !== TensorType.INT32 || !data || data.length < 4) throw new Error(`tensor ${String(t?.name)} is not a constant int32 shape`);
    const first = new Int32Array(Uint8Array.from(data.slice(0, 4)).buffer)[0];
    if (first !== 1) throw new Error(`tensor ${String(t.name)} starts with ${first}, not the batch 1`);
    data.splice(0, 4, ...new Uint8Array(Int32Array.of(batch).buffer));
  };
  for (const op of sg.operators) {
    const code = model.operatorCodes[op.opcodeIndex]!;
    const builtin = Math.max(code.builtinCode, code.deprecatedBuiltinCode) as BuiltinOperator;
    if (builtin === BuiltinOperator.RESHAPE) {
      setFirst(op.inputs[1]);
      const o = op.builtinOptions as ReshapeOptionsT | null;
      if (o?.newShape.length) o.newShape = [batch, ...o.newShape.slice(1)];
    } else if (builtin === BuiltinOperator.SLICE) setFirst(op.inputs[2]);
  }
  return encodeTflite(model);
}
