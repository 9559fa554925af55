/**
 * AdaRound's optimisation step for one Dense / convolution as an ONNX graph,
 * built once per layer and run by onnxruntime-node every iteration
 * (transform/adaround.ts drives it; transform/adaround-grid.ts has the
 * arithmetic and its names).
 *
 * Inputs: `xq` the layer's input in the model quantized so far and `xf` its
 * input in the float model ([N, ...] in the graph's layout: NCHW for images),
 * `V` (the kernel's shape), `lambda` (the regulariser's weight, 0 during the
 * warm start), `beta`, `invPositions` = 1 / (N · output positions), and with
 * the optimizer Adam's slots `m`, `v`, `negLr`, `oneMinusAcc1`, `oneMinusAcc2`.
 *
 *   h   = clip(σ(V)·(ζ − γ) + γ, 0, 1)
 *   W~  = nudged_min + scale · clip(floor(u) + h, 0, levels)
 *   rec = Σ (f(W~ ∗ xq + b) − f(W ∗ xf + b))² · invPositions
 *         (summed over output channels, averaged over samples and positions, as AIMET)
 *   reg = Σ (1 − |2h − 1|^β)
 *   loss = rec + lambda · reg
 * f is the layer's fused activation (none for a softmax output: the logits
 * are reconstructed). Both layer outputs are the op's one lowering through
 * its training rule (native/train/ops); the rule's own weight gradient gives
 * ∂rec/∂W~, and the chain to V is written here:
 *   ∂W~/∂h = scale · [0 ≤ floor(u) + h ≤ levels],
 *   ∂reg/∂h = −2β·|2h − 1|^(β−1)·sign(2h − 1),
 *   ∂h/∂V = (ζ − γ)·σ(V)(1 − σ(V)) · [0 ≤ σ(V)(ζ − γ) + γ ≤ 1]
 * (a clip passes its gradient on its closed range, as TF.js's clipByValue).
 * Outputs: `reconstruction`, `regularizer`, then `next/V`, `next/m`, `next/v`
 * (tf.train.adam's update, native/train/optimizer.ts) or, without the
 * optimizer, `grad/V`.
 */
import type * as Ort from 'onnxruntime-node';
import type { WeightedNode } from '../graph/types.js';
import { encodeModel, OnnxBuilder } from '../onnx/builder.js';
import { DT, floats } from '../onnx/proto.js';
import { GAMMA, ZETA, type KernelGrid } from '../transform/adaround-grid.js';
import { createSession, loadOnnxRuntime } from './session.js';
import { nchwcBlockSize } from './train/nchwc.js';
import { opStep } from './train/ops/index.js';
import { optimizerInputs, optimizerUpdate } from './train/optimizer.js';
import { graphDims, type StepContext, type Value } from './train/step-context.js';
import { TRAIN_OPSET } from './train/step-graph.js';

export interface AdaroundStepInput {
  /** The layer with its float kernel and bias. */
  node: WeightedNode;
  /** Per-sample shape of its input (Keras layout). */
  inputShape: number[];
  grid: KernelGrid;
  /** The model's output layer ending in a softmax: reconstruct the logits. */
  logits: boolean;
  /** Apply Adam (true) or output the gradient of the loss with respect to V (false). */
  optimizer: boolean;
  /** onnxruntime's NCHWc block size for depthwise convolutions (native/train/nchwc.ts), or null: standard operators. */
  nchwcBlock?: number | null;
}

