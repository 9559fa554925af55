/**
 * A small emitter for hand-built ONNX graphs: every op gets a fresh output
 * name, constants become initializers, and inputs/outputs are declared with
 * their (possibly symbolic) shapes. The training-step graph is written with it.
 */
import { DT, node, onnx, tensor, type AttrValue, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/proto.js';

/** Opset 17: ScatterElements' reduction (16+) while ReduceMin/Max/Mean still take `axes` as an attribute (until 18). */
export const TRAIN_OPSET = 17;

export type Dim = number | string;

export class OnnxBuilder {
  readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: { name: string; type: number; dims: Dim[] }[] = [];
  private readonly outputs: string[] = [];
  private readonly constants = new Map<string, string>();
  private count = 0;

  /** One op with one output; returns the output's name. */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.opN(type, inputs, 1, attrs)[0]!;
  }

  /** One op with `outputs` outputs. */
  opN(type: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}): string[] {
    const id = `${type}_${this.count++}`;
    const names = Array.from({ length: outputs }, (_, i) => (outputs === 1 ? id : `${id}:${i}`));
    this.nodes.push(node(type, id, inputs, names, attrs));
    return names;
  }

  /** A float32 constant (scalar when dims is []), shared between uses. */
  f32(values: number | readonly number[], dims: number[] = typeof values === 'number' ? [] : [values.length]): string {
    return this.constant(DT.FLOAT, Float32Array.from(typeof values === 'number' ? [values] : values), dims);
  }

  /** A float64 constant: range updates that must round like the JS observers (float64, then float32) use it. */
  f64(value: number): string {
    return this.constant(DT.DOUBLE, Float64Array.from([value]), []);
  }

  /** An int64 vector constant (shapes, axes, indices). */
  i64(values: readonly number[]): string {
    return this.constant(DT.INT64, BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
  }

  input(name: string, dims: Dim[], type: number = DT.FLOAT): string {
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Declares `value` as a graph output named `name` (through an Identity when the names differ). */
  output(name: string, value: string): void {
    if (value !== name) this.nodes.push(node('Identity', `out_${name}`, [value], [name]));
    this.outputs.push(name);
  }

  model(graphName: string): ModelProto {
    const typeOf = (type: number, dims: Dim[]) =>
      onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: type,
          shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) }),
        }),
      });
    const graph = onnx.GraphProto.create({
      name: graphName,
      node: this.nodes,
      initializer: this.inits,
      input: this.inputs.map((i) => onnx.ValueInfoProto.create({ name: i.name, type: typeOf(i.type, i.dims) })),
      output: this.outputs.map((name) => onnx.ValueInfoProto.create({ name })),
    });
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'Quantization Calibration Studio',
      domain: 'studio.training',
      opsetImport: [{ domain: '', version: TRAIN_OPSET }],
      graph,
    });
  }

  private constant(type: number, data: Float32Array | Float64Array | BigInt64Array, dims: number[]): string {
    const key = `${type}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = `const_${this.constants.size}`;
    this.inits.push(tensor(name, type, dims, data as Float32Array));
    this.constants.set(key, name);
    return name;
  }
}

export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}
