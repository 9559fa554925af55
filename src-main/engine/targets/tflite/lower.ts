/**
 * The run's graph as the ops a full-integer TFLite file computes, as an IR
 * graph with its plan and qparams: the one model the writer, the audit, the
 * studio's TFLite simulation and the integer reference all work from, so
 * they agree by construction. Where TFLite has no single int8 op for a node,
 * or imposes a grid, the lowering does what TFLite's converter does:
 *
 *  - sigmoid → LOGISTIC, whose int8 output TFLite fixes at scale 1/256, zero
 *    point −128 (the kernel refuses anything else): the run's range for it is
 *    replaced by that grid, as the softmax output is (quant.ts); tanh → TANH
 *    on its fixed 1/128, zero point 0 grid likewise;
 *  - swish x·sigmoid(x) → `<name>/sigmoid` (LOGISTIC, 1/256 grid) then
 *    `<name>` = MUL(x, sigmoid) on the swish's own range (the converter's
 *    LOGISTIC + MUL for tf.nn.silu);
 *  - hard_sigmoid (Keras 3's relu6(x + 3) / 6) → `<name>/add` = ADD(x, 3)
 *    with a fused RELU6, then `<name>` = MUL(·, 1/6) (the converter's ops for
 *    Keras 3's ReLU6(x + 3) · (1/6)). The intermediate relu6(x + 3) gets 6 ×
 *    the output's scale and its zero point (derived, not calibrated: its real
 *    range is exactly 6 × the output's, and the MUL by the int8 constant 1/6
 *    is then exact);
 *  - hard_sigmoid_keras2 clip(0.2·x + 0.5, 0, 1) → `<name>/scaled` =
 *    MUL(x, 0.2) on the input's grid scaled by the constant (exact), then
 *    `<name>/add` = ADD(·, 0.5) with a fused RELU on the output's range,
 *    whose upper end (≤ 1) does the clip at 1; the node `<name>` is that RELU;
 *  - an affine (Rescaling / Normalization) that is not the input's
 *    preprocessing → MUL(x, scale) then ADD(·, offset) with constant
 *    per-channel int8 operands (one of them when the scale is all ones or the
 *    offset all zeros). The intermediate x·scale gets a derived grid (not
 *    calibrated): scale s_x·s_c·k with k the smallest odd integer for which
 *    every product (q_x − zp_x)·(q_c − zp_c) the int8 operands can form,
 *    divided by k, fits the 256 levels. The MUL then divides an exact integer
 *    product by an odd k, which never lands on a half: its rounding cannot
 *    depend on the runtime's tie rule or float noise;
 *  - hard_swish (HARD_SWISH), leaky_relu (LEAKY_RELU) and every other node
 *    stay as they are: their TFLite op computes the node on its own range.
 *
 * Constants are int8 with TF's asymmetric 8-bit qparams of [min(0, v), max(0, v)]
 * (per tensor, as the converter quantizes a binary op's constant operand),
 * stored in the lowered qparams as `<node>/multiplier` or `<node>/addend`; the
 * lowered affine node holds the values those integers stand for, so the
 * simulation computes with the file's constants. Lowering a lowered model
 * changes nothing.
 */
import type { ActivationNode, AffineNode, Graph, GraphNode, MultiplyNode } from '../../graph/types.js';
import { computeQParams, integerQParams, type QParams } from '../../quant/qparams.js';
import type { ActivationQuantizer, QuantPlan, TensorRange } from '../../transform/plan.js';
import { LoweringError } from '../../lowering-error.js';
import { quantizeToInts } from '../../quant/int-tensors.js';

export interface LoweredModel {
  graph: Graph;
  plan: QuantPlan;
  /** The run's qparams, with the grids TFLite imposes, the derived intermediate ranges and the constants' qparams. */
  qparams: Map<string, QParams>;
  /** Tensors whose qparams TFLite or the lowering decides, not the run's calibration, and why. */
  forced: { tensor: string; reason: string }[];
}

const BYTE = { bits: 8, symmetric: false, narrowRange: false, granularity: 'per-tensor' } as const;

/** TFLite's int8 LOGISTIC output grid in TF's unsigned domain: scale 1/256, zero point 0 (signed −128). */
export function logisticQParams(): QParams {
  return computeQParams([0], [255 / 256], BYTE);
}

