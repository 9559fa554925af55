/**
 * The int8 kernels of the interpreter the TFLite export is verified in
 * (tfjs-tflite's wasm build runs CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
 * ADD and QUANTIZE through XNNPACK) computed exactly in the TFLite simulation
 * graph, integer for integer, instead of as fake quant around float ops:
 *
 *  - a convolution / dense layer with its fused ReLU / ReLU6 clamps: its input
 *    as integers r = round(x / s_in) (= q − zp: the input is on its grid), the
 *    file's int8 kernel and int32 bias, so the float32 sums are the int32
 *    accumulator exactly (every partial sum an integer below 2^24); then
 *    XNNPACK's fp32 requantization q = round_half_even(f32(acc · f32(f32(s_in ·
 *    s_w[c]) / s_out))) + zp, clamped to the fused activation's range
 *    (engine/integer requantizeAccFp32);
 *  - ADD of two tensors: acc = 2^(k−1) + m_a·r_a + m_b·r_b with XNNPACK's
 *    multipliers, q = floor(acc / 2^k) + zp, in float64 (the products pass
 *    float32's 24 bits) (engine/integer xnnpackAddInt);
 *  - the model input's QUANTIZE: round_half_even(f32(x · f32(1 / s))) + zp.
 *
 * Fake quant around float ops rounds the same way except where a float sum
 * lands within float32 noise of a rounding boundary; in a deep network those
 * single steps are amplified layer after layer (a seeded MobileNetV2 at 96x96:
 * 4.7 % of top-1 picks apart), so the run with target tflite-int8 computes
 * what the file computes. Each output goes back as the value its quantizer's
 * fake quant would give for that integer (k·s + nudged min), so every other op
 * of the simulation reads it unchanged. The integer reference's functions
 * give the parameters, so the two cannot drift apart.
 */
import type { Activation, Graph, GraphNode, WeightedNode } from '../../graph/types.js';
import { isWeighted } from '../../graph/types.js';
import { xnnpackAddParams } from '../../integer/binary.js';
import { activationGrid, integerWeights, quantizerOf } from '../../integer/layers.js';
import { FUSED_CLAMPS } from '../../integer/mobile-steps.js';
import { fusedRange } from '../../integer/requantize.js';
import type { ActQParams } from '../../integer/tensor.js';
import type { NodeReplacement } from '../../onnx/build.js';
import type { OnnxBuilder, OnnxValue } from '../../onnx/builder.js';
import { DT } from '../../onnx/proto.js';
import type { QParams } from '../../quant/qparams.js';
import { rangeQuantizerOf, type ActivationQuantizer, type QuantPlan } from '../../transform/plan.js';

/** How the simulation graph computes a node exactly: its lowering replaced, and the layers fused after it made linear. */
export interface ExactNode {
  /** Replaces the node's lowering: given its inputs (and its plain lowering), the output on the grid. */
  replace: NodeReplacement;
  /** The quantizer that the replacement already applied (its fake quant is left out). */
  quantizer: ActivationQuantizer;
  /** A weighted layer's kernel as the file's integers (Keras layout) and its int32 bias, which the replacement's lowering computes with. */
  kernel?: Float32Array;
  bias?: Float32Array;
}

export interface ExactPlan {
  /** By node name. */
  nodes: Map<string, ExactNode>;
  /** Activation nodes whose clamp the replacement applied: lowered as linear. */
  linear: Set<string>;
}

/** A per-tensor int8 grid in the signed domain, with TF's nudged min (how fake quant represents a level). */
interface Grid extends ActQParams {
  nudgedMin: number;
}

function gridOf(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, a: ActivationQuantizer): Grid | null {
  const qp = qparams.get(a.sharedWith ?? a.name);
  if (!qp || qp.granularity === 'per-channel' || qp.scale.length !== 1 || qp.bits > 8) return null;
  return { ...activationGrid({ graph, plan, qparams }, a, 'signed', a.at), nudgedMin: qp.nudgedMin[0]! };
}

/** The grid of the tensor a node reads: the quantizer closing the op that produced it (through pass-through layers). */
function inputGrid(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, node: GraphNode, k: number): Grid | null {
  const a = rangeQuantizerOf(plan, node.inputs[k]!);
  return a ? gridOf(graph, plan, qparams, a) : null;
}

/** The layers fused after a node's head, when each is a clamp the integer kernel applies (ReLU, ReLU6, linear). */
function fusedClamps(byName: ReadonlyMap<string, GraphNode>, a: ActivationQuantizer): Activation[] | null {
  const acts: Activation[] = [];
  for (const l of a.layers.slice(1)) {
    const n = byName.get(l);
    if (!n || n.op !== 'activation' || !FUSED_CLAMPS.has(n.activation)) return null;
    acts.push(n.activation);
  }
  return acts;
}

