/**
 * Small hand-made DAGs for the training-step tests (no test cases here): see
 * dag-step.test.ts for what each one exercises.
 */
import type { Activation, Graph, GraphNode, LayerActivation } from '../../../../../src-main/engine/graph/types.js';
import { act, add, batchNorm, concat, conv, dense, depthwise, flatten, gap, graphOf, input, randomizeStatistics, weight } from '../../transform/graphs.js';

let seed = 5000;

/**
 * The graph with every weight drawn again from `from` on (kernels in [-1, 1),
 * biases in [-0.5, 0.5), BatchNorms as randomizeStatistics draws them), so a
 * builder gives the same graph however many graphs were built before it
 * (graphs.ts' helpers draw from one counter).
 */
function reseeded(graph: Graph, from: number): Graph {
  let s = from;
  const nodes = graph.nodes.map((node): GraphNode => {
    if (node.op !== 'dense' && node.op !== 'conv2d' && node.op !== 'depthwiseConv2d') return node;
    const { kernel, bias } = node.weights;
    return { ...node, weights: { kernel: weight(kernel.shape, s++), ...(bias ? { bias: weight(bias.shape, s++, -0.5, 0.5) } : {}) } };
  });
  return randomizeStatistics({ ...graph, nodes }, s);
}

export const activation = (name: string, from: GraphNode, a: Activation, alpha?: number): GraphNode => ({ ...act(name, from, a as LayerActivation), activation: a, ...(alpha !== undefined ? { alpha } : {}) }) as GraphNode;
export const dropout = (name: string, from: GraphNode, rate: number, noiseShape?: (number | null)[]): GraphNode => ({ name, op: 'dropout', inputs: [from.name], outputShape: [...from.outputShape], rate, ...(noiseShape ? { noiseShape } : {}) });
export const multiply = (name: string, ...from: GraphNode[]): GraphNode => {
  const rank = Math.max(...from.map((n) => n.outputShape.length));
  const padded = from.map((n) => [...Array<number>(rank - n.outputShape.length).fill(1), ...n.outputShape]);
  return { name, op: 'multiply', inputs: from.map((n) => n.name), outputShape: padded[0]!.map((_, i) => Math.max(...padded.map((s) => s[i]!))) };
};
export const globalPool = (name: string, from: GraphNode, op: 'globalAvgPool2d' | 'globalMaxPool2d', keepdims: boolean): GraphNode => {
  const c = from.outputShape[2]!;
  return { name, op, inputs: [from.name], outputShape: keepdims ? [1, 1, c] : [c], ...(keepdims ? { keepdims } : {}) };
};
export const zeroPad = (name: string, from: GraphNode, padding: [[number, number], [number, number]]): GraphNode => {
  const [h, w, c] = from.outputShape as [number, number, number];
  return { name, op: 'zeroPad2d', inputs: [from.name], outputShape: [h + padding[0][0] + padding[0][1], w + padding[1][0] + padding[1][1], c], padding };
};
export const crop = (name: string, from: GraphNode, cropping: [[number, number], [number, number]]): GraphNode => {
  const [h, w, c] = from.outputShape as [number, number, number];
  return { name, op: 'crop2d', inputs: [from.name], outputShape: [h - cropping[0][0] - cropping[0][1], w - cropping[1][0] - cropping[1][1], c], cropping };
};
export const upSample = (name: string, from: GraphNode, size: [number, number]): GraphNode => {
  const [h, w, c] = from.outputShape as [number, number, number];
  return { name, op: 'upSample2d', inputs: [from.name], outputShape: [h * size[0], w * size[1], c], size };
};
export const affine = (name: string, from: GraphNode, scale: number[], offset: number[]): GraphNode => ({ name, op: 'affine', inputs: [from.name], outputShape: [...from.outputShape], scale, offset, kerasClass: 'Rescaling' });
export const reshape = (name: string, from: GraphNode, targetShape: number[]): GraphNode => ({ name, op: 'reshape', inputs: [from.name], outputShape: targetShape, targetShape });
export const pool = (name: string, from: GraphNode, op: 'maxPool2d' | 'avgPool2d', k: number, s: number, padding: 'same' | 'valid'): GraphNode => {
  const [h, w, c] = from.outputShape as [number, number, number];
  const out = (n: number) => (padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1);
  return { name, op, inputs: [from.name], outputShape: [out(h), out(w), c], poolSize: [k, k], strides: [s, s], padding };
};
/** A depthwise convolution with its own stride / padding / multiplier (graphs.ts' is stride 1 'same'). */
export function depthwiseStrided(name: string, from: GraphNode, opts: { mult: number; k: number; stride: number; padding: 'same' | 'valid'; activation?: LayerActivation; bias?: boolean }): GraphNode {
  const [h, w, c] = from.outputShape as [number, number, number];
  const out = (n: number) => (opts.padding === 'same' ? Math.ceil(n / opts.stride) : Math.floor((n - opts.k) / opts.stride) + 1);
  return {
    name,
    op: 'depthwiseConv2d',
    inputs: [from.name],
    outputShape: [out(h), out(w), c * opts.mult],
    kernelSize: [opts.k, opts.k],
    strides: [opts.stride, opts.stride],
    padding: opts.padding,
    dilation: [1, 1],
    depthMultiplier: opts.mult,
    activation: opts.activation ?? 'linear',
    weights: { kernel: weight([opts.k, opts.k, c, opts.mult], seed++), ...(opts.bias === false ? {} : { bias: weight([c * opts.mult], seed++, -0.5, 0.5) }) },
  };
}

