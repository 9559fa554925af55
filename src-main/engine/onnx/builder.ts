/**
 * The builder every ONNX graph of the engine is written with: the inference
 * graph of calibration, evaluation and the export (build.ts) and the training
 * step (native/train/step-graph.ts). Ops append nodes, constants become
 * initializers, inputs and outputs are declared with their (possibly
 * symbolic) shapes, and `layout` moves an image between NHWC and NCHW once
 * per value.
 *
 * Names: a 'fresh' builder names every node `<Op>_<n>` and shares constants
 * by value (`const_<n>`), so no name can meet a graph input's; a 'named' one
 * gives nodes and constants the names the lowering suggests (derived from the
 * layer names, as an exported file shows them), falling back to fresh names.
 */
import { createGraph, createModel, DT, stringEntry, encodeModel as encode, graphAttr, node, tensor, tensorType, valueInfo, type AttrValue, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from './proto.js';

export type Dim = number | string;

/** Where a value of the IR lives in the graph being built. */
export interface OnnxValue {
  name: string;
  /** Per-sample shape in Keras's layout ([H,W,C] for images), as the IR gives it. */
  shape: readonly number[];
  /** Rank with the batch axis (shape.length + 1). */
  rank: number;
  /** Rank-4 values: NCHW (true) or NHWC (false); every other rank is held as Keras holds it (false). */
  nchw: boolean;
}

/** A value of per-sample `shape` under `name`, NCHW when `nchw` and an image. */
export function onnxValue(name: string, shape: readonly number[], nchw: boolean): OnnxValue {
  return { name, shape: [...shape], rank: shape.length + 1, nchw: shape.length === 3 && nchw };
}

export interface ModelOptions {
  opset: number;
  irVersion: number;
  domain: string;
  docString?: string;
  producerVersion?: string;
  modelVersion?: number;
  metadata?: Record<string, string>;
}

export class OnnxBuilder {
  readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: { name: string; type: number; dims: Dim[] }[] = [];
  private readonly outputs: { name: string; type?: number; dims?: Dim[] }[] = [];
  private readonly constants = new Map<string, string>();
  private readonly layouts = new Map<string, OnnxValue>();
  /**
   * Put in fresh node names after the prefix (`<scope><Op>_<n>`): the training
   * step names its nodes by layer and pass, so a profile says where time goes.
   */
  scope = '';
  /** Operator domains other than ONNX's the nodes use (each imported at version 1). */
  private readonly domains = new Set<string>();
  private count = 0;

  /** `prefix` starts every fresh name: a subgraph's values must not meet its parent's. */
  constructor(
    readonly naming: 'fresh' | 'named' = 'fresh',
    private readonly prefix = '',
  ) {}

  /**
   * One op with one output; returns the output's name: `name` when the
   * builder is 'named' (or `name.output`, the node then named `name.node`).
   */
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string | { node: string; output: string }): string {
    return this.opN(type, inputs, 1, attrs, name)[0]!;
  }

  /** One op with `outputs` outputs (named `<name>`, `<name>:1`, …). */
  opN(type: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}, name?: string | { node: string; output: string }): string[] {
    const given = this.naming === 'named' ? name : undefined;
    const id = given === undefined ? `${this.prefix}${this.scope}${type}_${this.count++}` : typeof given === 'string' ? given : given.node;
    const first = given === undefined ? id : typeof given === 'string' ? given : given.output;
    const names = Array.from({ length: outputs }, (_, i) => (i === 0 && (outputs === 1 || given !== undefined) ? first : `${id}:${i}`));
    this.nodes.push(node(type, id, inputs, names, attrs));
    return names;
  }

  /**
   * One op of another operator domain (onnxruntime's contrib ops, imported
   * at version 1), with graph attributes (a Scan's body) besides plain ones.
   */
  opIn(domain: string, type: string, inputs: string[], outputs: number, attrs: Record<string, AttrValue> = {}, graphs: Record<string, GraphProto> = {}): string[] {
    const names = this.opN(type, inputs, outputs, attrs);
    const n = this.nodes[this.nodes.length - 1]!;
    if (domain !== '') {
      n.domain = domain;
      this.domains.add(domain);
    }
    for (const [name, g] of Object.entries(graphs)) n.attribute.push(graphAttr(name, g));
    return names;
  }

  /**
   * The nodes, inputs, outputs and constants so far as a subgraph (a Scan
   * or Loop body) for a node of `parent`, which imports its operator domains.
   * Its inputs and outputs carry the types and shapes they were declared with.
   */
  subgraph(name: string, parent: OnnxBuilder): GraphProto {
    for (const d of this.domains) parent.domains.add(d);
    return this.graphProto(name);
  }

  /**
   * When `value` is the output of a Clip with constant scalar bounds that no
   * node reads yet and no output declares, removes that Clip and returns
   * what it clipped and its bounds, for a caller that clips again (two clips
   * in a row are one clip to the intersection) and `accept`s the bounds.
   * The caller promises that nothing made later reads `value` either.
   */
  takeOverClip(value: string, accept: (lo: number, hi: number) => boolean): { input: string; lo: number; hi: number } | null {
    const at = this.nodes.findIndex((n) => n.output.includes(value));
    const clip = this.nodes[at];
    if (!clip || clip.opType !== 'Clip' || clip.input.length !== 3) return null;
    if (this.nodes.some((n) => reads(n).includes(value)) || this.outputs.some((o) => o.name === value)) return null;
    const [lo, hi] = [this.scalarOf(clip.input[1]!), this.scalarOf(clip.input[2]!)];
    if (lo === undefined || hi === undefined || !accept(lo, hi)) return null;
    this.nodes.splice(at, 1);
    // Its bounds go too when nothing else reads them (onnxruntime would warn about each).
    for (const bound of new Set(clip.input.slice(1))) {
      if (this.nodes.some((n) => reads(n).includes(bound))) continue;
      this.inits.splice(this.inits.findIndex((t) => t.name === bound), 1);
      for (const [key, name] of this.constants) if (name === bound) this.constants.delete(key);
    }
    return { input: clip.input[0]!, lo, hi };
  }

  /** The value of a float32 scalar constant made by this builder. */
  private scalarOf(name: string): number | undefined {
    const t = this.inits.find((i) => i.name === name);
    if (!t || t.dataType !== DT.FLOAT || t.dims.length !== 0 || t.rawData.byteLength !== 4) return undefined;
    return new DataView(t.rawData.buffer, t.rawData.byteOffset, 4).getFloat32(0, true);
  }

  /** Where the nodes and initializers made from now on start (for tagLayer). */
  mark(): { nodes: number; inits: number } {
    return { nodes: this.nodes.length, inits: this.inits.length };
  }

  /**
   * Tags the nodes and initializers made since `mark` with `key` = `value`
   * in their metadata_props (IR 10), and the nodes' doc_string with it too
   * (what Netron shows as a node's description).
   */
  tagLayer(mark: { nodes: number; inits: number }, key: string, value: string): void {
    for (const n of this.nodes.slice(mark.nodes)) {
      n.metadataProps.push(stringEntry(key, value));
      n.docString = `${key}: ${value}`;
    }
    for (const t of this.inits.slice(mark.inits)) t.metadataProps.push(stringEntry(key, value));
  }

  /** A float32 constant (scalar when dims is []). */
  f32(values: number | ArrayLike<number>, dims: number[] = typeof values === 'number' ? [] : [values.length], name?: string): string {
    return this.constant(DT.FLOAT, Float32Array.from(typeof values === 'number' ? [values] : values), dims, name);
  }

  /** A float64 constant (scalar when dims is []): range updates that must round like the JS observers (float64, then float32), and integer arithmetic past float32's 24 bits. */
  f64(values: number | ArrayLike<number>, dims: number[] = typeof values === 'number' ? [] : [values.length], name?: string): string {
    return this.constant(DT.DOUBLE, Float64Array.from(typeof values === 'number' ? [values] : values), dims, name);
  }

  /** An int64 vector constant (shapes, axes, indices, pads). */
  i64(values: readonly number[], name?: string): string {
    return this.constant(DT.INT64, BigInt64Array.from(values.map((v) => BigInt(v))), [values.length], name);
  }

  /** An initializer as given (quantized integers, float kernels), under its own name. */
  initializer(t: TensorProto): string {
    this.inits.push(t);
    return t.name!;
  }

  input(name: string, dims: Dim[], type: number = DT.FLOAT): string {
    this.inputs.push({ name, type, dims });
    return name;
  }

  /** Declares `value` as a graph output named `name` (through an Identity when the names differ), typed when `dims` are given. */
  output(name: string, value: string, dims?: Dim[], type: number = DT.FLOAT): void {
    if (value !== name) this.nodes.push(node('Identity', this.naming === 'named' ? name : `out_${name}`, [value], [name]));
    this.outputs.push({ name, ...(dims ? { type, dims } : {}) });
  }

  /**
   * The value in NCHW (true) or NHWC (false): one Transpose per value and
   * direction, whoever asks (a Reshape when H = W = 1, where both hold the
   * same order). Values of other ranks are returned as they are.
   */
  layout(v: OnnxValue, nchw: boolean): OnnxValue {
    if (v.rank !== 4 || v.nchw === nchw) return v;
    const key = `${v.name}|${nchw}`;
    const known = this.layouts.get(key);
    if (known) return known;
    const [h, w, c] = v.shape as [number, number, number];
    const name = `${v.name}/${nchw ? 'nchw' : 'nhwc'}`;
    const moved =
      h === 1 && w === 1
        ? this.op('Reshape', [v.name, this.i64(nchw ? [0, c, 1, 1] : [0, 1, 1, c], `${name}_shape`)], {}, name)
        : this.op('Transpose', [v.name], { perm: nchw ? [0, 3, 1, 2] : [0, 2, 3, 1] }, name);
    const out = onnxValue(moved, v.shape, nchw);
    this.layouts.set(key, out);
    return out;
  }

  /**
   * Drops the nodes no declared output depends on (onnxruntime runs every
   * node of a graph, read or not) and the constants only they read; returns
   * how many nodes went. For graphs whose lowering emits values that another
   * formulation made unnecessary; the last call before model() (a constant it
   * dropped would not be made again).
   */
  pruneUnused(): number {
    const needed = new Set(this.outputs.map((o) => o.name));
    const kept: NodeProto[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (!n.output.some((o) => needed.has(o))) continue;
      kept.push(n);
      for (const input of reads(n)) needed.add(input);
    }
    const dropped = this.nodes.length - kept.length;
    this.nodes.splice(0, this.nodes.length, ...kept.reverse());
    // Their constants too (onnxruntime would drop them, with a warning each).
    const unread = new Set(this.inits.filter((t) => !needed.has(t.name!)).map((t) => t.name!));
    this.inits.splice(0, this.inits.length, ...this.inits.filter((t) => !unread.has(t.name!)));
    return dropped;
  }

  model(graphName: string, opts: ModelOptions): ModelProto {
    return createModel({
      irVersion: BigInt(opts.irVersion),
      producerName: 'Quantization Calibration Studio',
      ...(opts.producerVersion ? { producerVersion: opts.producerVersion } : {}),
      domain: opts.domain,
      ...(opts.modelVersion !== undefined ? { modelVersion: BigInt(opts.modelVersion) } : {}),
      ...(opts.docString ? { docString: opts.docString } : {}),
      opsetImport: [{ domain: '', version: BigInt(opts.opset) }, ...[...this.domains].map((domain) => ({ domain, version: 1n }))],
      graph: this.graphProto(graphName),
      ...(opts.metadata ? { metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })) } : {}),
    });
  }

  private graphProto(graphName: string): GraphProto {
    return createGraph({
      name: graphName,
      node: this.nodes,
      initializer: this.inits,
      input: this.inputs.map((i) => valueInfo(i.name, tensorType(i.type, i.dims))),
      output: this.outputs.map((o) => valueInfo(o.name, o.dims ? tensorType(o.type!, o.dims) : undefined)),
    });
  }

  private constant(type: number, data: Float32Array | Float64Array | BigInt64Array, dims: number[], name?: string): string {
    if (this.naming === 'named' && name) {
      this.inits.push(tensor(name, type, dims, data));
      return name;
    }
    const key = `${type}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;
    const fresh = `${this.prefix}const_${this.constants.size}`;
    this.inits.push(tensor(fresh, type, dims, data));
    this.constants.set(key, fresh);
    return fresh;
  }
}

/** The values a node reads: its inputs and, through its subgraphs (If, Scan bodies), the outer values they use. */
function reads(n: NodeProto): string[] {
  const names = n.input.filter((i) => i !== '');
  for (const a of n.attribute) {
    if (!a.g) continue;
    const own = new Set([...a.g.input.map((v) => v.name), ...a.g.initializer.map((t) => t.name), ...a.g.node.flatMap((m) => m.output)]);
    for (const m of a.g.node) names.push(...reads(m).filter((i) => !own.has(i)));
  }
  return names;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return encode(model);
}
