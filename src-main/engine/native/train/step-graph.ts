/**
 * One training step as an ONNX graph, so onnxruntime-node (MLAS kernels on
 * its own thread pool) runs the forward and backward pass of float training
 * and QAT, optimizer update included, for any DAG of the IR whose every op
 * has a training rule (ops/).
 *
 * Inputs: the batch (`x`, NHWC as stored; `onehot`; `invBatch` = 1/N), every
 * weight of the runtime under `w/<node>/<weight>` (kernels in TF.js layout),
 * each activation quantizer's stored range (`range/<q>/min|max`) and each
 * Dropout's keep-mask (`mask/<node>`, 0/1 in Keras layout, see `dropouts`).
 * With an optimizer, also `negLr` (and Adam's bias corrections) and each
 * trainable weight's optimizer slots (`m/…`, `v/…` or `acc/…`).
 * Outputs: `loss` (mean softmax cross-entropy of the logits), `correct`,
 * each trainable weight updated (`next/w/<node>/<weight>`) with its slots
 * (`next/m/…`), or without an optimizer its gradient (`grad/<node>/<weight>`),
 * the updated BatchNorm moving statistics (`next/<bn>/movingMean|movingVariance`),
 * the updated activation ranges (`next/<q>/min|max`) and each kernel
 * quantizer's range (`wrange/<layer>/min|max`).
 *
 * The forward pass is QAT's forward of qat/hooks.ts on the TF.js runtime
 * (step-quantizers.ts), each op lowered by its one ONNX lowering
 * (engine/onnx/ops, which the calibration, evaluation and export graphs
 * call too): BatchNorm with the batch's statistics until the
 * freeze step, then with the moving ones (`freezeBatchNorm` builds that
 * second graph). The backward pass is written by hand, op by op, as TF.js
 * differentiates the same forward (tests compare them): nodes in reverse
 * order, each node's output gradient the sum of what its readers send back
 * (a value read by several nodes, as a residual Add's input, gets the sum),
 * through its activation quantizer's straight-through estimator, then
 * through its op's rule. Only values with a trainable weight upstream get a
 * gradient.
 *
 * Speed (onnxruntime runs every node, each a pass over its tensors, so the
 * rules keep passes few; see the rules): a ReLU6 and the quantizer on its
 * output share one clip and one gradient mask (OpStep.clip); a BatchNorm
 * hands the convolution before it its gradient as t·scale per channel
 * (ScaledGrad), which the convolution folds into small tensors; depthwise
 * convolutions may run on onnxruntime's NCHWc kernels (`nchwcBlock`,
 * nchwc.ts); nodes whose values nothing reads are dropped at the end.
 */
import type { Estimator } from '../../../api/run-config.js';
import { logitsOf } from '../../graph/runtime.js';
import { nodeByName, type DropoutNode, type Graph, type GraphNode, type ZeroPad2DNode } from '../../graph/types.js';
import { LoweringError } from '../../lowering-error.js';
import type { FoldRecord } from '../../transform/fold-batchnorm.js';
import type { QuantPlan } from '../../transform/plan.js';
import { softmaxCrossEntropy } from './loss.js';
import { encodeModel, OnnxBuilder } from '../../onnx/builder.js';
import { lowerZeroPad } from '../../onnx/ops/index.js';
import { opStep } from './ops/index.js';
import { optimizerInputs, optimizerSlots, optimizerUpdate, type StepOptimizer } from './optimizer.js';
import { asOnnx, channelBroadcast, fromKeras, opName, unsupported, UnsupportedForNativeTraining, type OpStep, type ScaledGrad, type StepContext, type Value } from './step-context.js';
import { StepQuantizers, type ActivationRange, type KernelRange } from './step-quantizers.js';

export { UnsupportedForNativeTraining } from './step-context.js';

/** Opset 17: ScatterElements' reduction (16+) while ReduceMin/Max/Mean still take `axes` as an attribute (until 18). */
export const TRAIN_OPSET = 17;
export { ADAM, optimizerSlots, type StepOptimizer } from './optimizer.js';

export interface StepGraphInput {
  /** The unfolded graph the runtime trains. */
  graph: Graph;
  /** The quantization plan of the folded graph; null for float training. */
  plan: QuantPlan | null;
  folded: readonly FoldRecord[];
  /** The activation quantizers' estimator (minmax, lastvalue or movingaverage). */
  activationEstimator: Pick<Estimator, 'kind' | 'decay'>;
  /** BatchNorm with moving statistics (after the freeze step) instead of batch statistics. */
  freezeBatchNorm: boolean;
  /** The update the graph applies (see optimizer.ts); null: it outputs the gradients instead. */
  optimizer: StepOptimizer | null;
  /**
   * The block size of onnxruntime's NCHWc kernels on this machine
   * (nchwcBlockSize): depthwise filter gradients then run on them (nchwc.ts).
   * Absent or null: standard ONNX operators only.
   */
  nchwcBlock?: number | null;
  /**
   * Also output each node's value as `prevalue/<node>` (before its activation
   * quantizer) and `value/<node>` (after it), and the loss's gradient with
   * respect to it as `dvalue/<node>` (where one is computed), in the graph's
   * layout (NCHW images): for tests that look inside.
   */
  exposeValues?: boolean;
}

