/**
 * One-op int8 TFLite models built by hand (the schema's object API) and run in
 * the real TFLite interpreter (tfjs-tflite's wasm build, as the export is
 * verified in): the integer reference's kernels are checked against it op by op.
 */
import { encodeTflite } from '../../../../src-main/export/tflite/build.js';
import { TfliteInterpreter } from '../../../../src-main/export/tflite/runtime.js';
import {
  BufferT,
  BuiltinOperator,
  BuiltinOptions,
  ModelT,
  OperatorCodeT,
  OperatorT,
  QuantizationParametersT,
  SubGraphT,
  TensorT,
  TensorType,
} from '../../../../src-main/export/tflite/schema/generated/schema_generated.js';

export interface TensorSpec {
  shape: number[];
  type?: 'int8' | 'int32';
  /** int8 tensors: scale and zero point. */
  scale?: number;
  zeroPoint?: number;
  /** A constant's values. */
  data?: Int8Array | Int32Array;
}

export interface OpSpec {
  code: BuiltinOperator;
  inputs: number[];
  outputs: number[];
  optionsType?: BuiltinOptions;
  options?: OperatorT['builtinOptions'];
  version?: number;
}

/** Runs the one-subgraph model once: `feeds` go to the tensors `inputs`, the values of tensors `outputs` come back. */
export async function runOps(tensors: TensorSpec[], ops: OpSpec[], inputs: number[], outputs: number[], feeds: ArrayLike<number>[]): Promise<number[][]> {
  const buffers = [new BufferT()];
  const ts = tensors.map((t, i) => {
    let buffer = 0;
    if (t.data) {
      buffers.push(new BufferT(Array.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))));
      buffer = buffers.length - 1;
    }
    const q = t.scale !== undefined ? new QuantizationParametersT([], [], [t.scale], [BigInt(t.zeroPoint ?? 0)]) : null;
    return new TensorT(t.shape, t.type === 'int32' ? TensorType.INT32 : TensorType.INT8, buffer, `t${i}`, q);
  });
  const codes: OperatorCodeT[] = [];
  const operators = ops.map((o) => {
    let index = codes.findIndex((c) => c.builtinCode === o.code);
    if (index < 0) {
      codes.push(new OperatorCodeT(o.code < 127 ? o.code : 127, null, o.version ?? 2, o.code));
      index = codes.length - 1;
    }
    return new OperatorT(index, o.inputs, o.outputs, o.optionsType ?? BuiltinOptions.NONE, o.options ?? null);
  });
  const model = new ModelT(3, codes, [new SubGraphT(ts, inputs, outputs, operators, 'op')], 'op', buffers);
  const interp = await TfliteInterpreter.create(encodeTflite(model));
  try {
    const slots = interp.inputs();
    feeds.forEach((f, i) => slots[i]!.data().set(f));
    interp.invoke();
    return interp.outputs().map((o) => Array.from(o.data()));
  } finally {
    interp.close();
  }
}

/** A seeded uniform generator on [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every int8 value once, −128 … 127. */
export const ALL_INT8 = Int8Array.from({ length: 256 }, (_, i) => i - 128);