/** TFLite's int8 TANH output grid: scale 1/128, zero point 0 (unsigned 128). */
export function tanhQParams(): QParams {
  return computeQParams([-1], [127 / 128], BYTE);
}

/** qparams of a binary op's constant operand (see the module comment). */
export function constantQParams(values: readonly number[]): QParams {
  const lo = Math.min(0, ...values.map((v) => Math.fround(v)));
  const hi = Math.max(0, ...values.map((v) => Math.fround(v)));
  return computeQParams([lo], [hi], BYTE);
}

/** The int8 integers of a constant and the real values they stand for (TFLite's dequantization, float32). */
export function quantizedConstant(values: readonly number[], qp: QParams): { ints: Int8Array; values: number[] } {
  const { ints, iq } = quantizeToInts(Float32Array.from(values), [values.length], undefined, qp, 'signed');
  const s = iq.scale[0]!;
  const zp = iq.zeroPoint[0]!;
  return { ints: Int8Array.from(ints), values: Array.from(ints, (q) => Math.fround(s * (q - zp))) };
}

/** A grid with `base`'s zero point and bits and its scale times `factor` (float32). */
function scaledGrid(base: QParams, factor: number): QParams {
  const scale = Math.fround(base.scale[0]! * factor);
  const zp = base.zeroPoint[0]!;
  return {
    bits: base.bits,
    symmetric: base.symmetric,
    narrowRange: base.narrowRange,
    granularity: 'per-tensor',
    qmin: base.qmin,
    qmax: base.qmax,
    scale: Float32Array.of(scale),
    zeroPoint: Int32Array.of(zp),
    nudgedMin: Float32Array.of(Math.fround((base.qmin - zp) * scale)),
    nudgedMax: Float32Array.of(Math.fround((base.qmax - zp) * scale)),
  };
}

const unsupported = (tensor: string, message: string) => new LoweringError(message, 'unsupported', { tensor, format: 'tflite' });

