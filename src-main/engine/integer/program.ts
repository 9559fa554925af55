/**
 * A quantized run compiled into integer steps, one per integer op of the plan
 * (a weighted layer or Add with its fused ReLU is one step), over per-sample
 * buffers allocated once: running a sample allocates nothing.
 *
 * Every tensor between the quantized input and the output is an integer
 * tensor with one scale and zero point; pass-through ops (pools, flatten,
 * reshape, dropout, padding, cropping, up-sampling) keep their input's grid.
 * The input's preprocessing (Rescaling / Normalization affines the plan
 * folds into the input quantizer) runs in float32 before the input is
 * quantized, as the runtime computes it. The keras.applications ops and
 * standalone activations are compiled in mobile-steps.ts. Layers the plan
 * keeps in float (overrides, unsupported layers, an unfolded BatchNorm) stop
 * compilation with an IntegerReferenceError naming the layer.
 */
import type { AffineNode, GraphNode, WeightedNode } from '../graph/types.js';
import { inputNode, isWeighted, nodeByName } from '../graph/types.js';
import { conv2dAcc, convOutput, denseAcc, depthwiseAcc, newPatch, type ConvGeometry } from './conv.js';
import { addInt, addParams, concatInt } from './elementwise.js';
import {
  activationGrid,
  checkAccumulatorBound,
  integerWeights,
  IntegerReferenceError,
  notInteger,
  outputMultipliers,
  quantizerOf,
  type IntegerModelInput,
} from './layers.js';
import { xnnpackAddInt, xnnpackAddParams } from './binary.js';
import { activationStep, FUSED_CLAMPS, mobileStep, type StepContext } from './mobile-steps.js';
import { conv2dAccPacked, denseAccPacked, laneChunk, newPackedPatch, packKernel } from './packed.js';
import { avgPool, maxPool } from './pool.js';
import { floatEpilogue, fusedRange, requantizeAcc, requantizeAccFp32 } from './requantize.js';
import type { IntegerOptions } from './options.js';
import { dequantizeInto, quantizeInto, rounder, sizeOf, type ActQParams, type QTensor } from './tensor.js';

export type { IntegerOptions } from './options.js';

export interface IntegerProgram {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly options: Required<IntegerOptions>;
  /** Runs one sample: `images[offset .. offset+inputSize)` in, dequantized outputs written at `out[outOffset..]`. */
  runSample(images: ArrayLike<number>, offset: number, out: Float32Array, outOffset: number): void;
  /** A node's integer tensor after the last runSample (tests, debugging). */
  tensor(node: string): QTensor;
}