export function buildAdaroundStep(input: AdaroundStepInput): Uint8Array {
  const { node, grid } = input;
  const b = new OnnxBuilder();
  const kernelShape = [...node.weights.kernel.shape];
  const dims = ['N', ...graphDims(input.inputShape)];
  const xq: Value = { name: b.input('xq', dims), shape: [...input.inputShape] };
  const xf: Value = { name: b.input('xf', dims), shape: [...input.inputShape] };
  const V = b.input('V', kernelShape);
  const lambda = b.input('lambda', []);
  const beta = b.input('beta', []);
  const invPositions = b.input('invPositions', []);
  const constant = (name: string, values: Float32Array) => b.initializer(floats(name, kernelShape, values));
  const W = constant('W', node.weights.kernel.values);
  const floor = constant('floor', grid.floor);
  const scale = constant('scale', grid.scale);
  const lo = constant('lo', grid.lo);
  const bias = node.weights.bias ? b.f32(node.weights.bias.values) : undefined;

  // The soft-quantized kernel.
  const sig = b.op('Sigmoid', [V]);
  const pre = b.op('Add', [b.op('Mul', [sig, b.f32(ZETA - GAMMA)]), b.f32(GAMMA)]);
  const h = b.op('Clip', [pre, b.f32(0), b.f32(1)]);
  const kf = b.op('Add', [floor, h]);
  const levels = b.f32(grid.levels);
  const soft = b.op('Add', [lo, b.op('Mul', [scale, b.op('Clip', [kf, b.f32(0), levels])])]);

  // The layer on both inputs through its training rule: the quantized one with W~ (its kernel gradient wanted), the float one with W.
  let dSoft: string | null = null;
  const context = (kernel: string, back: (dK: string) => void): StepContext => ({
    b,
    needDx: [false],
    logitsHere: input.logits,
    freezeBatchNorm: true,
    nchwcBlock: input.nchwcBlock ?? null,
    weight: (name) => (name === 'bias' ? bias : undefined),
    addGrad: () => {},
    kernel: () => ({ kernel, back }),
    moving: () => {},
    dropoutMask: () => {
      throw new Error(`AdaRound: layer ${node.name} has no dropout`);
    },
  });
  const quantized = opStep(node, [xq], context(soft, (dK) => (dSoft = dK)));
  const target = opStep(node, [xf], context(W, () => {}));
  const diff = b.op('Sub', [quantized.value.name, target.value.name]);
  const reconstruction = b.op('Mul', [b.op('ReduceSumSquare', [diff], { keepdims: 0 }), invPositions]);
  quantized.back(b.op('Mul', [diff, b.op('Mul', [b.f32(2), invPositions])]));
  if (dSoft === null) throw new Error(`AdaRound: the training rule of ${node.name} gave no kernel gradient`);

  // The regulariser and the chain to V.
  const inRange = (x: string, hi: string) => b.op('Cast', [b.op('And', [b.op('GreaterOrEqual', [x, b.f32(0)]), b.op('LessOrEqual', [x, hi])])], { to: DT.FLOAT });
  const t = b.op('Sub', [b.op('Mul', [h, b.f32(2)]), b.f32(1)]);
  const a = b.op('Abs', [t]);
  const regularizer = b.op('ReduceSum', [b.op('Sub', [b.f32(1), b.op('Pow', [a, beta])])], { keepdims: 0 });
  const dRegDh = b.op('Mul', [b.op('Mul', [b.op('Mul', [b.f32(-2), beta]), b.op('Pow', [a, b.op('Sub', [beta, b.f32(1)])])]), b.op('Sign', [t])]);
  const dRecDh = b.op('Mul', [b.op('Mul', [dSoft, scale]), inRange(kf, levels)]);
  const dh = b.op('Add', [dRecDh, b.op('Mul', [lambda, dRegDh])]);
  const dSig = b.op('Mul', [b.op('Mul', [sig, b.op('Sub', [b.f32(1), sig])]), b.f32(ZETA - GAMMA)]);
  const dV = b.op('Mul', [b.op('Mul', [dh, inRange(pre, b.f32(1))]), dSig]);

  b.output('reconstruction', reconstruction);
  b.output('regularizer', regularizer);
  if (input.optimizer) {
    const hyper = optimizerInputs(b, { kind: 'adam' });
    const slots = { m: b.input('m', kernelShape), v: b.input('v', kernelShape) };
    const next = optimizerUpdate(b, { kind: 'adam' }, hyper, V, dV, slots);
    for (const [name, value] of Object.entries(next)) b.output(`next/${name === 'w' ? 'V' : name}`, value);
  } else {
    b.output('grad/V', dV);
  }
  b.pruneUnused();
  return encodeModel(b.model(`${node.name} AdaRound step`, { opset: TRAIN_OPSET, irVersion: 8, domain: 'studio.adaround' }));
}

