/**
 * Where an int8 op of a TFLite file computes what fake quantization alone
 * does not reproduce (the interpreter the export is verified in, tfjs-tflite's
 * wasm build, runs some ops through XNNPACK; TFLite's activations are fixed
 * point; integer ties are exact where float ones are not), the TFLite
 * simulation computes the op's output from the simulated float tensors as the
 * kernel does (measured bit for bit against the interpreter; the integer
 * reference has the same forms, engine/integer with its xnnpack option):
 *
 *  - MEAN (a global average pool with keepdims) on its pass-through grid of
 *    scale s: the exact mean y of values on the grid is k·s/n with
 *    k = Σ(q − zp) an integer; the output is round_half_even(f32(k · f32(s /
 *    f32(s·n)))) · s (XNNPACK's average pooling);
 *  - AVERAGE_POOL_2D over the whole input (a global average pool without
 *    keepdims): TFLite's rounded average of the stored int8 values,
 *    a = k + n·zp, q = sign(a)·trunc((|a| + ⌊n/2⌋) / n), output (q − zp)·s.
 *    (Other average pools keep the exact mean: their window count varies at
 *    'same' borders; in a 16x8 file, whose int16 pools run TFLite's
 *    reference kernel, those with 'valid' padding are this rounded average
 *    too.) In a deep network the half-step a pool's rounding moves
 *    is amplified by the convolutions after it, so it is simulated;
 *  - the int8 elementwise activations (LOGISTIC, TANH, HARD_SWISH,
 *    LEAKY_RELU): the simulation runs the graph with these nodes linear
 *    (linearized), so their hook sees the input x, on its grid: q = x / s_in
 *    + zp_in, and gives the 256-entry table of the kernel the interpreter
 *    runs, from engine/integer's kernels (gemmlowp's LOGISTIC, which equals
 *    the interpreter's float table; TANH's table; HARD_SWISH's int16 fixed
 *    point, whose approximation is up to a step off the exact hard swish;
 *    XNNPACK's Q8 leaky ReLU): table[q] on the output grid;
 *  - MUL and ADD with an int8 constant operand (the lowered hard sigmoids and
 *    affines, lower.ts) are elementwise functions of their input too, one per
 *    channel of the constant: tabled the same way from XNNPACK's MUL / ADD
 *    (binary.ts), with the fused ReLU / ReLU6 clamp (a fused activation node
 *    after them then sees grid values and keeps them). Their ties are exact in
 *    the integer kernels and not in float: ADD(x, 3) of a Keras 3 hard sigmoid
 *    at x = 0 is 127.5 levels of a [0, 6] grid;
 *  - MUL of two tensors rounds halves to even (XNNPACK's fp32
 *    requantization): mulOutputs lists the nodes whose fake quantization uses
 *    that rounding.
 *
 * Each op is described once (interpreterOpSpecs: the counts, grids and
 * tables) and computed by the same float32 op sequence on either runtime:
 * tfjsInterpreterOp (TensorFlow.js hooks) and onnxInterpreterOp (nodes of
 * the simulation graph onnxruntime runs).
 */
import { tf } from '../../tfjs.js';
import type { Activation, ActivationNode, AffineNode, Graph, GraphNode } from '../../graph/types.js';
import { mulInt, mulParams, xnnpackAddInt, xnnpackAddParams } from '../../integer/binary.js';
import { fusedRange } from '../../integer/requantize.js';
import { activationFunction, applyTable, hardSwishInt, hardSwishParams, isLogisticGrid, leakyReluInt, leakyReluParams, logisticInt, logisticParams, lookupTable } from '../../integer/activations.js';
import type { ActQParams } from '../../integer/tensor.js';
import type { OnnxBuilder, OnnxValue } from '../../onnx/build.js';
import { tableLookupNodes } from '../../onnx/table.js';
import { integerQParams, type QParams } from '../../quant/qparams.js';
import { rangeQuantizerOf, type QuantPlan } from '../../transform/plan.js';
import { quantizedConstant } from './lower.js';

type Op = (y: tf.Tensor) => tf.Tensor;