export function lowerForTflite(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): LoweredModel {
  const q = new Map(qparams);
  const forced: LoweredModel['forced'] = [];
  const nodes: GraphNode[] = [];
  /** Quantizers by name, in the order they are emitted; the run's keep their names. */
  const acts: ActivationQuantizer[] = [];
  const quantizerOf = new Map(plan.activations.map((a) => [a.at, a]));
  const rangeOf = new Map(plan.tensors.map((t) => [t.tensor, t.range]));
  const grid = (name: string): QParams => {
    const a = plan.activations.find((x) => x.name === name);
    const got = q.get(a?.sharedWith ?? name);
    if (!got) throw new LoweringError(`no qparams for activation quantizer ${name}`, 'run', { tensor: name, format: 'tflite' });
    return got;
  };
  const inputGrid = (n: GraphNode): QParams => {
    const r = rangeOf.get(n.inputs[0]!);
    if (!r) throw unsupported(n.name, `layer ${n.name} reads ${n.inputs[0]}, which has no range`);
    return grid(r);
  };
  /** The node's own quantizer (a standalone activation or affine: one layer). */
  const own = (n: GraphNode): ActivationQuantizer => {
    const a = quantizerOf.get(n.name);
    if (!a || a.layers.length !== 1) throw unsupported(n.name, `layer ${n.name} (${n.op}) has no quantizer of its own in the run's plan`);
    return a;
  };
  const force = (a: ActivationQuantizer, qp: QParams, reason: string) => {
    if (a.sharedWith) throw unsupported(a.name, `activation ${a.name} shares the range of ${a.sharedWith}, but TFLite fixes its grid (${reason})`);
    q.set(a.name, qp);
    forced.push({ tensor: a.name, reason });
  };
  const derived = (name: string, at: string, layers: string[], spec: ActivationQuantizer['spec'], qp: QParams, reason: string): void => {
    acts.push({ name, role: 'affine', at, layers, spec, sharedWith: null });
    q.set(name, qp);
    forced.push({ tensor: name, reason });
  };
  /** An affine node for one constant operand: values replaced by what the int8 constant stands for. */
  const constantAffine = (base: Omit<AffineNode, 'scale' | 'offset' | 'op'>, role: 'multiplier' | 'addend', values: number[]): AffineNode => {
    const cq = constantQParams(values);
    q.set(`${base.name}/${role}`, cq);
    const dq = quantizedConstant(values, cq).values;
    const neutral = new Array<number>(values.length).fill(role === 'multiplier' ? 0 : 1);
    return { ...base, op: 'affine', scale: role === 'multiplier' ? dq : neutral, offset: role === 'multiplier' ? neutral : dq };
  };

  for (const n of graph.nodes) {
    if (n.op === 'activation' && (n.activation === 'sigmoid' || n.activation === 'tanh')) {
      const a = own(n);
      if (n.activation === 'sigmoid') force(a, logisticQParams(), 'TFLite int8 LOGISTIC output: scale 1/256, zero point -128');
      else force(a, tanhQParams(), 'TFLite int8 TANH output: scale 1/128, zero point 0');
      acts.push(a);
      nodes.push(n);
    } else if (n.op === 'activation' && n.activation === 'swish') {
      const a = own(n);
      const sig: ActivationNode = { name: `${n.name}/sigmoid`, inputs: [...n.inputs], outputShape: [...n.outputShape], op: 'activation', activation: 'sigmoid' };
      const mul: MultiplyNode = { name: n.name, inputs: [n.inputs[0]!, sig.name], outputShape: [...n.outputShape], op: 'multiply' };
      const sigQ: ActivationQuantizer = { name: `${sig.name}/output`, role: 'activation', at: sig.name, layers: [sig.name], spec: a.spec, sharedWith: null };
      q.set(sigQ.name, logisticQParams());
      forced.push({ tensor: sigQ.name, reason: `sigmoid of swish ${n.name} (LOGISTIC then MUL): TFLite int8 LOGISTIC output, scale 1/256, zero point -128` });
      acts.push(sigQ, { ...a, role: 'mul' });
      nodes.push(sig, mul);
    } else if (n.op === 'activation' && n.activation === 'hard_sigmoid') {
      const a = own(n);
      const base = { inputs: [...n.inputs], outputShape: [...n.outputShape] };
      const add = constantAffine({ ...base, name: `${n.name}/add` }, 'addend', [3]);
      const relu6: ActivationNode = { name: `${n.name}/relu6`, inputs: [add.name], outputShape: [...n.outputShape], op: 'activation', activation: 'relu6' };
      const mul = constantAffine({ name: n.name, inputs: [relu6.name], outputShape: [...n.outputShape] }, 'multiplier', [1 / 6]);
      derived(`${add.name}/output`, relu6.name, [add.name, relu6.name], a.spec, scaledGrid(grid(a.name), 6), `relu6(x + 3) of hard_sigmoid ${n.name}: 6 × the output's scale and its zero point, so the MUL by 1/6 is exact`);
      acts.push({ ...a, role: 'affine' });
      nodes.push(add, relu6, mul);
    } else if (n.op === 'activation' && n.activation === 'hard_sigmoid_keras2') {
      const a = own(n);
      const base = { inputs: [...n.inputs], outputShape: [...n.outputShape] };
      const scaled = constantAffine({ ...base, name: `${n.name}/scaled` }, 'multiplier', [0.2]);
      const add = constantAffine({ name: `${n.name}/add`, inputs: [scaled.name], outputShape: [...n.outputShape] }, 'addend', [0.5]);
      const relu: ActivationNode = { name: n.name, inputs: [add.name], outputShape: [...n.outputShape], op: 'activation', activation: 'relu' };
      derived(`${scaled.name}/output`, scaled.name, [scaled.name], a.spec, scaledGrid(inputGrid(n), scaled.scale[0]!), `0.2·x of hard_sigmoid ${n.name}: the input's grid times the constant 0.2 (exact)`);
      acts.push({ ...a, role: 'affine', layers: [add.name, relu.name] });
      nodes.push(scaled, add, relu);
    } else if (n.op === 'affine' && quantizerOf.get(n.name)?.role === 'affine' && !q.has(`${n.name}/multiplier`) && !q.has(`${n.name}/addend`)) {
      const a = own(n);
      nodes.push(...lowerAffine(n, a));
    } else {
      if (n.op === 'multiply' && n.inputs.length !== 2) throw unsupported(n.name, `multiply ${n.name} has ${n.inputs.length} inputs; TFLite MUL takes two and the run has no range for partial products`);
      const a = quantizerOf.get(n.name);
      if (a) acts.push(a);
      nodes.push(n);
    }
  }

  /** An affine as MUL and / or ADD with constant operands (see the module comment). */
  function lowerAffine(n: AffineNode, a: ActivationQuantizer): GraphNode[] {
    const base = { inputs: [...n.inputs], outputShape: [...n.outputShape] };
    if (n.offset.every((o) => o === 0)) {
      acts.push(a);
      return [constantAffine({ ...base, name: n.name }, 'multiplier', n.scale)];
    }
    if (n.scale.every((s) => s === 1)) {
      acts.push(a);
      return [constantAffine({ ...base, name: n.name }, 'addend', n.offset)];
    }
    const scaled = constantAffine({ ...base, name: `${n.name}/scaled` }, 'multiplier', n.scale);
    const add = constantAffine({ name: n.name, inputs: [scaled.name], outputShape: [...n.outputShape] }, 'addend', n.offset);
    const grid = productGrid(inputGrid(n), n.scale, q.get(`${scaled.name}/multiplier`)!);
    derived(`${scaled.name}/output`, scaled.name, [scaled.name], a.spec, grid, `x·scale of affine ${n.name} (MUL then ADD): s_x·s_c·k, k odd, holding every product of the int8 operands`);
    acts.push(a);
    return [scaled, add];
  }

  const tensors = tensorRanges(nodes, acts, plan);
  return { graph: { ...graph, nodes }, plan: { ...plan, activations: acts, tensors }, qparams: q, forced };
}