/**
 * A conv read twice: by a conv-BN-relu6-conv-BN branch and by the residual
 * Add (with a fused ReLU) that joins them. (The conv is linear: with a ReLU,
 * the Add's largest output can sit where the conv gives 0, on the grid of
 * the branch's quantizer, and for some ranges its own grid is then 2.5 times
 * finer, so many sums land exactly halfway between two of its steps, where
 * any two float implementations round apart.)
 */
export function residual(variant = 0): Graph {
  const x = input('input', [8, 8, 3]);
  const c1 = conv('c1', x, 8);
  const c2 = conv('c2', c1, 8, { bias: false });
  const bn2 = batchNorm('bn2', c2);
  const r2 = act('r2', bn2, 'relu6');
  const c3 = conv('c3', r2, 8, { bias: false });
  const bn3 = batchNorm('bn3', c3);
  const sum = add('sum', bn3, c1);
  const r = act('r', sum, 'relu');
  const g = gap('gap', r);
  const d = dense('d', g, 4, { activation: 'softmax' });
  return reseeded(graphOf('residual', x, c1, c2, bn2, r2, c3, bn3, sum, r, g, d), variant);
}

/**
 * MobileNetV3 / EfficientNet squeeze-and-excite: swish and hard_swish layers,
 * a keepdims pool, 1×1 convs (relu, fused hard_sigmoid) giving a [1,1,C]
 * gate, then a Dense(sigmoid) [C] gate multiplied in with Keras's rank
 * broadcasting, then leaky_relu.
 */
export function squeezeExcite(variant = 0): Graph {
  const x = input('input', [8, 8, 4]);
  const c1 = conv('c1', x, 8, { bias: false });
  const bn1 = batchNorm('bn1', c1);
  const a1 = activation('swish', bn1, 'swish');
  const dw = depthwise('dw', a1, 1, { bias: false });
  const bn2 = batchNorm('bn2', dw);
  const a2 = activation('hard_swish', bn2, 'hard_swish');
  const sq = globalPool('squeeze', a2, 'globalAvgPool2d', true);
  const reduce = conv('reduce', sq, 4, { k: 1, activation: 'relu' });
  const expand = conv('expand', reduce, 8, { k: 1, activation: 'hard_sigmoid' });
  const excite = multiply('excite', a2, expand);
  const g = gap('gap', excite);
  const gate = dense('gate', g, 8, { activation: 'sigmoid' });
  const excite2 = multiply('excite2', excite, gate);
  const leaky = activation('leaky', excite2, 'leaky_relu', 0.2);
  const f = flatten('flatten', leaky);
  const d = dense('d', f, 3, { activation: 'softmax' });
  return reseeded(graphOf('squeeze_excite', x, c1, bn1, a1, dw, bn2, a2, sq, reduce, expand, excite, g, gate, excite2, leaky, f, d), 100 + variant);
}

