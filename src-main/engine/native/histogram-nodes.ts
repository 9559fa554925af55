/**
 * Histograms inside an onnxruntime graph, so that only bin vectors come back
 * to JS: each value's bin (slot) is computed by elementwise ops, then
 * counted with one ScatterElements(reduction 'add') of ones into int32
 * zeros (opset 16+) — ONNX has no bincount; this is its exact equivalent,
 * and int32 counters cannot saturate within a batch (float32 ones would stop
 * counting at 2^24 in a bin that takes every ReLU zero).
 *
 * {@link scatterCount} is that counting step; {@link observerHistogram} bins
 * a tensor exactly as the studio's HistogramObserver does, for the histogram
 * estimators' second calibration pass (./calibrate-histogram.ts).
 */
import { DT, node, tensor, tensorAttr, type NodeProto, type TensorProto } from '../onnx/proto.js';

/** Nodes and initializers being appended to a graph, their names under `prefix`. */
export interface GraphParts {
  nodes: NodeProto[];
  inits: TensorProto[];
  prefix: string;
}

function op(g: GraphParts, opType: string, out: string, inputs: string[], attrs: Parameters<typeof node>[4] = {}): string {
  const name = `${g.prefix}/${out}`;
  g.nodes.push(node(opType, name, inputs, [name], attrs));
  return name;
}

function doubles(name: string, dims: readonly number[], values: ArrayLike<number>): TensorProto {
  return tensor(name, DT.DOUBLE, dims, Float64Array.from(values));
}

/**
 * `counts[k]` = how many entries of the int32 tensor `index` equal k, for
 * k < `slots`; every index must lie in [0, slots). Output: int32 [slots],
 * named `<prefix>/<out>`.
 */
export function scatterCount(g: GraphParts, index: string, slots: number, out = 'counts'): string {
  const p = g.prefix;
  g.inits.push(
    tensor(`${p}/count_slots`, DT.INT64, [1], BigInt64Array.of(BigInt(slots))),
    tensor(`${p}/count_flat`, DT.INT64, [1], BigInt64Array.of(-1n)),
    tensor(`${p}/count_one`, DT.INT32, [1], Int32Array.of(1)),
  );
  // Zeros made at run time (constant-folded once by the session): a large per-channel histogram would otherwise bloat the model bytes.
  const zero = tensorAttr('value', tensor('zero', DT.INT32, [1], Int32Array.of(0)));
  const zerosName = `${p}/count_zeros`;
  const zeros = node('ConstantOfShape', zerosName, [`${p}/count_slots`], [zerosName]);
  zeros.attribute.push(zero);
  g.nodes.push(zeros);
  const flat = op(g, 'Reshape', 'count_index', [index, `${p}/count_flat`]);
  const ones = op(g, 'Expand', 'count_ones', [`${p}/count_one`, op(g, 'Shape', 'count_shape', [flat])]);
  return op(g, 'ScatterElements', out, [zerosName, flat, ones], { axis: 0, reduction: 'add' });
}

/** The bins of a {@link HistogramObserver}'s pass 1 (its histogramGrid()): per channel lo and width, NaN width = unset. */
export interface ObserverGrid {
  bins: number;
  abs: boolean;
  lo: Float64Array;
  width: Float64Array;
}

/** The outputs of {@link observerHistogram}. */
export interface ObserverHistogramOutputs {
  /** int32 [channels · bins]: channel c's bin k at c · bins + k. */
  counts: string;
  /** float32 scalar Σ value: non-finite iff the tensor holds a NaN or ±Inf (or its finite values overflow float32). */
  sum: string;
}