/** Per-channel constant dims along a value's channel axis (ONNX layout), or [] for one value. */
function channelDims(v: OnnxValue, channels: number): number[] {
  if (channels === 1) return [];
  const axis = v.rank === 4 && v.nchw ? 1 : v.rank - 1;
  return Array.from({ length: v.rank }, (_, i) => (i === axis ? channels : 1));
}

/** r = q − zp of a value on `grid` (exact: the value is s·r up to float32 rounding). */
function integers(b: OnnxBuilder, v: OnnxValue, grid: Grid, name: string): OnnxValue {
  return { ...v, name: b.op('Round', [b.op('Div', [v.name, b.f32(grid.scale, [], `${name}/in_scale`)], {}, `${name}/in_steps`)], {}, `${name}/in_ints`) };
}

/** r (float32 integers in [min − zp, max − zp]) back to the value the quantizer's fake quant gives: (r + zp − qmin)·s + nudged min. */
function onGrid(b: OnnxBuilder, r: string, grid: Grid, name: string): string {
  const level = b.op('Add', [r, b.f32(grid.zeroPoint - grid.qmin, [], `${name}/level_offset`)], {}, `${name}/level`);
  return b.op('Add', [b.op('Mul', [level, b.f32(grid.scale, [], `${name}/out_scale`)], {}, `${name}/scaled`), b.f32(grid.nudgedMin, [], `${name}/nudged_min`)], {}, `${name}/exact`);
}

/** Clamp to [lo, hi] (Max then Min: defined for float64 too). */
function clamp(b: OnnxBuilder, x: string, lo: string, hi: string, name: string): string {
  return b.op('Min', [b.op('Max', [x, lo], {}, `${name}/above_min`), hi], {}, `${name}/clamped`);
}

function weightedExact(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, n: WeightedNode, a: ActivationQuantizer, acts: Activation[]): ExactNode | null {
  const gin = inputGrid(graph, plan, qparams, n, 0);
  const gout = gridOf(graph, plan, qparams, a);
  if (!gin || !gout || !FUSED_CLAMPS.has(n.activation)) return null;
  const wq = plan.weights.find((w) => w.layer === n.name);
  if (!wq || (wq.axis !== null && wq.axis !== wq.view.length - 1)) return null;
  let w: ReturnType<typeof integerWeights>;
  try {
    w = integerWeights({ graph, plan, qparams }, n, gin.scale);
  } catch {
    return null; // weights the integer kernels cannot hold (wider than 8 bits): the export refuses those, the simulation keeps fake quant
  }
  // Every partial sum is bounded by Σ|w|·255 + |bias| per channel; past 2^24 a float32 sum may round: leave such a layer to fake quant.
  const bound = new Float64Array(w.channels);
  for (let i = 0; i < w.kernel.length; i++) bound[i % w.channels]! += Math.abs(w.kernel[i]!) * 255;
  if (bound.some((v, c) => v + Math.abs(w.bias[c]!) >= 2 ** 24)) return null;
  const scales = Float32Array.from(w.weightScale, (sw) => Math.fround(Math.fround(gin.scale * sw) / gout.scale));
  const r = fusedRange([n.activation, ...acts], gout);
  return {
    quantizer: a,
    kernel: Float32Array.from(w.kernel),
    ...(n.weights.bias ? { bias: Float32Array.from(w.bias) } : {}),
    replace(b, args, lowered) {
      const name = a.name;
      const acc = lowered([integers(b, args[0]!, gin, name), ...args.slice(1)]);
      // f32(acc · scale) as the exact float64 product rounded once to float32: the same number, and a
      // Conv → Cast → Mul chain that onnxruntime's Conv+Mul fusion cannot fold into the kernel.
      const acc64 = b.op('Cast', [acc.name], { to: DT.DOUBLE }, `${name}/acc_f64`);
      const product = b.op('Mul', [acc64, b.f64(scales, channelDims(acc, scales.length), `${name}/requant_scale`)], {}, `${name}/requant_f64`);
      const scaled = b.op('Cast', [product], { to: DT.FLOAT }, `${name}/requant`);
      const clamped = clamp(b, scaled, b.f32(r.min - gout.zeroPoint, [], `${name}/min`), b.f32(r.max - gout.zeroPoint, [], `${name}/max`), name);
      return { ...acc, name: onGrid(b, b.op('Round', [clamped], {}, `${name}/out_ints`), gout, name) };
    },
  };
}

