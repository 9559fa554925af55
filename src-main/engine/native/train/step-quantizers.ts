/**
 * QAT's quantizers in the step graph, as qat/hooks.ts puts them on the TF.js
 * forward pass:
 *  - kernels: fake-quantized on the plan's view (depthwise [kh,kw,in·mult])
 *    per channel or per tensor, as fq(W·s)/s with s = γ/√(σ²_moving + ε) for
 *    a layer followed by a folded BatchNorm; the kernel quantizer's range is
 *    the current kernel's (LastValue), output as `wrange/<layer>/min|max`;
 *  - activations: at each hook point (unfoldedHookPoints), the quantizer
 *    observes the batch (its stored range `range/<q>/min|max` updated by the
 *    estimator), then fake-quantizes with the fresh range. Quantizers that
 *    share a range (Concatenate inputs and output) are one observer, updated
 *    at each of its hook points in graph order, as the shared FakeQuantizer
 *    of the TF.js path is; the last range comes out as `next/<q>/min|max`.
 *    A quantizer on a grid the run's target fixes is not updated.
 * Gradients: the straight-through estimator (zero outside the nudged range);
 * the qparams are constants of the step, as in TF.js.
 */
import type { Estimator } from '../../../api/run-config.js';
import type { BatchNormNode, Graph, WeightedNode } from '../../graph/types.js';
import { DT } from '../../onnx/proto.js';
import { unfoldedHookPoints } from '../../qat/hooks.js';
import type { FoldRecord } from '../../transform/fold-batchnorm.js';
import type { ActivationQuantizer, QuantPlan, WeightQuantizer } from '../../transform/plan.js';
import type { OnnxBuilder } from '../../onnx/builder.js';
import { batchRange, fakeQuant, qparamsOf, straightThrough, updateRange, type RangeOps } from './quant-ops.js';
import { graphAxis, graphDims, sizeOf, UnsupportedForNativeTraining, type OpStep, type Value } from './step-context.js';

export interface ActivationRange {
  name: string;
  channels: number;
  /** Hook points that update it per step (a shared Concatenate range: several). */
  uses: number;
}

export interface KernelRange {
  layer: string;
  name: string;
  channels: number;
}

type AddGrad = (node: string, weight: string, g: string) => void;

export class StepQuantizers {
  readonly activationRanges: ActivationRange[] = [];
  readonly weightRanges: KernelRange[] = [];
  private readonly weightQ: Map<string, WeightQuantizer>;
  private readonly activationQ: Map<string, ActivationQuantizer>;
  private readonly hookAt: Map<string, string>;
  private readonly foldedInto: Map<string, BatchNormNode>;
  /** The running range of each activation quantizer met so far in graph order. */
  private readonly ranges = new Map<string, { range: RangeOps; channels: number; uses: number }>();

  constructor(
    private readonly b: OnnxBuilder,
    graph: Graph,
    plan: QuantPlan | null,
    folded: readonly FoldRecord[],
    private readonly estimator: Pick<Estimator, 'kind' | 'decay'>,
    private readonly weightInput: (node: string, weight: string) => string | undefined,
  ) {
    this.weightQ = new Map((plan?.weights ?? []).map((q) => [q.layer, q]));
    this.activationQ = new Map((plan?.activations ?? []).map((a) => [a.name, a]));
    this.hookAt = plan ? unfoldedHookPoints(plan, folded) : new Map();
    const bns = new Map(graph.nodes.filter((n): n is BatchNormNode => n.op === 'batchNorm').map((n) => [n.name, n]));
    // The last BN folded into a layer is the one qat/hooks.ts scales by.
    this.foldedInto = new Map(folded.map((f) => [f.layer, bns.get(f.batchNorm)!]));
  }