/** The grid of a node's output tensor (its own quantizer's, or the one it passes through), in the signed domain. */
function gridOf(plan: QuantPlan, qparams: ReadonlyMap<string, QParams>, node: string): ActQParams | null {
  const a = rangeQuantizerOf(plan, node);
  const qp = a ? qparams.get(a.sharedWith ?? a.name) : undefined;
  if (!qp) return null;
  const iq = integerQParams(qp, 'signed');
  return { name: a!.name, scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]!, qmin: iq.qmin, qmax: iq.qmax };
}

const roundHalfEven = (v: number) => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** Activations the simulation computes by their int8 table (the graph runs them linear: linearized). */
const TABLED: ReadonlySet<Activation> = new Set<Activation>(['sigmoid', 'tanh', 'hard_swish', 'leaky_relu']);

/** The lowered affine's constant operand: 'multiplier' (a MUL) or 'addend' (an ADD), or null for another affine. */
function constantRole(n: AffineNode, qparams: ReadonlyMap<string, QParams>): 'multiplier' | 'addend' | null {
  if (qparams.has(`${n.name}/multiplier`) && n.offset.every((o) => o === 0)) return 'multiplier';
  if (qparams.has(`${n.name}/addend`) && n.scale.every((v) => v === 1)) return 'addend';
  return null;
}

const isTabled = (n: GraphNode, qparams: ReadonlyMap<string, QParams>) => (n.op === 'activation' && TABLED.has(n.activation)) || (n.op === 'affine' && constantRole(n, qparams) !== null);

/** The graph with the tabled nodes linear: their output hooks (interpreterOps) compute them from their input. */
export function linearized(graph: Graph, qparams: ReadonlyMap<string, QParams>): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map((n): GraphNode => (isTabled(n, qparams) ? { name: n.name, inputs: n.inputs, outputShape: n.outputShape, op: 'activation', activation: 'linear' } : n)),
  };
}

/** Every input value of a grid, qmin … qmax. */
const allValues = (g: ActQParams) => Int32Array.from({ length: g.qmax - g.qmin + 1 }, (_, i) => g.qmin + i);

/** The int8 kernel of an activation node on every input value of its grid, from engine/integer (see the module comment). */
function activationTable(n: ActivationNode, gin: ActQParams, gout: ActQParams): Int32Array {
  const all = allValues(gin);
  const out = new Int32Array(all.length);
  if (n.activation === 'sigmoid' && isLogisticGrid(gout)) logisticInt(logisticParams(gin, 'single'), all, out);
  else if (n.activation === 'hard_swish') hardSwishInt(hardSwishParams(gin, gout, 'single'), all, out);
  else if (n.activation === 'leaky_relu') leakyReluInt(leakyReluParams(gin, gout, n.alpha!, 'single', true), all, out);
  else applyTable(lookupTable(activationFunction(n.activation, n.alpha), gin, gout, roundHalfEven), gin.qmin, all, out);
  return out;
}

/** XNNPACK's MUL / ADD of every input value by each channel's int8 constant, clamped to [min, max]: channels × levels entries. */
function constantTable(n: AffineNode, role: 'multiplier' | 'addend', cq: QParams, gin: ActQParams, gout: ActQParams, min: number, max: number): Int32Array {
  const values = role === 'multiplier' ? n.scale : n.offset;
  const ints = quantizedConstant(values, cq).ints;
  const iq = integerQParams(cq, 'signed');
  const cgrid = { scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]! };
  const all = allValues(gin);
  const out = new Int32Array(values.length * all.length);
  for (let c = 0; c < values.length; c++) {
    const k = Int32Array.of(ints[c]!);
    const row = out.subarray(c * all.length, (c + 1) * all.length);
    const index = new Int32Array(all.length);
    if (role === 'multiplier') mulInt(mulParams(gin, cgrid, gout, min, max, 'single', true), all, null, k, index, row);
    else xnnpackAddInt(xnnpackAddParams(gin, cgrid, gout, min, max), all, null, k, index, row);
  }
  return out;
}

/**
 * What the interpreter's kernel computes at a node, whatever runtime
 * simulates it (see the module comment): a global average pool's rounded
 * mean, or a table of the output grid's values indexed by the input's level
 * (one row of levels per channel of a constant operand).
 */