export interface StepWeight {
  node: string;
  weight: string;
  shape: number[];
  trainable: boolean;
}

/**
 * A Dropout whose keep-mask the graph takes as `mask/<node>`: [N, ...shape]
 * (Keras layout; [1, ...shape] when `shared` by the batch), 1 keeps, 0 drops.
 * `shape` is the noise shape when the layer has one (it broadcasts).
 */
export interface StepDropout {
  node: string;
  shape: number[];
  shared: boolean;
  rate: number;
}

/** The keep-mask dims of a Dropout for a batch of `n`. */
export function maskDims(d: StepDropout, n: number): number[] {
  return [d.shared ? 1 : n, ...d.shape];
}

export interface StepGraph {
  bytes: Uint8Array;
  /** Every runtime weight the graph takes as `w/<node>/<weight>`. */
  weights: StepWeight[];
  /** `<node>/<weight>` of the moving statistics the graph updates (empty when BatchNorm is frozen). */
  movingOutputs: string[];
  /** Activation quantizers whose ranges go in and come out, with their channel counts. */
  activationRanges: ActivationRange[];
  /** Kernel quantizers (by layer) whose ranges come out. */
  weightRanges: KernelRange[];
  dropouts: StepDropout[];
  classes: number;
}

const TRAINABLE = new Set(['kernel', 'bias', 'gamma', 'beta']);

/** Where a node's gradient goes once its output's gradient is known. */
interface Backward {
  node: GraphNode;
  /** Straight-through estimator of its output's activation quantizer. */
  hook: ((dy: string) => string) | null;
  op: OpStep['back'] | null;
  /** The rule's step (its scaled-gradient passes), none for the input. */
  step: OpStep | null;
}

