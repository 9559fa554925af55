/**
 * Eval samples (a split read batch by batch, never held whole) and the
 * comparison of two models' outputs on them: accuracy of both, top-1
 * agreement and the largest absolute output difference. Top-1 is the first
 * index of the largest output in both, so tied quantized probabilities break
 * the same way. The export's verification and the integer reference's
 * agreement both count with it.
 */
import { gatherSamples, type BatchSource } from '../io/data/split.js';

/**
 * Eval samples: N labels, and the samples read batch by batch from the
 * dataset (BatchSource.read), so a split is never held whole.
 */
export interface EvalSamples {
  labels: Int32Array;
  /** Samples [start, start + count) of the split, back to back: count·sampleSize float32 values, NHWC. */
  batch(start: number, count: number): Float32Array;
  /** Without the batch axis. */
  inputShape: number[];
  /**
   * Called after each batch of a pass over the samples (the simulation, the
   * runtime): `stage` names the pass, done/total count samples. It may throw
   * to stop the pass (an export job's cancel does).
   */
  onBatch?(stage: string, done: number, total: number): void;
}

/** The samples of `part` at `idx` (a split) as EvalSamples, read from the part per batch. */
export function samplesFromPart(part: BatchSource, idx: ArrayLike<number>, inputShape: number[]): EvalSamples {
  const indices = Int32Array.from(idx);
  const labels = Int32Array.from(indices, (i) => part.labels[i]!);
  return { labels, inputShape, batch: (start, count) => gatherSamples(part, indices.subarray(start, Math.min(indices.length, start + count))) };
}

/** EvalSamples over samples already in memory (N·sampleSize values, NHWC). */
export function samplesFromArray(images: Float32Array, labels: Int32Array, inputShape: number[]): EvalSamples {
  const per = inputShape.reduce((a, b) => a * b, 1);
  if (images.length < labels.length * per) throw new Error(`${labels.length} samples of ${per} values need ${labels.length * per} floats, got ${images.length}`);
  return { labels, inputShape, batch: (start, count) => images.subarray(start * per, Math.min(labels.length, start + count) * per) };
}

/** Two models' outputs on the same samples, compared. */
export interface OutputComparison {
  count: number;
  runtimeAccuracy: number;
  simulationAccuracy: number;
  /** Share of samples with the same top-1 class. */
  agreement: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
  /** First few sample indices (in the eval split) whose top-1 differs. */
  disagreements: number[];
  /** Goal: agreement ≥ 0.995 and |accuracy difference| ≤ 0.001. */
  passed: boolean;
}

export const AGREEMENT_GOAL = 0.995;
export const ACCURACY_TOLERANCE = 0.001;

function argmax(v: Float32Array, start: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[start + i]! > v[start + best]!) best = i;
  return best;
}

export function compareOutputs(runtime: Float32Array, simulation: Float32Array, labels: Int32Array, classes: number): OutputComparison {
  const count = labels.length;
  if (runtime.length !== count * classes || simulation.length !== count * classes) {
    throw new Error(`output sizes differ: runtime ${runtime.length}, simulation ${simulation.length}, expected ${count}×${classes}`);
  }
  let rc = 0;
  let sc = 0;
  let agree = 0;
  let maxAbs = 0;
  let sumAbs = 0;
  const disagreements: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = argmax(runtime, i * classes, classes);
    const s = argmax(simulation, i * classes, classes);
    if (r === labels[i]) rc++;
    if (s === labels[i]) sc++;
    if (r === s) agree++;
    else if (disagreements.length < 20) disagreements.push(i);
    for (let c = 0; c < classes; c++) {
      const d = Math.abs(runtime[i * classes + c]! - simulation[i * classes + c]!);
      sumAbs += d;
      if (d > maxAbs) maxAbs = d;
    }
  }
  const runtimeAccuracy = rc / count;
  const simulationAccuracy = sc / count;
  const agreement = agree / count;
  return {
    count,
    runtimeAccuracy,
    simulationAccuracy,
    agreement,
    maxAbsDiff: maxAbs,
    meanAbsDiff: sumAbs / (count * classes),
    disagreements,
    passed: agreement >= AGREEMENT_GOAL && Math.abs(runtimeAccuracy - simulationAccuracy) <= ACCURACY_TOLERANCE + 1e-12,
  };
}

/** Per-batch outputs back to back, in batch order. */
export function joinBatches(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

