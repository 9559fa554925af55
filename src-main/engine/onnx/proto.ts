/**
 * The official onnx.proto as protobufjs classes (the onnx-proto package is
 * generated from onnx/onnx's onnx.proto with pbjs), plus small constructors.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = InstanceType<typeof onnxProto.onnx.ModelProto>;
export type GraphProto = InstanceType<typeof onnxProto.onnx.GraphProto>;
export type NodeProto = InstanceType<typeof onnxProto.onnx.NodeProto>;
export type TensorProto = InstanceType<typeof onnxProto.onnx.TensorProto>;
export type AttributeProto = InstanceType<typeof onnxProto.onnx.AttributeProto>;

export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

function bytesOf(v: ArrayBufferView): Uint8Array {
  // ONNX raw_data is little-endian; so are the typed arrays on every platform the studio ships for.
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

export function tensor(name: string, dataType: number, dims: readonly number[], data: Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array): TensorProto {
  return onnx.TensorProto.create({ name, dataType, dims: [...dims], rawData: bytesOf(data) });
}

export function floats(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  return tensor(name, DT.FLOAT, dims, Float32Array.from(values));
}

export function int64s(name: string, values: readonly number[]): TensorProto {
  return tensor(name, DT.INT64, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
}

export type AttrValue = number | number[] | string | { float: number };

export function attr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: AT.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: AT.INTS, ints: v });
  if (typeof v === 'object') return onnx.AttributeProto.create({ name, type: AT.FLOAT, f: v.float });
  return onnx.AttributeProto.create({ name, type: AT.INT, i: v });
}

export function node(opType: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): NodeProto {
  return onnx.NodeProto.create({ opType, name, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)) });
}

/** Reads raw_data (or the typed repeated fields) of a TensorProto as numbers. */
export function tensorValues(t: TensorProto): number[] {
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const n = (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
  if (raw) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    switch (t.dataType) {
      case DT.FLOAT:
        return Array.from(new Float32Array(buf));
      case DT.INT8:
        return Array.from(new Int8Array(buf));
      case DT.UINT8:
        return Array.from(new Uint8Array(buf));
      case DT.INT32:
        return Array.from(new Int32Array(buf));
      case DT.INT64:
        return Array.from(new BigInt64Array(buf), Number);
      default:
        throw new Error(`tensor ${t.name}: data type ${t.dataType} not read`);
    }
  }
  if (t.floatData && t.floatData.length) return Array.from(t.floatData);
  if (t.int32Data && t.int32Data.length) return Array.from(t.int32Data);
  if (t.int64Data && t.int64Data.length) return t.int64Data.map(Number);
  if (n === 0) return [];
  return [];
}

export function attrOf(n: NodeProto, name: string): AttributeProto | undefined {
  return (n.attribute ?? []).find((a) => a.name === name) as AttributeProto | undefined;
}