export function buildStepGraph(input: StepGraphInput): StepGraph {
  const { graph, plan, folded, freezeBatchNorm } = input;
  checkGraph(graph);
  const b = new OnnxBuilder();
  const weights: StepWeight[] = [];
  const weightInput = new Map<string, string>();
  for (const n of graph.nodes) {
    if (!('weights' in n)) continue;
    for (const [weight, data] of Object.entries(n.weights)) {
      if (!data) continue;
      const name = b.input(`w/${n.name}/${weight}`, [...data.shape]);
      weightInput.set(`${n.name}/${weight}`, name);
      weights.push({ node: n.name, weight, shape: [...data.shape], trainable: TRAINABLE.has(weight) });
    }
  }
  const w = (node: string, weight: string) => weightInput.get(`${node}/${weight}`);

  // Gradient contributions per trainable weight (γ of a folded BN gets two: BN's own and the kernel fold's).
  const grads = new Map<string, string[]>();
  const addGrad = (node: string, weight: string, g: string) => {
    const key = `${node}/${weight}`;
    grads.set(key, [...(grads.get(key) ?? []), g]);
  };
  const quantizers = new StepQuantizers(b, graph, plan, folded, input.activationEstimator, w);
  const movingOutputs: string[] = [];
  const dropouts: StepDropout[] = [];
  const needsGrad = gradientNeeds(graph, weights);
  const appliesSoftmax = logitsOf(graph).appliesSoftmax;
  const readers = new Map<string, number>();
  for (const n of graph.nodes) for (const from of n.inputs) readers.set(from, (readers.get(from) ?? 0) + 1);
  const padsOf = absorbedZeroPadding(graph, readers, (at) => quantizers.quantizes(at));
  const absorbed = new Set([...padsOf.values()].map((p) => p.name));

  // Forward, in graph order (the order TF.js runs nodes and their quantizers in).
  const values = new Map<string, Value>();
  const backward: Backward[] = [];
  for (const node of graph.nodes) {
    const logitsHere = appliesSoftmax && node.name === graph.output;
    let value: Value;
    let op: OpStep['back'] | null = null;
    let clip: OpStep['clip'];
    let rule: OpStep | null = null;
    if (node.op === 'input') {
      value = { name: fromKeras(b, b.input('x', ['N', ...node.outputShape]), node.outputShape), shape: [...node.outputShape] };
    } else if (absorbed.has(node.name)) {
      // A ZeroPadding2D its convolution applies (absorbedZeroPadding): its input passes through, and so does the gradient.
      value = values.get(node.inputs[0]!)!;
      const pass = needsGrad.get(node.inputs[0]!)!;
      op = (dy) => [pass ? dy : null];
    } else {
      const ctx: StepContext = {
        b,
        needDx: node.inputs.map((i) => needsGrad.get(i)!),
        logitsHere,
        freezeBatchNorm,
        nchwcBlock: input.nchwcBlock ?? null,
        ...(padsOf.has(node.name) ? { zeroPads: padsOf.get(node.name)!.padding } : {}),
        weight: (name) => w(node.name, name),
        addGrad: (weight, g) => addGrad(node.name, weight, g),
        kernel: (n) => scoped(b, `${node.name}/kernel_fq/`, () => quantizers.kernel(n, addGrad)),
        moving: (weight, v) => {
          b.output(`next/${node.name}/${weight}`, v);
          movingOutputs.push(`${node.name}/${weight}`);
        },
        dropoutMask: (shape, shared) => {
          dropouts.push({ node: node.name, shape: [...shape], shared, rate: (node as DropoutNode).rate });
          return fromKeras(b, b.input(`mask/${node.name}`, [shared ? 1 : 'N', ...shape]), shape);
        },
      };
      const step = scoped(b, `${node.name}/`, () => naming(node, () => opStep(node, node.inputs.map((i) => values.get(i)!), ctx)));
      value = step.value;
      op = step.back;
      clip = step.clip;
      rule = step;
    }
    // (An absorbed ZeroPadding2D shows the padded value it stands for.)
    const shown = () => (absorbed.has(node.name) ? scoped(b, `${node.name}/`, () => lowerZeroPad(b, node as ZeroPad2DNode, asOnnx(value)).name) : value.name);
    if (input.exposeValues) b.output(`prevalue/${node.name}`, shown());
    let hook: Backward['hook'] = null;
    if (!logitsHere) {
      const hooked = scoped(b, `${node.name}/fq/`, () => naming(node, () => quantizers.output(node.name, value, clip)));
      value = hooked.value;
      hook = hooked.back;
      // The quantizer took the op's clip over, and its mask: the op's gradient starts after the clip.
      if (hooked.fused) op = clip!.pass;
    }
    values.set(node.name, value);
    if (input.exposeValues) b.output(`value/${node.name}`, shown());
    backward.push({ node, hook, op, step: rule });
  }
  quantizers.finish();

  const outputNode = nodeByName(graph, graph.output);
  const logits = values.get(graph.output)!;
  if (logits.shape.length !== 1) throw unsupported(outputNode, `is the output but gives [${logits.shape.join(',')}], not a vector of class scores`);
  const classes = logits.shape[0]!;
  const dLogits = scoped(b, 'loss/', () => softmaxCrossEntropy(b, logits.name, classes));

  // Backward, in reverse graph order: each value's gradient is complete once all its readers are done.
  // A gradient may travel as t·scale per channel (ScaledGrad) from a rule that gives it so (BatchNorm)
  // to one that takes it so (a convolution), when the value has that one reader and no quantizer.
  const entries = new Map(backward.map((e) => [e.node.name, e]));
  const takesScaled = (name: string) => {
    const e = entries.get(name);
    return !!e?.step?.backFromScaled && !e.hook && readers.get(name) === 1 && needsGrad.get(name);
  };
  const multiplied = (part: string | ScaledGrad, shape: readonly number[]) => (typeof part === 'string' ? part : b.op('Mul', [part.t, b.op('Reshape', [part.scale, b.i64(channelBroadcast(shape))])]));
  const incoming = new Map<string, (string | ScaledGrad)[]>([[graph.output, [dLogits]]]);
  for (let i = backward.length - 1; i >= 0; i--) {
    const { node, hook, op, step } = backward[i]!;
    const parts = incoming.get(node.name);
    if (!parts || !op || !needsGrad.get(node.name)) continue;
    const dx = scoped(b, `${node.name}/grad/`, () => {
      const only = parts.length === 1 ? parts[0]! : null;
      if (only && typeof only !== 'string' && !hook && step?.backFromScaled) {
        if (input.exposeValues) b.output(`dvalue/${node.name}`, multiplied(only, node.outputShape));
        return step.backFromScaled(only);
      }
      const terms = parts.map((p) => multiplied(p, node.outputShape));
      const sum = terms.length === 1 ? terms[0]! : b.op('Sum', terms);
      if (input.exposeValues) b.output(`dvalue/${node.name}`, sum);
      const dy = hook ? hook(sum) : sum;
      return step?.backScaled && node.inputs.length === 1 && takesScaled(node.inputs[0]!) ? [step.backScaled(dy)] : op(dy);
    });
    node.inputs.forEach((from, k) => {
      const g = dx[k];
      if (g) incoming.set(from, [...(incoming.get(from) ?? []), g]);
    });
  }

  b.scope = 'optimizer/';
  const opt = input.optimizer;
  const hyper = opt ? optimizerInputs(b, opt) : null;
  for (const wt of weights) {
    if (!wt.trainable) continue;
    const key = `${wt.node}/${wt.weight}`;
    const parts = grads.get(key);
    const weight = weightInput.get(key)!;
    // A weight no gradient reaches (a branch the output does not read): zero gradient, left as it is.
    const g = !parts ? null : parts.length === 1 ? parts[0]! : b.op('Sum', parts);
    if (!opt || !hyper) {
      b.output(`grad/${key}`, g ?? b.op('ConstantOfShape', [b.op('Shape', [weight])]));
      continue;
    }
    const slots = Object.fromEntries(optimizerSlots(opt).map((slot) => [slot, b.input(`${slot}/${key}`, wt.shape)]));
    const next = g ? optimizerUpdate(b, opt, hyper, weight, g, slots) : { w: weight, ...slots };
    for (const [name, value] of Object.entries(next)) b.output(`next/${name}/${key}`, value);
  }
  // Values a fused formulation left unread (a quantized activation's own output) would still run.
  b.pruneUnused();
  return { bytes: encodeModel(b.model(`${graph.name} training step`, { opset: TRAIN_OPSET, irVersion: 8, domain: 'studio.training' })), weights, movingOutputs, activationRanges: quantizers.activationRanges, weightRanges: quantizers.weightRanges, dropouts, classes };
}