export function compileIntegerModel(model: IntegerModelInput, opts: IntegerOptions = {}): IntegerProgram {
  const options: Required<IntegerOptions> = {
    domain: opts.domain ?? 'signed',
    requantRounding: opts.requantRounding ?? 'double',
    quantizeRounding: opts.quantizeRounding ?? 'half-away',
    elementwise: opts.elementwise ?? 'tflite',
    xnnpack: opts.xnnpack ?? false,
  };
  const { domain, requantRounding: rounding } = options;
  const round = rounder(options.quantizeRounding);
  const { graph, plan } = model;
  const slots = new Map<string, QTensor>();
  const steps: (() => void)[] = [];
  const slotOf = (node: GraphNode, k = 0): QTensor => {
    const name = node.inputs[k]!;
    const s = slots.get(name);
    if (!s) throw new IntegerReferenceError(`layer ${node.name} reads ${name}, which has no integer tensor`, node.name);
    return s;
  };
  const newSlot = (name: string, shape: number[], qp: ActQParams): QTensor => {
    const t: QTensor = { data: new Int32Array(sizeOf(shape)), shape: [...shape], qp };
    slots.set(name, t);
    return t;
  };
  const gridOf = (node: GraphNode) => {
    const a = quantizerOf(plan, node.name);
    if (!a) throw new IntegerReferenceError(`layer ${node.name} (${node.op}) has no activation quantizer in the plan`, node.name);
    return { a, qp: activationGrid(model, a, domain, node.name) };
  };
  /** The activations fused after `node` (the group's other layers), and the name its output goes by. */
  const fusedAfter = (node: GraphNode) => {
    const { a, qp } = gridOf(node);
    const acts = a.layers.slice(1).map((l) => {
      const n = nodeByName(graph, l);
      if (n.op !== 'activation' || !FUSED_CLAMPS.has(n.activation)) throw new IntegerReferenceError(`layer ${l}: fused into ${node.name} but not a ReLU/ReLU6/linear activation`, l);
      return n.activation;
    });
    return { at: a.at, qp, acts };
  };
  const ctx: StepContext = { model, options, round, slotOf, newSlot, gridOf, fusedAfter };

  const input = inputNode(graph);
  const inputWhy = notInteger(model, input);
  if (inputWhy) throw new IntegerReferenceError(inputWhy, input.name);
  const { a: inputQuantizer, qp: inputGrid } = gridOf(input);
  const inputSlot = newSlot(input.name, input.outputShape, inputGrid);
  // The input's preprocessing affines (float, before the input is quantized): each reads the integer input's slot.
  const preprocessing = inputQuantizer.layers.slice(1).map((l) => {
    const n = nodeByName(graph, l);
    if (n.op !== 'affine') throw new IntegerReferenceError(`layer ${l}: part of the input quantizer but not a Rescaling / Normalization`, l);
    slots.set(l, inputSlot);
    return n;
  });
  const preprocessed = preprocessing.length > 0 ? new Float32Array(inputSlot.data.length) : null;

  for (const node of graph.nodes) {
    if (node.op === 'input' || slots.has(node.name)) continue; // fused activations were written by their head
    const why = notInteger(model, node);
    if (why) throw new IntegerReferenceError(why, node.name);
    if (isWeighted(node)) {
      steps.push(weightedStep(node));
      continue;
    }
    switch (node.op) {
      case 'maxPool2d':
      case 'avgPool2d': {
        const x = slotOf(node);
        const g = poolGeometry(node, x.shape);
        const y = newSlot(node.name, node.outputShape, x.qp);
        const kernel = node.op === 'maxPool2d' ? maxPool : avgPool;
        steps.push(() => kernel(g, x.data, x.qp.qmin, x.qp.qmax, y.data));
        break;
      }
      case 'flatten':
      case 'reshape':
      case 'dropout': {
        // NHWC flattening is the identity on the buffer: share it.
        const x = slotOf(node);
        slots.set(node.name, { data: x.data, shape: [...node.outputShape], qp: x.qp });
        break;
      }
      case 'add': {
        const xs = node.inputs.map((_, k) => slotOf(node, k));
        const n = xs[0]!.data.length;
        if (xs.some((x) => x.data.length !== n)) throw new IntegerReferenceError(`layer ${node.name}: Add of differently sized tensors (broadcasting) is not supported`, node.name);
        const f = fusedAfter(node);
        const y = newSlot(f.at, node.outputShape, f.qp);
        const r = fusedRange(f.acts, f.qp);
        if (options.xnnpack && xs.length === 2) {
          const [a, b] = xs as [QTensor, QTensor];
          const px = xnnpackAddParams(a.qp, b.qp, f.qp, r.min, r.max);
          steps.push(() => xnnpackAddInt(px, a.data, null, b.data, null, y.data));
          break;
        }
        const p = addParams(xs.map((x) => x.qp), f.qp, r.min, r.max, rounding);
        const datas = xs.map((x) => x.data);
        steps.push(() => addInt(p, datas, y.data));
        break;
      }
      case 'concat': {
        const xs = node.inputs.map((_, k) => slotOf(node, k));
        const rank = node.outputShape.length;
        const axis = (node.axis < 0 ? node.axis + rank + 1 : node.axis) - 1;
        if (axis < 0 || axis >= rank) throw new IntegerReferenceError(`layer ${node.name}: concatenation axis ${node.axis} does not exist`, node.name);
        const outer = sizeOf(node.outputShape.slice(0, axis));
        const inner = sizeOf(node.outputShape.slice(axis + 1));
        const y = newSlot(node.name, node.outputShape, gridOf(node).qp);
        const chunks = xs.map((x) => x.shape[axis]! * inner);
        const datas = xs.map((x) => x.data);
        const qs = xs.map((x) => x.qp);
        steps.push(() => concatInt(outer, chunks, datas, qs, y.qp, y.data));
        break;
      }
      case 'activation':
        steps.push(activationStep(ctx, node));
        break;
      case 'zeroPad2d':
      case 'crop2d':
      case 'upSample2d':
      case 'globalMaxPool2d':
      case 'globalAvgPool2d':
      case 'multiply':
      case 'affine':
        steps.push(mobileStep(ctx, node));
        break;
      default:
        throw new IntegerReferenceError(`layer ${node.name}: op ${node.op} has no integer kernel in the reference`, node.name);
    }
  }

  function weightedStep(node: WeightedNode): () => void {
    const x = slotOf(node);
    const f = fusedAfter(node);
    const w = integerWeights(model, node, x.qp.scale);
    const xMaxAbs = Math.max(x.qp.qmax - x.qp.zeroPoint, x.qp.zeroPoint - x.qp.qmin);
    const acc = new Int32Array(sizeOf(node.outputShape));
    const y = newSlot(f.at, node.outputShape, f.qp);
    let accumulate: () => void;
    if (node.op === 'dense') {
      const inF = node.weights.kernel.shape[0]!;
      const rows = x.data.length / inF;
      if (!Number.isInteger(rows)) throw new IntegerReferenceError(`layer ${node.name}: input of ${x.data.length} values does not split into rows of ${inF} features`, node.name);
      checkAccumulatorBound(node.name, inF, xMaxAbs, w);
      const chunk = laneChunk(xMaxAbs, w.maxAbs);
      if (chunk >= 1) {
        const packed = packKernel(w.kernel, inF, w.channels);
        const patch = newPackedPatch(inF);
        accumulate = () => denseAccPacked(rows, inF, w.channels, x.data, x.qp.zeroPoint, packed, chunk, w.bias, acc, patch);
      } else {
        const patch = newPatch(inF);
        accumulate = () => denseAcc(rows, inF, w.channels, x.data, x.qp.zeroPoint, w.kernel, w.bias, acc, patch);
      }
    } else {
      const g = convGeometry(node, x.shape, w.channels);
      if (node.op === 'conv2d') {
        const taps = g.kh * g.kw * g.inC;
        checkAccumulatorBound(node.name, taps, xMaxAbs, w);
        const chunk = laneChunk(xMaxAbs, w.maxAbs);
        if (chunk >= 1) {
          const packed = packKernel(w.kernel, taps, w.channels);
          const patch = newPackedPatch(taps);
          accumulate = () => conv2dAccPacked(g, x.data, x.qp.zeroPoint, packed, chunk, w.bias, acc, patch);
        } else {
          const patch = newPatch(taps);
          accumulate = () => conv2dAcc(g, x.data, x.qp.zeroPoint, w.kernel, w.bias, acc, patch);
        }
      } else {
        checkAccumulatorBound(node.name, g.kh * g.kw, xMaxAbs, w);
        accumulate = () => depthwiseAcc(g, node.depthMultiplier, x.data, x.qp.zeroPoint, w.kernel, w.bias, acc);
      }
    }
    if (FUSED_CLAMPS.has(node.activation)) {
      const r = fusedRange([node.activation, ...f.acts], f.qp);
      if (options.xnnpack) {
        const scales = Float64Array.from(w.weightScale, (sw) => Math.fround(Math.fround(x.qp.scale * sw) / f.qp.scale));
        return () => {
          accumulate();
          requantizeAccFp32(acc, scales, f.qp.zeroPoint, r.min, r.max, y.data);
        };
      }
      const req = { ...outputMultipliers(node, w, x.qp.scale, f.qp.scale, rounding), zeroPoint: f.qp.zeroPoint, min: r.min, max: r.max, rounding };
      return () => {
        accumulate();
        requantizeAcc(acc, req, y.data);
      };
    }
    // softmax / sigmoid / tanh of the layer itself: float epilogue (requantize.ts).
    const accScale = new Float64Array(w.channels);
    for (let c = 0; c < w.channels; c++) accScale[c] = Math.fround(x.qp.scale * w.weightScale[c]!);
    const scratch = new Float64Array(acc.length);
    const act = node.activation;
    return () => {
      accumulate();
      floatEpilogue(acc, accScale, act, f.qp, round, scratch, y.data);
    };
  }

  const output = slots.get(graph.output);
  if (!output) throw new IntegerReferenceError(`the graph output ${graph.output} has no integer tensor`, graph.output);
  const outputSize = output.data.length;
  return {
    inputSize: inputSlot.data.length,
    outputSize,
    options,
    runSample(images, offset, out, outOffset) {
      if (preprocessed) {
        preprocess(preprocessing, images, offset, preprocessed);
        quantizeInto(preprocessed, 0, inputSlot.data, inputGrid, round, options.xnnpack);
      } else quantizeInto(images, offset, inputSlot.data, inputGrid, round, options.xnnpack);
      for (const step of steps) step();
      dequantizeInto(output.data, output.qp, out, outOffset);
    },
    tensor(name) {
      const t = slots.get(name);
      if (!t) throw new Error(`no integer tensor for node ${name}`);
      return t;
    },
  };
}