  /** The kernel of `node` as the forward pass uses it, and where its gradient goes (the kernel's, and a folded BN's γ). */
  kernel(node: WeightedNode, addGrad: AddGrad): { kernel: string; back(dK: string): void } {
    const b = this.b;
    const kernel = this.weightInput(node.name, 'kernel')!;
    const wq = this.weightQ.get(node.name);
    if (!wq) return { kernel, back: (dK) => addGrad(node.name, 'kernel', dK) };
    const shape = node.weights.kernel.shape;
    const view = wq.view;
    if (sizeOf(view) !== sizeOf(shape)) throw new UnsupportedForNativeTraining(`kernel ${wq.name} is quantized on a view [${view.join(',')}] of another size than its shape [${shape.join(',')}]`);
    const reshaped = view.join(',') !== shape.join(',');
    const asView = (t: string) => (reshaped ? b.op('Reshape', [t, b.i64(view)]) : t);
    const asKernel = (t: string) => (reshaped ? b.op('Reshape', [t, b.i64(shape)]) : t);
    const rank = view.length;
    const v = asView(kernel);
    // s per output channel (the view's last axis).
    const bn = this.foldedInto.get(node.name);
    // s = γ/√(σ² + ε) by the same correctly rounded ops as qat/hooks.ts, so both get the same bits.
    let s: string | null = null;
    let root: string | null = null;
    const gamma = bn ? this.weightInput(bn.name, 'gamma') : undefined;
    if (bn) {
      root = b.op('Sqrt', [b.op('Add', [this.weightInput(bn.name, 'movingVariance')!, b.f32(bn.epsilon)])]);
      s = gamma ? b.op('Div', [gamma, root]) : b.op('Reciprocal', [root]);
    }
    const z = s ? b.op('Mul', [v, s]) : v;
    const range = batchRange(b, z, rank, wq.axis);
    b.output(`wrange/${node.name}/min`, range.min);
    b.output(`wrange/${node.name}/max`, range.max);
    this.weightRanges.push({ layer: node.name, name: wq.name, channels: wq.channels });
    const broadcast = wq.axis === null ? [1] : view.map((d, i) => (i === wq.axis ? d : 1));
    const fq = fakeQuant(b, z, qparamsOf(b, range, wq.spec), broadcast);
    return {
      kernel: asKernel(s ? b.op('Div', [fq.out, s]) : fq.out),
      back: (dK) => {
        const dKv = asView(dK);
        const dz = straightThrough(b, s ? b.op('Div', [dKv, s]) : dKv, fq.mask);
        addGrad(node.name, 'kernel', asKernel(s ? b.op('Mul', [dz, s]) : dz));
        if (s && root && gamma && bn) {
          // d/ds of fq(W·s)/s: through the product (dz·W) and the quotient (−dK·q/s²), ds/dγ = 1/√(σ² + ε).
          // The two nearly cancel (q/s ≈ W), so per element first: dz·W − dK·q/s² = (dK/s)·(mask·W − q/s),
          // the quantization error times dK/s, summed after.
          const axes = b.i64(Array.from({ length: rank - 1 }, (_, i) => i));
          const error = b.op('Sub', [b.op('Mul', [v, b.op('Cast', [fq.mask], { to: DT.FLOAT })]), b.op('Div', [fq.out, s])]);
          const perChannel = b.op('ReduceSum', [b.op('Mul', [b.op('Div', [dKv, s]), error]), axes], { keepdims: 0 });
          addGrad(bn.name, 'gamma', b.op('Div', [perChannel, root]));
        }
      },
    };
  }

  /** Whether the plan puts an activation quantizer at the output of node `at`. */
  quantizes(at: string): boolean {
    return this.quantizerAt(at) !== null;
  }

  private quantizerAt(at: string): { qName: string; a: ActivationQuantizer } | null {
    const qName = this.hookAt.get(at);
    const a = qName ? this.activationQ.get(qName) : undefined;
    return qName && a ? { qName, a } : null;
  }

  /**
   * The activation quantizer at the output of node `at`, if the plan puts
   * one there: observe, update the range, fake-quantize. When the node's
   * output is a clip of its input (`clip`, relu6) and the quantizer is
   * per-tensor, the quantizer reads the clip's input and takes the clip over
   * (`fused`: the caller then skips the op's own clip mask): the batch range
   * of clip(x) is the clipped range of x.
   */
  output(at: string, v: Value, clip?: OpStep['clip']): { value: Value; back: ((dy: string) => string) | null; fused: boolean } {
    const b = this.b;
    const found = this.quantizerAt(at);
    if (!found) return { value: v, back: null, fused: false };
    const { qName, a } = found;
    const rank = v.shape.length + 1;
    const axis = a.spec.granularity === 'per-channel' ? graphAxis(a.spec.axis ?? -1, v.shape) : null;
    const channels = axis === null ? 1 : [0, ...graphDims(v.shape)][axis]!;
    let state = this.ranges.get(qName);
    if (!state) {
      state = { range: { min: b.input(`range/${qName}/min`, [channels]), max: b.input(`range/${qName}/max`, [channels]) }, channels, uses: 0 };
      this.ranges.set(qName, state);
    } else if (state.channels !== channels) {
      throw new UnsupportedForNativeTraining(`activation quantizer ${qName} is per-channel and shared between tensors of ${state.channels} and ${channels} channels`);
    }
    const fused = axis === null && clip !== undefined;
    // A grid the run's target fixes (qat/fixed-grids.ts) stays as it is.
    if (!a.fixed) {
      let batch = batchRange(b, fused ? clip.x : v.name, rank, axis);
      if (fused) {
        const [lo, hi] = [b.f32(clip.lo), b.f32(clip.hi)];
        batch = { min: b.op('Clip', [batch.min, lo, hi]), max: b.op('Clip', [batch.max, lo, hi]) };
      }
      state.range = updateRange(b, this.estimator.kind, this.estimator.decay, state.range, batch);
    }
    state.uses++;
    const broadcast = axis === null ? [1] : Array.from({ length: rank }, (_, i) => (i === axis ? channels : 1));
    const fq = fused ? fakeQuant(b, clip.x, qparamsOf(b, state.range, a.spec), broadcast, clip) : fakeQuant(b, v.name, qparamsOf(b, state.range, a.spec), broadcast);
    return { value: { name: fq.out, shape: v.shape }, back: (dy) => straightThrough(b, dy, fq.mask), fused };
  }

  /** Declares the activation ranges' outputs (each quantizer's range after its last hook point). */
  finish(): void {
    for (const [name, state] of this.ranges) {
      this.b.output(`next/${name}/min`, state.range.min);
      this.b.output(`next/${name}/max`, state.range.max);
      this.activationRanges.push({ name, channels: state.channels, uses: state.uses });
    }
  }
}