export type InterpreterOp =
  | { kind: 'mean'; count: number; scale: number; factor: number }
  | { kind: 'average'; count: number; scale: number; zeroPoint: number }
  | { kind: 'table'; values: Float32Array; channels: number; input: ActQParams };

/** The op of an int8 table: its entries as values of the output grid. */
function tableSpec(table: Int32Array, channels: number, gin: ActQParams, gout: ActQParams): InterpreterOp {
  return { kind: 'table', values: Float32Array.from(table, (q) => (q - gout.zeroPoint) * gout.scale), channels, input: gin };
}

/** The TensorFlow.js form of an interpreter op: a hook on the node's (linear, for tables) output. */
export function tfjsInterpreterOp(op: InterpreterOp): Op {
  switch (op.kind) {
    case 'mean': {
      const { count, scale: s, factor: f } = op;
      return (y) => tf.tidy(() => tf.mul(tf.round(tf.mul(tf.round(tf.div(tf.mul(y, count), s)), f)), s));
    }
    case 'average': {
      const { count, scale: s, zeroPoint: zp } = op;
      return (y) =>
        tf.tidy(() => {
          const acc = tf.add(tf.round(tf.div(tf.mul(y, count), s)), count * zp);
          const q = tf.mul(tf.sign(acc), tf.floor(tf.div(tf.add(tf.abs(acc), Math.floor(count / 2)), count)));
          return tf.mul(tf.sub(q, zp), s);
        });
    }
    case 'table': {
      const { values, channels, input: gin } = op;
      const levels = gin.qmax - gin.qmin + 1;
      return (y) =>
        tf.tidy(() => {
          const t = tf.tensor1d(values, 'float32');
          let q = tf.clipByValue(tf.add(tf.round(tf.div(y, gin.scale)), gin.zeroPoint - gin.qmin), 0, levels - 1);
          if (channels > 1) q = tf.add(q, tf.mul(tf.range(0, channels), levels));
          return tf.gather(t, tf.cast(q, 'int32'));
        });
    }
  }
}

/**
 * The ONNX form of an interpreter op, the same float32 op sequence as
 * tfjsInterpreterOp (tables: engine/onnx/table.ts), for the simulation graph
 * (engine/onnx/build.ts SimulationLowering.outputs); nodes named `<node>/…`.
 */
export function onnxInterpreterOp(op: InterpreterOp, node: string): (b: OnnxBuilder, v: OnnxValue) => OnnxValue {
  const p = (k: string) => `${node}/tflite_${k}`;
  switch (op.kind) {
    case 'mean':
      return (b, v) => {
        const scale = b.f32(op.scale, [], p('scale'));
        const k = b.op('Round', [b.op('Div', [b.op('Mul', [v.name, b.f32(op.count, [], p('count'))], {}, p('sum')), scale], {}, p('sum_levels'))], {}, p('k'));
        const q = b.op('Round', [b.op('Mul', [k, b.f32(op.factor, [], p('factor'))], {}, p('mean_levels'))], {}, p('q'));
        return { ...v, name: b.op('Mul', [q, scale], {}, p('mean')) };
      };
    case 'average':
      return (b, v) => {
        const count = b.f32(op.count, [], p('count'));
        const scale = b.f32(op.scale, [], p('scale'));
        const sum = b.op('Round', [b.op('Div', [b.op('Mul', [v.name, count], {}, p('sum')), scale], {}, p('sum_levels'))], {}, p('sum_q'));
        const acc = b.op('Add', [sum, b.f32(op.count * op.zeroPoint, [], p('zero_sum'))], {}, p('acc'));
        const half = b.op('Add', [b.op('Abs', [acc], {}, p('abs')), b.f32(Math.floor(op.count / 2), [], p('half'))], {}, p('rounding'));
        const q = b.op('Mul', [b.op('Sign', [acc], {}, p('sign')), b.op('Floor', [b.op('Div', [half, count], {}, p('quotient'))], {}, p('trunc'))], {}, p('q'));
        return { ...v, name: b.op('Mul', [b.op('Sub', [q, b.f32(op.zeroPoint, [], p('zero_point'))], {}, p('levels')), scale], {}, p('average')) };
      };
    case 'table':
      return (b, v) => tableLookupNodes(b, v, `${node}/tflite`, op.values, op.channels, op.input);
  }
}