/** The input's Rescaling / Normalization chain in float32, as the runtime computes it: x·scale, then + offset, per channel (last axis). */
function preprocess(affines: readonly AffineNode[], images: ArrayLike<number>, offset: number, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = images[offset + i]!;
  for (const a of affines) {
    const channels = a.scale.length;
    for (let i = 0; i < out.length; i++) {
      const c = channels === 1 ? 0 : i % channels;
      out[i] = Math.fround(Math.fround(out[i]! * Math.fround(a.scale[c]!)) + Math.fround(a.offset[c]!));
    }
  }
}

function spatialGeometry(
  name: string,
  inShape: number[],
  k: [number, number],
  strides: [number, number],
  dilation: [number, number],
  padding: 'same' | 'valid',
  outC: number,
): ConvGeometry {
  if (inShape.length !== 3) throw new IntegerReferenceError(`layer ${name}: expects an [h, w, c] input, got [${inShape.join(',')}]`, name);
  const [inH, inW, inC] = inShape as [number, number, number];
  const h = convOutput(inH, k[0], strides[0], dilation[0], padding);
  const w = convOutput(inW, k[1], strides[1], dilation[1], padding);
  return { inH, inW, inC, outH: h.size, outW: w.size, outC, kh: k[0], kw: k[1], strideH: strides[0], strideW: strides[1], dilationH: dilation[0], dilationW: dilation[1], padTop: h.before, padLeft: w.before };
}

function checkShape(name: string, g: ConvGeometry, expected: number[]): ConvGeometry {
  if (expected[0] !== g.outH || expected[1] !== g.outW || expected[2] !== g.outC) {
    throw new IntegerReferenceError(`layer ${name}: computed output [${g.outH},${g.outW},${g.outC}] differs from the graph's [${expected.join(',')}]`, name);
  }
  return g;
}

function convGeometry(node: Exclude<WeightedNode, { op: 'dense' }>, inShape: number[], outC: number): ConvGeometry {
  return checkShape(node.name, spatialGeometry(node.name, inShape, node.kernelSize, node.strides, node.dilation, node.padding, outC), node.outputShape);
}

function poolGeometry(node: Extract<GraphNode, { op: 'maxPool2d' | 'avgPool2d' }>, inShape: number[]): ConvGeometry {
  return checkShape(node.name, spatialGeometry(node.name, inShape, node.poolSize, node.strides, [1, 1], node.padding, inShape[2]!), node.outputShape);
}
