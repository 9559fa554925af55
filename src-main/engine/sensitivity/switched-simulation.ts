/**
 * One onnxruntime session that evaluates the model under any choice of which
 * quantizers are on, and with which qparams, without building another graph:
 * the PTQ simulation (onnx/build.ts with `simulate.switched`) whose every
 * activation quantizer is Where(on, fq(x), x) with its qparams fed per run,
 * and whose every planned kernel is a graph input, fed float or
 * fake-quantized (TF's half-up fake quant in plain JS, as the PTQ evaluation
 * makes its kernels). A case is one more pass of the same session over the
 * same samples.
 *
 * The float reference is the same session with every quantizer off (so a
 * case that turns nothing on is the reference bit for bit, and its SQNR is
 * reported as exact). Results per case: top-1 accuracy, loss, and the SQNR
 * of the model output against that reference,
 *   SQNR = 10·log10(Σ f² / Σ (f − q)²)   over every output value of the subset.
 *
 * This is the engine part the sensitivity analysis and the accuracy-budget
 * search share: `evaluate(choices)` with, per quantizer name, the qparams to
 * simulate (any bit width: computeQParams of the observer's range at other
 * bits) or null / absent for float.
 */
import type * as Ort from 'onnxruntime-node';
import { gatherSamples, type BatchSource } from '../../io/data/split.js';
import { logitsOf } from '../graph/runtime.js';
import { isWeighted, type Graph, type WeightedNode } from '../graph/types.js';
import { ClassificationAccumulator } from '../metrics.js';
import { buildOnnxGraph, encodeOnnx, ONNX_INPUT, ONNX_OUTPUT, switchedKernelInput } from '../onnx/build.js';
import { switchInputs } from '../onnx/fake-quant.js';
import { onnxKernelShape, toOnnxLayout } from '../onnx/ops/index.js';
import { fakeQuantValues } from '../quant/fake-quant-values.js';
import type { QParams } from '../quant/qparams.js';
import type { ActivationQuantizer, QuantPlan, WeightQuantizer } from '../transform/plan.js';
import { createSession, loadOnnxRuntime, type NativeSession, type SessionPlacement } from '../native/session.js';

/** Per quantizer name (`<layer>/kernel` for weights, the activation quantizer's own name): the qparams to simulate, or null / absent for float. */
export type QuantizerChoices = ReadonlyMap<string, QParams | null>;

export interface CaseResult {
  accuracy: number;
  loss: number;
  /** Output SQNR against the float reference in dB; null when the output equals it exactly (infinite SQNR). */
  sqnr: number | null;
  count: number;
}

export interface SwitchedSimulationInput {
  /** The folded graph the plan was made on (its float model is the reference). */
  graph: Graph;
  plan: QuantPlan;
  /** Calibrated qparams of every planned quantizer: they fix each switched input's shape (channels). */
  qparams: ReadonlyMap<string, QParams>;
  part: BatchSource;
  indices: Int32Array;
  inputShape: number[];
  batchSize: number;
  /** Hold the gathered input batches between cases (else gathered again per case). */
  holdInputs: boolean;
  threads?: number;
  provider?: string;
}

interface ActivationSwitch {
  a: ActivationQuantizer;
  /** Dims the scale and nudged min are fed with. */
  dims: number[];
  channels: number;
}

interface KernelSwitch {
  wq: WeightQuantizer;
  node: WeightedNode;
  shape: number[];
  float: Float32Array;
}

export class SwitchedSimulation {
  private reference: Float32Array[] | null = null;
  private floatCase: CaseResult | null = null;
  private readonly held: (Float32Array | undefined)[] = [];
  /** Fake-quantized kernels (ONNX layout) by the qparams object they were made with. */
  private readonly kernelCache = new WeakMap<QParams, Float32Array>();
  private readonly fromLogits: boolean;

