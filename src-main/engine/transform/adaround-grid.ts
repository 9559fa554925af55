/**
 * AdaRound's arithmetic on one kernel (Nagel et al. 2020, "Up or Down?
 * Adaptive Rounding for Post-Training Quantization"), on the run's own weight
 * grid: TF's fake quant in the unsigned domain (quant/fake-quant-values.ts),
 *   u = f32(f32(w − nudged_min) / scale)        (the kernel in grid steps)
 *   nearest:  k = clip(floor(f32(u + 0.5)), 0, levels)
 *   AdaRound: k = clip(floor(u) + b, 0, levels),  b ∈ {0, 1} learned
 *   w' = f32(f32(k · scale) + nudged_min)        (levels = qmax − qmin)
 * so the paper's s·(clip(⌊W/s⌋ + h(V), n, p) − z) with the zero point folded
 * into nudged_min. The soft rounding during training is
 *   h(V) = clip(σ(V)·(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1,
 * and V starts where h(V) = u − floor(u), so the soft kernel is W itself.
 *
 * The result is a kernel whose every value lies on the run's grid: fake quant
 * with the same qparams gives it back unchanged, so the simulation, the
 * records and every export writer take it as they take any kernel. Those
 * qparams come from the kernel before AdaRound (`kernelObserver`): the
 * rounded kernel's own min/max would move the grid.
 */
import { tf } from '../tfjs.js';
import { weightEstimator, type Estimator } from '../../api/run-config.js';
import type { Graph, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { createObserver, type Observer } from '../quant/observers/index.js';
import type { QParams } from '../quant/qparams.js';
import { channelLayout } from '../quant/spec.js';
import type { QuantPlan, WeightQuantizer } from './plan.js';

export const ZETA = 1.1;
export const GAMMA = -0.1;
const f32 = Math.fround;

/** The kernel's weight observer as the run's calibration makes it (run-config.ts weightEstimator: exact min/max, or mse's clipping search). */
export function kernelObserver(node: WeightedNode, wq: WeightQuantizer, estimator: Estimator): Observer {
  const obs = createObserver(weightEstimator(estimator), wq.spec, { name: wq.name, ...(wq.axis !== null ? { axis: wq.axis } : {}) });
  tf.tidy(() => {
    const view = tf.tensor(node.weights.kernel.values, wq.view, 'float32');
    for (let pass = 0; pass < obs.passes; pass++) obs.observe(view, pass);
  });
  return obs;
}

/** One kernel on its grid, element by element (row-major, the kernel's own order). */
export interface KernelGrid {
  /** floor(u). */
  floor: Float32Array;
  /** u − floor(u), in [0, 1). */
  rest: Float32Array;
  /** Each element's scale and nudged_min (its channel's). */
  scale: Float32Array;
  lo: Float32Array;
  levels: number;
  /** The nearest rounding's choice: 1 where it rounds up from floor(u). */
  nearest: Uint8Array;
}

export function kernelGrid(values: Float32Array, wq: WeightQuantizer, qp: QParams): KernelGrid {
  const perChannel = qp.granularity === 'per-channel';
  const { outer, channels, inner } = channelLayout(wq.view, perChannel ? wq.axis! : undefined);
  if (channels !== qp.scale.length) throw new Error(`AdaRound: ${qp.scale.length} scales for ${channels} channels of ${wq.name}`);
  const n = values.length;
  const grid: KernelGrid = { floor: new Float32Array(n), rest: new Float32Array(n), scale: new Float32Array(n), lo: new Float32Array(n), levels: qp.qmax - qp.qmin, nearest: new Uint8Array(n) };
  let i = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = qp.scale[c]!;
      const lo = qp.nudgedMin[c]!;
      for (let j = 0; j < inner; j++, i++) {
        const u = f32(f32(values[i]! - lo) / s);
        const fl = Math.floor(u);
        grid.floor[i] = fl;
        grid.rest[i] = u - fl;
        grid.scale[i] = s;
        grid.lo[i] = lo;
        grid.nearest[i] = Math.floor(f32(u + 0.5)) > fl ? 1 : 0;
      }
    }
  }
  return grid;
}