function addExact(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, n: GraphNode, a: ActivationQuantizer, acts: Activation[]): ExactNode | null {
  if (n.inputs.length !== 2) return null;
  const ga = inputGrid(graph, plan, qparams, n, 0);
  const gb = inputGrid(graph, plan, qparams, n, 1);
  const gout = gridOf(graph, plan, qparams, a);
  if (!ga || !gb || !gout) return null;
  const r = fusedRange(acts, gout);
  const p = xnnpackAddParams(ga, gb, gout, r.min, r.max);
  return {
    quantizer: a,
    replace(b, args) {
      const name = a.name;
      const [x, y] = args as [OnnxValue, OnnxValue];
      const asDouble = (v: OnnxValue, g: Grid, k: string) => b.op('Cast', [integers(b, v, g, `${name}/${k}`).name], { to: DT.DOUBLE }, `${name}/${k}_f64`);
      const sum = b.op(
        'Add',
        [b.op('Add', [b.op('Mul', [asDouble(x, ga, 'a'), b.f64(p.mA)], {}, `${name}/ma`), b.op('Mul', [asDouble(y, gb, 'b'), b.f64(p.mB)], {}, `${name}/mb`)], {}, `${name}/products`), b.f64(2 ** (p.shift - 1))],
        {},
        `${name}/acc`,
      );
      const q = b.op('Floor', [b.op('Mul', [sum, b.f64(2 ** -p.shift)], {}, `${name}/shifted`)], {}, `${name}/floor`);
      const clamped = clamp(b, q, b.f64(r.min - gout.zeroPoint), b.f64(r.max - gout.zeroPoint), name);
      return { ...x, name: onGrid(b, b.op('Cast', [clamped], { to: DT.FLOAT }, `${name}/out_ints`), gout, name) };
    },
  };
}

/**
 * The nodes of a lowered int8 model (lower.ts) the simulation computes
 * exactly, with the quantizers they close. A node that does not fit the
 * exact form (per-channel or wider activations, another fused activation, a
 * table or a rounded mean already computing it: `taken`) keeps fake quant.
 */
export function xnnpackExactPlan(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, taken: ReadonlySet<string>): ExactPlan {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const nodes = new Map<string, ExactNode>();
  const linear = new Set<string>();
  for (const n of graph.nodes) {
    const a = quantizerOf(plan, n.name);
    if (!a || a.layers.some((l) => taken.has(l))) continue;
    const acts = fusedClamps(byName, a);
    if (!acts) continue;
    const exact = isWeighted(n) ? weightedExact(graph, plan, qparams, n, a, acts) : n.op === 'add' ? addExact(graph, plan, qparams, n, a, acts) : null;
    if (!exact) continue;
    nodes.set(n.name, exact);
    for (const l of a.layers.slice(1)) linear.add(l);
  }
  return { nodes, linear };
}

/**
 * The model input's QUANTIZE as XNNPACK's float → int8 conversion computes it,
 * round_half_even(f32(x · f32(1 / s))) + zp clamped (the fake quant divides by
 * s, which differs in the last bit often enough to move a step): the output
 * hook at the input quantizer's `at`, or null when that quantizer is not a
 * per-tensor int8 one.
 */
export function inputQuantize(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, input: ActivationQuantizer | undefined): ((b: OnnxBuilder, v: OnnxValue) => OnnxValue) | null {
  const grid = input ? gridOf(graph, plan, qparams, input) : null;
  if (!input || !grid) return null;
  const name = input.name;
  return (b, v) => {
    const steps = b.op('Mul', [v.name, b.f32(Math.fround(1 / grid.scale), [], `${name}/inverse_scale`)], {}, `${name}/steps`);
    const clamped = clamp(b, b.op('Round', [steps], {}, `${name}/rounded`), b.f32(grid.qmin - grid.zeroPoint, [], `${name}/min`), b.f32(grid.qmax - grid.zeroPoint, [], `${name}/max`), name);
    return { ...v, name: onGrid(b, clamped, grid, name) };
  };
}

/** The graph with each exact node's own activation and its fused clamp layers linear (the replacement clamps). */
export function withExactLinear(graph: Graph, exact: ExactPlan): Graph {
  const nodes = graph.nodes.map((n): GraphNode => {
    if (exact.linear.has(n.name) && n.op === 'activation') return { ...n, activation: 'linear' };
    if (exact.nodes.has(n.name) && isWeighted(n)) return { ...n, activation: 'linear' };
    return n;
  });
  return { ...graph, nodes };
}