  private constructor(
    private readonly ort: typeof Ort,
    private readonly native: NativeSession,
    private readonly input: SwitchedSimulationInput,
    private readonly activations: ActivationSwitch[],
    private readonly kernels: KernelSwitch[],
  ) {
    this.fromLogits = !logitsOf(input.graph).appliesSoftmax;
  }

  static async open(input: SwitchedSimulationInput): Promise<SwitchedSimulation> {
    if (input.indices.length === 0) throw new Error('the sensitivity subset is empty: nothing to evaluate');
    const ort = await loadOnnxRuntime();
    const { model } = buildOnnxGraph({ graph: input.graph, plan: input.plan, qparams: input.qparams, simulate: { kernels: new Map(), switched: true } });
    const activations = input.plan.activations.map((a) => {
      const qp = qparamsOf(input.qparams, a.sharedWith ?? a.name);
      const fed = model.graph!.input.find((i) => i.name === switchInputs(a.name).scale);
      if (!fed) throw new Error(`the switched graph has no input for activation quantizer ${a.name}`);
      const dims = fed.type!.value.case === 'tensorType' ? fed.type!.value.value.shape!.dim.map((d) => Number(d.value.value)) : [];
      return { a, dims, channels: qp.scale.length };
    });
    const byName = new Map(input.graph.nodes.map((n) => [n.name, n]));
    const kernels = input.plan.weights.map((wq) => {
      const node = byName.get(wq.layer);
      if (!node || !isWeighted(node)) throw new Error(`weight quantizer ${wq.name} names no weighted layer`);
      return { wq, node, shape: onnxKernelShape(node), float: toOnnxLayout(node, node.weights.kernel.values, (k) => new Float32Array(k)) };
    });
    const native = await createSession(encodeOnnx(model), { ...(input.threads ? { threads: input.threads } : {}), ...(input.provider ? { provider: input.provider } : {}) });
    return new SwitchedSimulation(ort, native, input, activations, kernels);
  }

  get placement(): SessionPlacement {
    return this.native.placement;
  }

  /** Every planned quantizer on with its calibrated qparams: the PTQ simulation. */
  allOn(): Map<string, QParams> {
    const out = new Map<string, QParams>();
    for (const k of this.kernels) out.set(k.wq.name, qparamsOf(this.input.qparams, k.wq.name));
    for (const s of this.activations) out.set(s.a.name, qparamsOf(this.input.qparams, s.a.sharedWith ?? s.a.name));
    return out;
  }

  /** The float reference (every quantizer off); computed once, on the first evaluation of any case. */
  async float(onBatch?: (done: number) => void): Promise<CaseResult> {
    return this.evaluate(new Map(), onBatch);
  }

  /**
   * One pass over the subset with the quantizers of `choices` on (their
   * qparams), every other one off. `onBatch` is called before each batch
   * (throw there to cancel: nothing is kept of a pass cut short).
   */
  async evaluate(choices: QuantizerChoices, onBatch?: (done: number) => void): Promise<CaseResult> {
    for (const name of choices.keys()) {
      if (!this.kernels.some((k) => k.wq.name === name) && !this.activations.some((s) => s.a.name === name)) throw new Error(`no quantizer ${name} in the plan`);
    }
    const noneOn = [...choices.values()].every((q) => !q);
    if (noneOn || !this.reference) {
      // The reference pass (every quantizer off) is the float case itself.
      if (!this.floatCase) {
        const { acc, outputs } = await this.pass(new Map(), onBatch);
        this.reference = outputs;
        this.floatCase = { accuracy: acc.accuracy(), loss: acc.loss(), sqnr: null, count: acc.count };
      }
      if (noneOn) return this.floatCase;
    }
    const { acc, outputs } = await this.pass(choices, onBatch);
    let signal = 0;
    let noise = 0;
    outputs.forEach((q, b) => {
      const f = this.reference![b]!;
      if (f.length !== q.length) throw new Error(`batch ${b} gave ${q.length} outputs, the reference ${f.length}`);
      for (let i = 0; i < f.length; i++) {
        const d = f[i]! - q[i]!;
        signal += f[i]! * f[i]!;
        noise += d * d;
      }
    });
    return { accuracy: acc.accuracy(), loss: acc.loss(), sqnr: noise === 0 ? null : 10 * Math.log10(signal / noise), count: acc.count };
  }