/** The interpreter ops of the global average pools and the tabled nodes of a lowered graph, by node name (see the module comment). */
export function interpreterOpSpecs(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Map<string, InterpreterOp> {
  const ops = new Map<string, InterpreterOp>();
  for (const n of graph.nodes) {
    if (n.op === 'globalAvgPool2d') {
      const g = gridOf(plan, qparams, n.name);
      const input = graph.nodes.find((x) => x.name === n.inputs[0]);
      if (!g || !input) continue;
      const count = input.outputShape[0]! * input.outputShape[1]!;
      const s = g.scale;
      if (n.keepdims) ops.set(n.name, { kind: 'mean', count, scale: s, factor: Math.fround(s / Math.fround(s * count)) });
      else ops.set(n.name, { kind: 'average', count, scale: s, zeroPoint: g.zeroPoint });
    }
    if (n.op === 'avgPool2d' && n.padding === 'valid') {
      // 16x8: the int16 reference AVERAGE_POOL_2D rounds every window's mean as the global one (int8 pools run XNNPACK's and keep the exact mean).
      const g = gridOf(plan, qparams, n.name);
      if (g && g.qmax > 127) ops.set(n.name, { kind: 'average', count: n.poolSize[0] * n.poolSize[1], scale: g.scale, zeroPoint: g.zeroPoint });
    }
    if (n.op === 'activation' && TABLED.has(n.activation)) {
      const gin = gridOf(plan, qparams, n.inputs[0]!);
      const gout = gridOf(plan, qparams, n.name);
      if (!gin || !gout) throw new Error(`activation ${n.name}: its input or output has no range`);
      ops.set(n.name, tableSpec(activationTable(n, gin, gout), 1, gin, gout));
    }
    const role = n.op === 'affine' ? constantRole(n, qparams) : null;
    if (n.op === 'affine' && role) {
      // The op's quantizer: this node's own, or the group it heads (a fused ReLU / ReLU6 after it).
      const a = plan.activations.find((x) => x.layers[0] === n.name);
      const gin = gridOf(plan, qparams, n.inputs[0]!);
      const qp = a ? qparams.get(a.sharedWith ?? a.name) : undefined;
      if (!a || !gin || !qp) throw new Error(`affine ${n.name}: its input or output has no range`);
      const iq = integerQParams(qp, 'signed');
      const gout: ActQParams = { name: a.name, scale: iq.scale[0]!, zeroPoint: iq.zeroPoint[0]!, qmin: iq.qmin, qmax: iq.qmax };
      const fused = a.layers.slice(1).map((l) => {
        const f = graph.nodes.find((x) => x.name === l);
        if (f?.op !== 'activation') throw new Error(`layer ${l} is fused into ${n.name} but is not an activation`);
        return f.activation;
      });
      const { min, max } = fusedRange(fused, gout);
      ops.set(n.name, tableSpec(constantTable(n, role, qparams.get(`${n.name}/${role}`)!, gin, gout, min, max), n.scale.length, gin, gout));
    }
  }
  return ops;
}

/** TensorFlow.js hooks of the global average pools and the tabled nodes of a lowered graph, by node name. */
export function interpreterOps(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Map<string, Op> {
  return new Map([...interpreterOpSpecs(graph, plan, qparams)].map(([name, op]) => [name, tfjsInterpreterOp(op)]));
}

/** The nodes closing a MUL of a lowered graph (a Multiply, or an affine by its int8 multiplier): their quantizers' hook points. */
export function mulOutputs(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): Set<string> {
  const isMul = (name: string) => {
    const n = graph.nodes.find((x) => x.name === name);
    return n?.op === 'multiply' || (n?.op === 'affine' && qparams.has(`${n.name}/multiplier`) && n.offset.every((o) => o === 0));
  };
  return new Set(plan.activations.filter((a) => isMul(a.layers[0]!)).map((a) => a.at));
}