/** A batch of layer inputs: N samples of the quantized and the float model, graph layout. */
export interface LayerBatch {
  xq: Float32Array;
  xf: Float32Array;
  n: number;
}

/** AdaRound's learning rate (Adam, AIMET's default). */
export const ADAROUND_LEARNING_RATE = 1e-3;

/**
 * The step graph of one layer in a session, with V and Adam's slots held
 * here between iterations.
 */
export class AdaroundSession {
  private m: Float32Array;
  private v: Float32Array;
  private t = 0;

  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    private readonly dims: number[],
    private readonly kernelShape: number[],
    /** Output positions per sample (H·W, or 1). */
    private readonly positions: number,
    public V: Float32Array,
  ) {
    this.m = new Float32Array(V.length);
    this.v = new Float32Array(V.length);
  }

  static async create(input: Omit<AdaroundStepInput, 'optimizer' | 'nchwcBlock'>, V: Float32Array, threads?: number): Promise<AdaroundSession> {
    const ort = await loadOnnxRuntime();
    const nchwcBlock = await nchwcBlockSize(ort);
    const { session } = await createSession(buildAdaroundStep({ ...input, optimizer: true, nchwcBlock }), { ...(threads ? { threads } : {}), provider: 'cpu' });
    const out = input.node.outputShape;
    const positions = out.slice(0, -1).reduce((a, c) => a * c, 1);
    return new AdaroundSession(ort, session, graphDims(input.inputShape), [...input.node.weights.kernel.shape], positions, V);
  }

  private feeds(batch: LayerBatch, V: Float32Array, lambda: number, beta: number): Record<string, Ort.Tensor> {
    const T = this.ort.Tensor;
    const scalar = (x: number) => new T('float32', Float32Array.of(x), []);
    return {
      xq: new T('float32', batch.xq, [batch.n, ...this.dims]),
      xf: new T('float32', batch.xf, [batch.n, ...this.dims]),
      V: new T('float32', V, this.kernelShape),
      lambda: scalar(lambda),
      beta: scalar(beta),
      invPositions: scalar(1 / (batch.n * this.positions)),
    };
  }

  /** One Adam step on the batch; returns the batch's losses before the step. */
  async step(batch: LayerBatch, lambda: number, beta: number): Promise<{ reconstruction: number; regularizer: number }> {
    this.t++;
    const T = this.ort.Tensor;
    const scalar = (x: number) => new T('float32', Float32Array.of(x), []);
    const out = await this.session.run({
      ...this.feeds(batch, this.V, lambda, beta),
      m: new T('float32', this.m, this.kernelShape),
      v: new T('float32', this.v, this.kernelShape),
      negLr: scalar(-ADAROUND_LEARNING_RATE),
      oneMinusAcc1: scalar(1 - 0.9 ** this.t),
      oneMinusAcc2: scalar(1 - 0.999 ** this.t),
    });
    this.V = (out['next/V']!.data as Float32Array).slice();
    this.m = (out['next/m']!.data as Float32Array).slice();
    this.v = (out['next/v']!.data as Float32Array).slice();
    return { reconstruction: (out['reconstruction']!.data as Float32Array)[0]!, regularizer: (out['regularizer']!.data as Float32Array)[0]! };
  }

  /** The reconstruction loss of the batch with the given V (no update). */
  async reconstruction(batch: LayerBatch, V: Float32Array): Promise<number> {
    const T = this.ort.Tensor;
    const scalar = (x: number) => new T('float32', Float32Array.of(x), []);
    const zeros = new Float32Array(V.length);
    const out = await this.session.run(
      { ...this.feeds(batch, V, 0, 2), m: new T('float32', zeros, this.kernelShape), v: new T('float32', zeros, this.kernelShape), negLr: scalar(0), oneMinusAcc1: scalar(1), oneMinusAcc2: scalar(1) },
      ['reconstruction'],
    );
    return (out['reconstruction']!.data as Float32Array)[0]!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