/** The kernel with k = clip(floor(u) + up, 0, levels) at every element: on the grid, so fake quant leaves it as it is. */
export function roundedKernel(grid: KernelGrid, up: Uint8Array): Float32Array {
  const out = new Float32Array(grid.floor.length);
  for (let i = 0; i < out.length; i++) {
    const k = Math.min(Math.max(grid.floor[i]! + up[i]!, 0), grid.levels);
    out[i] = f32(f32(k * grid.scale[i]!) + grid.lo[i]!);
  }
  return out;
}

/** h(V) = clip(σ(V)·(ζ − γ) + γ, 0, 1). */
export function rectifiedSigmoid(v: number): number {
  return Math.min(Math.max((ZETA - GAMMA) / (1 + Math.exp(-v)) + GAMMA, 0), 1);
}

/** V with h(V) = rest: σ(V) = (rest − γ)/(ζ − γ), finite for rest in [0, 1). */
export function initialV(rest: Float32Array): Float32Array {
  return Float32Array.from(rest, (r) => {
    const p = (r - GAMMA) / (ZETA - GAMMA);
    return Math.log(p / (1 - p));
  });
}

/** The final choice: up where h(V) ≥ 0.5. */
export function roundingOf(v: Float32Array): Uint8Array {
  return Uint8Array.from(v, (x) => (rectifiedSigmoid(x) >= 0.5 ? 1 : 0));
}

/** How a choice departs from nearest rounding: weights rounded up where nearest goes down, and down where it goes up. */
export function departures(grid: KernelGrid, up: Uint8Array): { up: number; down: number } {
  let toUp = 0;
  let toDown = 0;
  for (let i = 0; i < up.length; i++) {
    // A clipped element rounds to the grid's end either way.
    const k = Math.min(Math.max(grid.floor[i]! + up[i]!, 0), grid.levels);
    const near = Math.min(Math.max(grid.floor[i]! + grid.nearest[i]!, 0), grid.levels);
    if (k > near) toUp++;
    else if (k < near) toDown++;
  }
  return { up: toUp, down: toDown };
}

/** The up/down choices as a bit string in base64 (bit i of byte i >> 3, least significant first): what the run summary stores. */
export function encodeRounding(up: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(up.length / 8));
  for (let i = 0; i < up.length; i++) if (up[i]) bytes[i >> 3] = bytes[i >> 3]! | (1 << (i & 7));
  return Buffer.from(bytes).toString('base64');
}

export function decodeRounding(text: string, count: number, what: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== Math.ceil(count / 8)) throw new Error(`the stored AdaRound rounding of ${what} holds ${bytes.length * 8} bits for ${count} weights`);
  return Uint8Array.from({ length: count }, (_, i) => (bytes[i >> 3]! >> (i & 7)) & 1);
}

/**
 * The graph with stored AdaRound choices applied (a run's summary, for its
 * export): each listed layer's kernel rounded as recorded, on the grid of its
 * weight quantizer taken from the kernel as it is here, the run's own.
 */
export function applyRoundings(graph: Graph, plan: QuantPlan, estimator: Estimator, roundings: readonly { layer: string; rounding: string }[]): Graph {
  const byLayer = new Map(roundings.map((r) => [r.layer, r.rounding]));
  const nodes = graph.nodes.map((n) => {
    const text = byLayer.get(n.name);
    if (text === undefined) return n;
    const wq = plan.weights.find((w) => w.layer === n.name);
    if (!wq || !isWeighted(n)) throw new Error(`the stored AdaRound rounding names ${n.name}, which is not a quantized Dense or convolution of the plan`);
    const grid = kernelGrid(n.weights.kernel.values, wq, kernelObserver(n, wq, estimator).qparams());
    const values = roundedKernel(grid, decodeRounding(text, n.weights.kernel.values.length, n.name));
    return { ...n, weights: { ...n.weights, kernel: { shape: [...n.weights.kernel.shape], values } } } as WeightedNode;
  });
  return { ...graph, nodes };
}
