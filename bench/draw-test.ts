/**
 * Is a gap between two sides' medians more than the draw? An exact permutation
 * test of the difference of medians (Fisher's, as in any statistics text):
 * pool both sides' draws (one per seed, or per seed and data order), relabel
 * them every way that keeps each side's count, and count how often the
 * relabelled gap is at least as far out as the observed one. A row whose gap
 * is met or missed with p well above 0.05 cannot tell the two sides apart at
 * that number of draws. With three draws a side no p falls below 0.10
 * (one-sided): of the 20 relabellings, the one that puts all three lowest
 * draws on one side and the one that swaps its third and fourth share the
 * same two medians.
 */
import { mulberry32 } from '../src-main/io/data/split.js';
import { median } from './median.js';

/** Past this many relabellings the test samples them (seeded) instead of enumerating. */
const EXACT_LIMIT = 200_000;
const SAMPLES = 200_000;

/**
 * 'lower': how often the relabelled gap (a − b) is at or below the observed one (a one-sided miss: the studio below torch);
 * 'either': how often it is at least as far from zero (a two-sided gap: the float rows' ± targets).
 */
export type Side = 'lower' | 'either';

export function permutationP(a: readonly number[], b: readonly number[], side: Side): number {
  if (a.length === 0 || b.length === 0) return NaN;
  const pooled = [...a, ...b];
  const observed = median([...a]) - median([...b]);
  // A relabelling counts when its gap is as extreme as the observed one; 1e-12 keeps ties (equal counts of test images) as ties.
  const extreme = (gap: number) => (side === 'lower' ? gap <= observed + 1e-12 : Math.abs(gap) >= Math.abs(observed) - 1e-12);
  const gapOf = (inA: boolean[]) => {
    const x: number[] = [];
    const y: number[] = [];
    pooled.forEach((v, i) => (inA[i] ? x : y).push(v));
    return median(x) - median(y);
  };
  if (choose(pooled.length, a.length) <= EXACT_LIMIT) {
    let hits = 0;
    let total = 0;
    for (const inA of subsets(pooled.length, a.length)) {
      total++;
      if (extreme(gapOf(inA))) hits++;
    }
    return hits / total;
  }
  const random = mulberry32(0x5eed);
  let hits = 0;
  for (let s = 0; s < SAMPLES; s++) {
    // A uniform relabelling: a's count of positions drawn without replacement (partial Fisher–Yates).
    const order = pooled.map((_, i) => i);
    const inA = new Array<boolean>(pooled.length).fill(false);
    for (let i = 0; i < a.length; i++) {
      const j = i + Math.floor(random() * (order.length - i));
      [order[i], order[j]] = [order[j]!, order[i]!];
      inA[order[i]!] = true;
    }
    if (extreme(gapOf(inA))) hits++;
  }
  // The observed labelling is one of the relabellings: counting it keeps a sampled p above zero.
  return (hits + 1) / (SAMPLES + 1);
}

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return Math.round(c);
}

/** Every way to pick k of n positions, as a membership mask. */
function* subsets(n: number, k: number): Generator<boolean[]> {
  const picked: number[] = [];
  function* from(start: number): Generator<boolean[]> {
    if (picked.length === k) {
      const mask = new Array<boolean>(n).fill(false);
      for (const i of picked) mask[i] = true;
      yield mask;
      return;
    }
    for (let i = start; i <= n - (k - picked.length); i++) {
      picked.push(i);
      yield* from(i + 1);
      picked.pop();
    }
  }
  yield* from(0);
}
