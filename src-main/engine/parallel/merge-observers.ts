/**
 * Merging the states of observers that watched disjoint shards of the same
 * calibration batches, so a data-parallel calibration ends exactly where the
 * serial one does.
 *
 * Mergeable (the merged state equals the serial state exactly, bit for bit,
 * when the shards are the serial run's batches split between workers):
 * - `minmax` (AllValues): min of minima, max of maxima per channel; batches
 *   summed; sawNonFinite or-ed. Min and max are exact in any order.
 * - `percentile`, `mse`, `entropy` (two passes): after pass 0 the data minima
 *   and maxima merge as above; that merged state is restored into every worker
 *   before pass 1, so every worker fixes the same bins; after pass 1 the bin
 *   counts are summed (integer counts in float64: exact below 2^53).
 *
 * Not mergeable: `lastvalue` and `movingaverage` depend on batch order (the
 * last batch; the EMA's sequence), so calibration keeps them serial (see
 * {@link isMergeable}); their parallel meaning is not defined here.
 */
import type { EstimatorKind } from '../../api/run-config.js';
import { decodeFloats, encodeFloats } from '../quant/observers/common.js';
import type { HistogramState, MinMaxState, ObserverConfig } from '../quant/observers/index.js';

export function isMergeable(kind: EstimatorKind): boolean {
  return kind !== 'lastvalue' && kind !== 'movingaverage';
}

/** Channel bookkeeping shared by both state kinds: the first shard that saw data fixes it, the others must agree. */
function mergeChannels(name: string, states: readonly (MinMaxState | HistogramState)[]): { axis?: number; channels: number } {
  const seen = states.filter((s) => s.channels > 0);
  if (seen.length === 0) return { channels: 0 };
  const first = seen[0]!;
  for (const s of seen) {
    if (s.channels !== first.channels || s.axis !== first.axis) {
      throw new Error(`observer ${name}: shards disagree on channels (${first.channels} on axis ${first.axis} vs ${s.channels} on axis ${s.axis})`);
    }
  }
  return { ...(first.axis !== undefined ? { axis: first.axis } : {}), channels: first.channels };
}

/** Element-wise min and max over the shards' vectors (empty vectors: shard saw nothing). */
function mergeExtremes(states: readonly (MinMaxState | HistogramState)[], f32: boolean): { min: MinMaxState['min']; max: MinMaxState['max'] } {
  const withData = states.filter((s) => s.min.length > 0);
  if (withData.length === 0) return { min: [], max: [] };
  const n = withData[0]!.min.length;
  const min = new Float64Array(n).fill(Infinity);
  const max = new Float64Array(n).fill(-Infinity);
  for (const s of withData) {
    const lo = decodeFloats(s.min);
    const hi = decodeFloats(s.max);
    for (let c = 0; c < n; c++) {
      if (lo[c]! < min[c]!) min[c] = lo[c]!;
      if (hi[c]! > max[c]!) max[c] = hi[c]!;
    }
  }
  return { min: encodeFloats(f32 ? Float32Array.from(min) : min), max: encodeFloats(f32 ? Float32Array.from(max) : max) };
}

function mergeMinMax(name: string, states: readonly MinMaxState[]): MinMaxState {
  return {
    type: 'minmax',
    batches: states.reduce((a, s) => a + s.batches, 0),
    sawNonFinite: states.some((s) => s.sawNonFinite),
    ...mergeChannels(name, states),
    ...mergeExtremes(states, true),
  };
}

function mergeHistogram(name: string, states: readonly HistogramState[], pass: 0 | 1): HistogramState {
  const active = states.filter((s) => s.mode !== 'none');
  const mode = active[0]?.mode ?? 'none';
  if (active.some((s) => s.mode !== mode)) throw new Error(`observer ${name}: shards were observed in different modes`);
  if (mode === 'streaming') throw new Error(`observer ${name}: streaming histograms do not merge exactly (their bins depend on batch order); calibrate with two passes`);
  const merged: HistogramState = {
    type: 'histogram',
    mode,
    batches: pass === 0 ? states.reduce((a, s) => a + s.batches, 0) : sharedPass0Batches(name, states),
    pass1Batches: states.reduce((a, s) => a + s.pass1Batches, 0),
    sawNonFinite: states.some((s) => s.sawNonFinite),
    ...mergeChannels(name, states),
    ...mergeExtremes(states, false),
    bins: states[0]!.bins,
  };
  const filled = states.filter((s) => s.counts && s.lo && s.width);
  if (filled.length === 0) return merged;
  const ref = filled[0]!;
  const counts = ref.counts!.map((row) => Float64Array.from(row));
  for (const s of filled.slice(1)) {
    if (s.bins !== ref.bins) throw new Error(`observer ${name}: shards used ${ref.bins} and ${s.bins} bins`);
    for (let c = 0; c < counts.length; c++) {
      if (s.lo![c] !== ref.lo![c] || s.width![c] !== ref.width![c]) {
        throw new Error(`observer ${name}: channel ${c} was binned over different spans by different shards (pass 1 must start from the merged pass-0 state)`);
      }
      const row = counts[c]!;
      const add = s.counts![c]!;
      for (let k = 0; k < row.length; k++) row[k]! += add[k]!;
    }
  }
  return { ...merged, lo: [...ref.lo!], width: [...ref.width!], counts: counts.map((r) => Array.from(r)) };
}

/** After pass 1 every shard holds the same restored pass-0 state: its batch count is taken once, not summed. */
function sharedPass0Batches(name: string, states: readonly HistogramState[]): number {
  const b = states[0]!.batches;
  if (states.some((s) => s.batches !== b)) throw new Error(`observer ${name}: shards entered pass 1 from different pass-0 states`);
  return b;
}

/**
 * One observer's state from the states of its shards (same estimator, spec,
 * axis and name). `pass`: which pass the shards just finished; after pass 1
 * (histogram observers) the shards started from one merged pass-0 state, so
 * only what pass 1 added (histogram counts, pass-1 batches) is summed.
 */
export function mergeObserverConfigs(configs: readonly ObserverConfig[], pass: 0 | 1 = 0): ObserverConfig {
  if (configs.length === 0) throw new Error('nothing to merge');
  const first = configs[0]!;
  const name = first.name ?? first.estimator.kind;
  if (!isMergeable(first.estimator.kind)) throw new Error(`observer ${name}: ${first.estimator.kind} depends on batch order and cannot be merged across shards`);
  for (const c of configs) {
    if (JSON.stringify([c.estimator, c.spec, c.axis, c.name]) !== JSON.stringify([first.estimator, first.spec, first.axis, first.name])) {
      throw new Error(`observer ${name}: shards hold differently configured observers`);
    }
  }
  const states = configs.map((c) => c.state);
  const state =
    first.state.type === 'minmax'
      ? mergeMinMax(name, states as MinMaxState[])
      : mergeHistogram(name, states as HistogramState[], pass);
  return { ...first, state };
}
