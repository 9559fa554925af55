/**
 * When a calibration probe can do without its NaN/±Inf check.
 *
 * Each probe sums its tensor (GlobalAveragePool: a NaN or ±Inf makes the sum
 * non-finite) so that a batch holding one goes to TensorFlow.js, whose
 * observers skip those values exactly. That sum is a full read of the tensor,
 * as dear as the maximum itself. For the output of a convolution or Dense
 * with ReLU / ReLU6 (most of a MobileNet's activations) finiteness follows
 * from what the other probes already measure: with finite inputs, a NaN or
 * ±Inf can only come from the weighted sum overflowing, and
 *
 *   |w·x + b| ≤ Σ|w| · max|x| + max|b|
 *
 * where max|x| is the largest magnitude the input's own probe measured in the
 * batch (through value-preserving layers such as ZeroPadding2D or Reshape).
 * So such a probe carries a {@link MagnitudeBound} instead of a sum, and the
 * batch counts as finite only when every checked sum is finite and every bound
 * stays far below float32's largest value. The sources are probes upstream, so
 * by induction in graph order every tensor is finite when all checks pass;
 * when one fails, the batch goes to TensorFlow.js as before.
 */
import type { Graph, GraphNode, WeightData } from '../graph/types.js';

/** |value| ≤ factor · (largest magnitude of the sources' tensors) + offset, provided the sources are finite. */
export interface MagnitudeBound {
  /** Watched nodes whose probes measure the inputs. */
  sources: string[];
  factor: number;
  offset: number;
}

/** Far below float32's largest value (3.4e38), so that rounding in a sum of bounded terms cannot reach it. */
export const BOUND_LIMIT = 1e30;

/** Layers whose output values are input values (or zeros): the input's bound holds. */
const SAME_VALUES: ReadonlySet<GraphNode['op']> = new Set(['zeroPad2d', 'crop2d', 'upSample2d', 'maxPool2d', 'globalMaxPool2d', 'flatten', 'reshape', 'dropout']);
const BOUNDED_ACTIVATIONS: ReadonlySet<string> = new Set(['linear', 'relu', 'relu6']);

/**
 * The bound of node `at`'s output from probes at `watched` nodes (other than
 * `at` itself), or null when some input cannot be traced to one through the
 * layers above.
 */
export function magnitudeBound(graph: Graph, at: string, watched: ReadonlySet<string>): MagnitudeBound | null {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const boundOf = (name: string, top: boolean): MagnitudeBound | null => {
    if (!top && watched.has(name)) return { sources: [name], factor: 1, offset: 0 };
    const n = byName.get(name);
    if (!n || n.inputs.length !== 1) return null;
    const input = n.inputs[0]!;
    if (SAME_VALUES.has(n.op)) return boundOf(input, false);
    if (n.op === 'activation') return BOUNDED_ACTIVATIONS.has(n.activation) ? boundOf(input, false) : null;
    if (n.op === 'conv2d' || n.op === 'depthwiseConv2d' || n.op === 'dense') {
      if (!BOUNDED_ACTIVATIONS.has(n.activation)) return null;
      const b = boundOf(input, false);
      if (!b) return null;
      const l1 = absSum(n.weights.kernel);
      const bias = n.weights.bias ? maxAbs(n.weights.bias) : 0;
      return { sources: b.sources, factor: b.factor * l1, offset: b.offset * l1 + bias };
    }
    return null;
  };
  return boundOf(at, true);
}

/** True when the bound stays below {@link BOUND_LIMIT} given each source's largest magnitude in this batch. */
export function boundHolds(b: MagnitudeBound, largest: ReadonlyMap<string, number>): boolean {
  let x = 0;
  for (const s of b.sources) {
    const m = largest.get(s);
    if (m === undefined || !Number.isFinite(m)) return false;
    x = Math.max(x, m);
  }
  return b.factor * x + b.offset < BOUND_LIMIT;
}

/** Σ|w| over the whole kernel: at least every output channel's own sum (a conservative, simple bound). */
function absSum(w: WeightData): number {
  let s = 0;
  for (let i = 0; i < w.values.length; i++) s += Math.abs(w.values[i]!);
  return s;
}

function maxAbs(w: WeightData): number {
  let m = 0;
  for (let i = 0; i < w.values.length; i++) m = Math.max(m, Math.abs(w.values[i]!));
  return m;
}