/**
 * The grid of x·c for int8 x on grid `x` and the int8 constant of `values`
 * on `cq`: scale s_x·s_c·k, k the smallest odd integer for which
 * [floor(p_min / k), ceil(p_max / k)] of the products p = (q_x − zp_x)·(q_c − zp_c)
 * spans at most 256 levels, zero point placing p = 0 on the grid (8 bits,
 * asymmetric, TF's unsigned domain).
 */
function productGrid(x: QParams, values: readonly number[], cq: QParams): QParams {
  const xi = integerQParams(x, 'signed');
  const ci = integerQParams(cq, 'signed');
  const zx = xi.zeroPoint[0]!;
  const zc = ci.zeroPoint[0]!;
  let pmin = 0;
  let pmax = 0;
  for (const qc of quantizedConstant(values, cq).ints) {
    for (const qx of [xi.qmin, xi.qmax]) {
      const p = (qx - zx) * (qc - zc);
      pmin = Math.min(pmin, p);
      pmax = Math.max(pmax, p);
    }
  }
  let k = 1;
  while (Math.ceil(pmax / k) - Math.floor(pmin / k) > 255) k += 2;
  const scale = Math.fround(Math.fround(xi.scale[0]! * ci.scale[0]!) * k);
  const zp = -Math.floor(pmin / k);
  return {
    bits: 8,
    symmetric: false,
    narrowRange: false,
    granularity: 'per-tensor',
    qmin: 0,
    qmax: 255,
    scale: Float32Array.of(scale),
    zeroPoint: Int32Array.of(zp),
    nudgedMin: Float32Array.of(Math.fround(-zp * scale)),
    nudgedMax: Float32Array.of(Math.fround((255 - zp) * scale)),
  };
}

/** Every node's output tensor: quantized at its quantizer, fused inside one, or as the run's plan had it. */
function tensorRanges(nodes: GraphNode[], acts: ActivationQuantizer[], plan: QuantPlan): TensorRange[] {
  const before = new Map(plan.tensors.map((t) => [t.tensor, t]));
  const at = new Map(acts.map((a) => [a.at, a.name]));
  const inside = new Map(acts.flatMap((a) => a.layers.filter((l) => l !== a.at).map((l) => [l, a.name] as const)));
  return nodes.map((n) => {
    const range = at.get(n.name);
    if (range) return { tensor: n.name, range, how: 'quantized' };
    if (inside.has(n.name)) return { tensor: n.name, range: null, how: 'fused' };
    return before.get(n.name) ?? { tensor: n.name, range: null, how: 'float' };
  });
}