  async release(): Promise<void> {
    await this.native.session.release();
  }

  private feeds(choices: QuantizerChoices): Record<string, Ort.Tensor> {
    const { ort } = this;
    const feeds: Record<string, Ort.Tensor> = {};
    for (const k of this.kernels) {
      const qp = choices.get(k.wq.name);
      feeds[switchedKernelInput(k.wq.layer)] = new ort.Tensor('float32', qp ? this.fakeQuantKernel(k, qp) : k.float, k.shape);
    }
    for (const s of this.activations) {
      const qp = choices.get(s.a.name);
      if (qp && qp.scale.length !== s.channels) throw new Error(`activation quantizer ${s.a.name} has ${s.channels} channel scales, the choice ${qp.scale.length}`);
      const names = switchInputs(s.a.name);
      // Off: Where passes x through; the qparams fed then are placeholders (scale 1), never used.
      feeds[names.on] = new ort.Tensor('bool', Uint8Array.of(qp ? 1 : 0), []);
      feeds[names.scale] = new ort.Tensor('float32', qp ? Float32Array.from(qp.scale) : new Float32Array(s.channels).fill(1), s.dims);
      feeds[names.nudgedMin] = new ort.Tensor('float32', qp ? Float32Array.from(qp.nudgedMin) : new Float32Array(s.channels), s.dims);
      feeds[names.levels] = new ort.Tensor('float32', Float32Array.of(qp ? qp.qmax - qp.qmin : 1), []);
    }
    return feeds;
  }

  private fakeQuantKernel(k: KernelSwitch, qp: QParams): Float32Array {
    let v = this.kernelCache.get(qp);
    if (!v) {
      const keras = fakeQuantValues(k.node.weights.kernel.values, k.wq.view, qp, k.wq.axis ?? undefined);
      v = toOnnxLayout(k.node, keras, (n) => new Float32Array(n));
      this.kernelCache.set(qp, v);
    }
    return v;
  }

  private batch(b: number, idx: Int32Array): Float32Array {
    const held = this.held[b];
    if (held) return held;
    const x = gatherSamples(this.input.part, idx);
    if (this.input.holdInputs) this.held[b] = x;
    return x;
  }

  private async pass(choices: QuantizerChoices, onBatch?: (done: number) => void): Promise<{ acc: ClassificationAccumulator; outputs: Float32Array[] }> {
    const { indices, part, inputShape, batchSize } = this.input;
    const fixed = this.feeds(choices);
    const acc = new ClassificationAccumulator();
    const outputs: Float32Array[] = [];
    for (let start = 0, b = 0; start < indices.length; start += batchSize, b++) {
      onBatch?.(start);
      const idx = indices.subarray(start, Math.min(indices.length, start + batchSize));
      const x = new this.ort.Tensor('float32', this.batch(b, idx), [idx.length, ...inputShape]);
      const out = await this.native.session.run({ ...fixed, [ONNX_INPUT]: x });
      const y = out[ONNX_OUTPUT]!;
      const values = Float32Array.from(y.data as Float32Array);
      y.dispose?.();
      const k = values.length / idx.length;
      acc.addRows(values, idx.length, k, Int32Array.from(idx, (i) => part.labels[i]!), { fromLogits: this.fromLogits });
      outputs.push(values);
    }
    onBatch?.(indices.length);
    return { acc, outputs };
  }
}

function qparamsOf(qparams: ReadonlyMap<string, QParams>, name: string): QParams {
  const qp = qparams.get(name);
  if (!qp) throw new Error(`no qparams for quantizer ${name}`);
  return qp;
}