/**
 * The histogram of float32 `value` on an observer's grid, binned exactly as
 * ChannelHistograms.fill (engine/quant/observers/histogram.ts) bins every
 * finite value:
 *
 *   t = (v − lo[c]) / width[c]      in float64: Cast, Sub, Div (IEEE, correctly
 *                                   rounded like JS's own float64 arithmetic)
 *   bin = t ≥ bins−1 ? bins−1 : t > 0 ? ⌊t⌋ : 0      Clip to [0, bins−1], then a
 *                                   truncating Cast (= ⌊t⌋ on t ≥ 0)
 *
 * abs grids bin |v| (lo = 0, so v − 0 is skipped: it is v exactly); width 0 is
 * binned by division by +Inf (every value to bin 0), as fill() does. Why not
 * float32: (v − lo)·(1/width) or (v − lo)/width in float32 round differently
 * from the float64 quotient whenever it falls within float32 rounding of an
 * integer, moving values sitting on (or within a float32 ulp of) a bin edge
 * into the neighbouring bin; the test measures how many. Unset channels
 * (width NaN) are binned on a dummy grid; their counts are for the caller
 * to drop.
 *
 * NaN/±Inf are not skipped value by value here (an IsNaN + Where per value
 * costs as much as the binning): the `sum` output flags the batch instead,
 * and its counts must then be discarded (a NaN gets an arbitrary bin; the
 * last Clip only keeps the index in bounds). The caller observes such a
 * batch where NaN is skipped exactly (calibrate-histogram.ts: TensorFlow.js).
 *
 * `channelAxis` (per-channel) is the value's channel axis in ONNX layout,
 * `rank` its rank.
 */
export function observerHistogram(g: GraphParts, value: string, rank: number, channelAxis: number | null, grid: ObserverGrid): ObserverHistogramOutputs {
  const channels = grid.lo.length;
  if (channelAxis === null && channels !== 1) throw new Error(`a per-tensor histogram has one channel, not ${channels}`);
  const p = g.prefix;
  const dims = channelAxis === null ? [] : Array.from({ length: rank }, (_, i) => (i === channelAxis ? channels : 1));
  const lo = Float64Array.from(grid.lo, (l, c) => (Number.isNaN(grid.width[c]!) ? 0 : l));
  // fill() divides by Infinity where the width is 0 (and skips unset channels: dummy grid, dropped by the caller).
  const width = Float64Array.from(grid.width, (w) => (w > 0 ? w : Infinity));
  const slots = channels * grid.bins;
  g.inits.push(
    doubles(`${p}/width`, dims, width),
    doubles(`${p}/bin_first`, [], [0]),
    doubles(`${p}/bin_last`, [], [grid.bins - 1]),
    tensor(`${p}/slot_first`, DT.INT32, [], Int32Array.of(0)),
    tensor(`${p}/slot_last`, DT.INT32, [], Int32Array.of(slots - 1)),
  );
  const sum = op(g, 'ReduceSum', 'sum', [value], { keepdims: 0 });
  let v = grid.abs ? op(g, 'Abs', 'magnitude', [value]) : value;
  v = op(g, 'Cast', 'as_double', [v], { to: DT.DOUBLE });
  if (!grid.abs) {
    g.inits.push(doubles(`${p}/lo`, dims, lo));
    v = op(g, 'Sub', 'from_lo', [v, `${p}/lo`]);
  }
  let slot = op(g, 'Clip', 'bin', [op(g, 'Div', 'bin_pos', [v, `${p}/width`]), `${p}/bin_first`, `${p}/bin_last`]);
  if (channelAxis !== null && channels > 1) {
    g.inits.push(doubles(`${p}/channel_base`, dims, Array.from({ length: channels }, (_, c) => c * grid.bins)));
    slot = op(g, 'Add', 'channel_bin', [slot, `${p}/channel_base`]);
  }
  // A NaN's slot is whatever the Cast makes of it: kept in bounds, and the batch is flagged by `sum`.
  const index = op(g, 'Clip', 'slot', [op(g, 'Cast', 'slot_raw', [slot], { to: DT.INT32 }), `${p}/slot_first`, `${p}/slot_last`]);
  return { counts: scatterCount(g, index, slots, 'hist'), sum };
}
