/**
 * QAT's forward pass: fake quantization in the float graph, with BatchNorm
 * folded the way the integer model will compute it.
 *
 * For a Conv/Dense followed by a foldable BatchNorm, the kernel hook returns
 * fq(W·s)/s with s = γ/√(σ²_moving + ε) per output channel, and the BN node
 * runs after it:
 *  - before the freeze step, BN normalises with batch statistics (and updates
 *    its moving ones), so training keeps BN's conditioning while the kernel
 *    already sits on the grid of the folded kernel W·s;
 *  - after the freeze (and at evaluation), BN uses its moving statistics, and
 *    conv(x, fq(W·s)/s)·s + β − μ·s = conv(x, fq(W·s)) + b_fold: exactly
 *    the folded integer model.
 * This is the simulated folding of Jacob et al. (2018) §3.2 and torch.ao's
 * ConvBn modules. Activation quantizers sit where the plan of the folded
 * graph puts them; a quantizer planned on a layer that absorbed a BN moves to
 * the BN's output, which is the same tensor.
 *
 * A BN the fold cannot put into a layer (after a Concatenate, an activation…)
 * is an affine node of its name in the folded graph, with its own range. In
 * QAT it trains as the BatchNormalization it is, as tfmot's QAT keeps such a
 * BN a (wrapped) BatchNormalization layer with its output quantized: γ and β
 * get gradients, batch statistics until the freeze step, then the moving
 * ones, and the affine's quantizer fake-quantizes the BN's output (the same
 * node name). After training, foldBatchNorm makes the affine from the
 * trained γ, β and statistics, which is exactly the frozen forward pass.
 */
import { tf } from '../tfjs.js';
import type { ForwardHooks, GraphRuntime } from '../graph/runtime.js';
import type { BatchNormNode, Graph } from '../graph/types.js';
import type { FakeQuantizer } from '../quant/fake-quantizer.js';
import type { FoldRecord } from '../transform/fold-batchnorm.js';
import type { QuantPlan, WeightQuantizer } from '../transform/plan.js';

export interface QatQuantizers {
  /** By layer name. */
  weights: Map<string, { wq: WeightQuantizer; fq: FakeQuantizer }>;
  /** By activation quantizer name (shared concat inputs point at one quantizer). */
  activations: Map<string, FakeQuantizer>;
}

interface FoldScale {
  gamma: tf.Variable | undefined;
  movingVariance: tf.Variable;
  epsilon: number;
}

/** Where each folded plan's activation quantizer sits in the unfolded graph. */
export function unfoldedHookPoints(plan: QuantPlan, folded: readonly FoldRecord[]): Map<string, string> {
  const bnOf = new Map(folded.map((f) => [f.layer, f.batchNorm]));
  const at = new Map<string, string>();
  for (const a of plan.activations) at.set(bnOf.get(a.at) ?? a.at, a.sharedWith ?? a.name);
  return at;
}

/** The plan with each activation quantizer at its hook point of the unfolded graph (a BatchNorm's output when its layer absorbed it). */
export function unfoldedPlan(plan: QuantPlan, folded: readonly FoldRecord[]): QuantPlan {
  const bnOf = new Map(folded.map((f) => [f.layer, f.batchNorm]));
  return { ...plan, activations: plan.activations.map((a) => ({ ...a, at: bnOf.get(a.at) ?? a.at })) };
}

function foldScales(graph: Graph, runtime: GraphRuntime, folded: readonly FoldRecord[]): Map<string, FoldScale> {
  const vars = new Map<string, tf.Variable>();
  for (const w of runtime.weightVariables()) vars.set(`${w.node}/${w.weight}`, w.variable);
  const out = new Map<string, FoldScale>();
  for (const f of folded) {
    const bn = graph.nodes.find((n) => n.name === f.batchNorm) as BatchNormNode;
    out.set(f.layer, { gamma: vars.get(`${bn.name}/gamma`), movingVariance: vars.get(`${bn.name}/movingVariance`)!, epsilon: bn.epsilon });
  }
  return out;
}

export function qatHooks(graph: Graph, runtime: GraphRuntime, plan: QuantPlan, folded: readonly FoldRecord[], q: QatQuantizers): ForwardHooks {
  const scales = foldScales(graph, runtime, folded);
  const at = unfoldedHookPoints(plan, folded);
  return {
    weight(node, name, w) {
      if (name !== 'kernel') return w;
      const entry = q.weights.get(node.name);
      if (!entry) return w;
      const view = tf.reshape(w, entry.wq.view);
      const fold = scales.get(node.name);
      if (!fold) return tf.reshape(entry.fq.apply(view), w.shape);
      // s per output channel; the channel view's last axis is the output channel (depthwise: in·mult).
      // Only correctly rounded float32 ops (add, sqrt, div), so every backend and the native step
      // graph get the same bits (rsqrt is 1/√ rounded once on cpu, twice on wasm).
      const root = tf.sqrt(tf.add(fold.movingVariance, fold.epsilon));
      const s = fold.gamma ? tf.div(fold.gamma, root) : tf.div(1, root);
      const q8 = entry.fq.apply(tf.mul(view, s));
      return tf.reshape(tf.div(q8, s), w.shape);
    },
    output(node, y) {
      const name = at.get(node.name);
      const fq = name ? q.activations.get(name) : undefined;
      return fq ? fq.apply(y) : y;
    },
  };
}