/** Two branches concatenated, a conv on that, concatenated again with it (one shared range over all of them in QAT), average pooled, a Dense on the feature map's channels. */
export function concatenated(variant = 0): Graph {
  const x = input('input', [8, 8, 3]);
  const a = conv('a', x, 4, { activation: 'relu' });
  const b = conv('b', x, 6, { k: 1, activation: 'relu6' });
  const cat = concat('cat', a, b);
  const c = conv('c', cat, 8, { activation: 'tanh' });
  const cat2 = concat('cat2', c, cat);
  const avg = pool('avg', cat2, 'avgPool2d', 2, 2, 'valid');
  const proj = dense('proj', avg, 5, { activation: 'relu' });
  const f = flatten('flatten', proj);
  const d = dense('d', f, 3, { activation: 'softmax' });
  return reseeded(graphOf('concatenated', x, a, b, cat, c, cat2, avg, proj, f, d), 200 + variant);
}

/**
 * MobileNetV2's downsampling: ZeroPadding2D then a stride-2 'valid'
 * depthwise (multiplier 2); a stride-2 'same' one; Dropout 0.5 on a feature
 * map and on a vector; EfficientNet's drop-connect (noise shape
 * [null,1,1,1]: one keep/drop per sample) and a mask shared by the batch
 * over H and W (noise shape [1,null,null,1]).
 */
export function paddedDepthwise(variant = 0): Graph {
  const x = input('input', [9, 9, 3]);
  const c = conv('c', x, 4, { activation: 'relu6' });
  const pad = zeroPad('pad', c, [[0, 1], [0, 1]]);
  const dw = depthwiseStrided('dw', pad, { mult: 2, k: 3, stride: 2, padding: 'valid', bias: false });
  const bn = batchNorm('bn', dw);
  const r = act('r', bn, 'relu6');
  const dw2 = depthwiseStrided('dw2', r, { mult: 1, k: 3, stride: 2, padding: 'same', activation: 'relu' });
  const drop = dropout('drop_map', dw2, 0.5);
  const pw = conv('pw', drop, 6, { k: 1 });
  const connect = dropout('drop_connect', pw, 0.25, [null, 1, 1, 1]);
  const shared = dropout('drop_shared', connect, 0.25, [1, null, null, 1]);
  const f = flatten('flatten', shared);
  const drop2 = dropout('drop_vec', f, 0.5);
  const d = dense('d', drop2, 3, { activation: 'softmax' });
  return reseeded(graphOf('padded_depthwise', x, c, pad, dw, bn, r, dw2, drop, pw, connect, shared, f, drop2, d), 300 + variant);
}

/**
 * Rescaling after the input (the input quantizer follows it), up-sampling,
 * cropping, a mid-graph per-channel affine, a 'same' max-pool, a
 * GlobalMaxPool side path, Reshape to rank 2, a Dense (Keras 2
 * hard_sigmoid) on that rank-3 tensor, softmax over its last axis,
 * Flatten, Concatenate of vectors, logits out (no softmax).
 */
export function reshaped(variant = 0): Graph {
  const x = input('input', [5, 5, 2]);
  const resc = affine('rescale', x, [0.5], [-0.25]);
  const c = conv('c', resc, 4, { activation: 'sigmoid' });
  const mp = pool('mp', c, 'maxPool2d', 2, 2, 'same');
  const up = upSample('up', mp, [2, 2]);
  const cr = crop('crop', up, [[1, 1], [2, 0]]);
  const norm = affine('norm', cr, [1.5, -0.5, 2, 0.75], [0.1, 0.2, -0.3, 0]);
  const gmp = globalPool('gmp', norm, 'globalMaxPool2d', false);
  const rs = reshape('rs', norm, [16, 4]);
  const d1 = dense('d1', rs, 3, { activation: 'hard_sigmoid_keras2' });
  const sm = act('sm', d1, 'softmax');
  const f = flatten('flatten', sm);
  const cat = concat('cat', f, gmp);
  const d = dense('d', cat, 3);
  return reseeded(graphOf('reshaped', x, resc, c, mp, up, cr, norm, gmp, rs, d1, sm, f, cat, d), 400 + variant);
}