/**
 * The ZeroPadding2D nodes a 'valid' convolution after them applies as its
 * own pads, by the convolution: the Pad writes a whole padded copy of the
 * activation and its gradient a Slice of one (MobileNetV2's stride-2
 * depthwise blocks: ~20 ms of a 0.35-width step of 16 at 224), while the
 * convolution's zero padding is free. Only where the convolution is the
 * padding's one reader and no quantizer sits at the padding's output (whose
 * range would be the padded tensor's).
 */
function absorbedZeroPadding(graph: Graph, readers: ReadonlyMap<string, number>, quantized: (at: string) => boolean): Map<string, ZeroPad2DNode> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const out = new Map<string, ZeroPad2DNode>();
  for (const n of graph.nodes) {
    if ((n.op !== 'conv2d' && n.op !== 'depthwiseConv2d') || n.padding !== 'valid') continue;
    const pad = byName.get(n.inputs[0]!);
    if (pad?.op === 'zeroPad2d' && readers.get(pad.name) === 1 && !quantized(pad.name)) out.set(n.name, pad);
  }
  return out;
}

/**
 * `f()`, with a refusal put as UnsupportedForNativeTraining in the terms of
 * `node` (layer and op) when it does not name its layer; the shared
 * lowering's refusals (LoweringError) become this error too.
 */
function naming<T>(node: GraphNode, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof UnsupportedForNativeTraining || e instanceof LoweringError)) throw e;
    if (!e.message.startsWith(`layer ${node.name} `)) throw new UnsupportedForNativeTraining(`layer ${node.name} (${opName(node)}): ${e.message}`);
    throw e instanceof LoweringError ? new UnsupportedForNativeTraining(e.message) : e;
  }
}

/** `f()` with the builder's fresh node names in `scope` (`<layer>/`, `<layer>/grad/`…: a profile then says where time goes). */
function scoped<T>(b: OnnxBuilder, scope: string, f: () => T): T {
  const outer = b.scope;
  b.scope = scope;
  try {
    return f();
  } finally {
    b.scope = outer;
  }
}

/** One input first, every node after the nodes it reads. */
function checkGraph(graph: Graph): void {
  const seen = new Set<string>();
  graph.nodes.forEach((node, i) => {
    if ((node.op === 'input') !== (i === 0)) throw new UnsupportedForNativeTraining(i === 0 ? `the graph does not start with its input` : `the graph has a second input ${node.name}`);
    for (const from of node.inputs) if (!seen.has(from)) throw unsupported(node, `reads ${from}, which does not come before it`);
    seen.add(node.name);
  });
  if (!seen.has(graph.output)) throw new UnsupportedForNativeTraining(`the output ${graph.output} is not a layer of the graph`);
}

/** Per node: whether its output needs a gradient (a trainable weight at it or upstream). */
function gradientNeeds(graph: Graph, weights: readonly StepWeight[]): Map<string, boolean> {
  const trainable = new Set(weights.filter((x) => x.trainable).map((x) => x.node));
  const needs = new Map<string, boolean>();
  for (const node of graph.nodes) needs.set(node.name, trainable.has(node.name) || node.inputs.some((i) => needs.get(i)));
  return needs;
}
