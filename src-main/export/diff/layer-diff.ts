/**
 * The layer-by-layer diff of an exported file: each quantized activation of
 * the file, as integers, against the studio's simulation of the same tensor
 * on the same samples, in quantization steps of the studio's qparams.
 *
 *   file steps        f = q_file − zp        (the integer the file's runtime stored, minus the studio's zero point)
 *   simulation steps  s = round(v_sim / scale)  (the simulation's fake-quant value is s·scale)
 *   max |diff|        max |f − s|
 *   SQNR              10·log10(Σ s² / Σ (f − s)²)  (dB; null when equal everywhere)
 *   off by one        share of values with |f − s| = 1; beyond one: |f − s| > 1
 *
 * A file made as the studio simulates it differs by at most one step (a sum
 * that lands on a rounding boundary in another order); a wrong scale or zero
 * point in the file moves its integers by many steps from that layer on, so
 * the first layer beyond one step (firstDivergence) is where they part.
 */
import { CancelledError } from '../../engine/job-context.js';

/** One quantized tensor of the file against the simulation. */
export interface LayerDiff {
  /** The Keras layer path the tensor belongs to (the quantizer sits after it). */
  layer: string;
  /** The activation quantizer's name. */
  tensor: string;
  /** Values compared: samples × the tensor's size. */
  values: number;
  maxSteps: number;
  /** dB; null when the file equals the simulation (no noise). */
  sqnr: number | null;
  /** Share of values exactly one step off. */
  offByOne: number;
  /** Share of values more than one step off. */
  beyondOne: number;
}

export interface LayerDiffReport {
  format: 'onnx' | 'tflite';
  /** The first `samples` eval samples, in batches of `batchSize`. */
  samples: number;
  batchSize: number;
  /** Steps a healthy file may differ by. */
  tolerance: number;
  /** Tensors in the model's order. */
  layers: LayerDiff[];
  /** The first layer whose tensor is more than `tolerance` steps off, or null. */
  firstDivergence: string | null;
  seconds: number;
  /** Quantizers of the simulation with no tensor of that name in the file (none in a file as the studio writes it). */
  notInFile?: string[];
  /** Why no diff could be made (the export itself is kept and verified end to end). */
  unavailable?: string;
}

/**
 * Runs a diff, and when it fails for any reason but a cancel, records why
 * instead: the diff explains a verification, it does not decide whether
 * the file is kept.
 */
export async function layerDiffOrReason(format: LayerDiffReport['format'], diff: () => Promise<LayerDiffReport>): Promise<LayerDiffReport> {
  try {
    return await diff();
  } catch (e) {
    if (e instanceof CancelledError) throw e;
    return { format, samples: 0, batchSize: 0, tolerance: LAYER_DIFF_TOLERANCE, layers: [], firstDivergence: null, seconds: 0, unavailable: (e as Error).message };
  }
}

/** Default samples of a diff: enough values for every layer, a fraction of a verification's time. */
export const LAYER_DIFF_SAMPLES = 64;
/** One step: a rounding boundary met in another summation order. */
export const LAYER_DIFF_TOLERANCE = 1;

/** Per-tensor qparams of the comparison: scales and the studio's zero points in the file's integer domain, per channel or one. */
export interface StepGrid {
  scale: ArrayLike<number>;
  zeroPoint: ArrayLike<number>;
  /** Where the channel of a value comes from, when scale has more than one entry: the channel axis is 1 of NCHW or the last one. */
  channelsFirst: boolean;
}

/** Running sums of one tensor over the batches. */
export class StepTally {
  private n = 0;
  private max = 0;
  private one = 0;
  private more = 0;
  private signal = 0;
  private noise = 0;

  constructor(
    readonly layer: string,
    readonly tensor: string,
    private readonly grid: StepGrid,
  ) {}

  /** Adds one batch: the file's integers and the simulation's float values of the same tensor, same layout. */
  add(fileInts: ArrayLike<number>, simValues: ArrayLike<number>, batch: number): void {
    if (fileInts.length !== simValues.length) {
      throw new Error(`tensor ${this.tensor} (layer ${this.layer}): the file gives ${fileInts.length} values, the simulation ${simValues.length}`);
    }
    const { scale, zeroPoint, channelsFirst } = this.grid;
    const channels = scale.length;
    const perSample = fileInts.length / batch;
    const spatial = perSample / channels;
    for (let i = 0; i < fileInts.length; i++) {
      const c = channels === 1 ? 0 : channelsFirst ? Math.floor((i % perSample) / spatial) : i % channels;
      const s = Math.round(simValues[i]! / scale[c]!);
      const d = Math.abs(fileInts[i]! - zeroPoint[c]! - s);
      if (d > this.max) this.max = d;
      if (d === 1) this.one++;
      else if (d > 1) this.more++;
      this.signal += s * s;
      this.noise += d * d;
    }
    this.n += fileInts.length;
  }

  result(): LayerDiff {
    const share = (k: number) => (this.n ? k / this.n : 0);
    const sqnr = this.noise === 0 ? null : 10 * Math.log10(this.signal / this.noise);
    return { layer: this.layer, tensor: this.tensor, values: this.n, maxSteps: this.max, sqnr, offByOne: share(this.one), beyondOne: share(this.more) };
  }
}

/** The first layer more than `tolerance` steps off, in the order given. */
export function firstDivergence(layers: readonly LayerDiff[], tolerance = LAYER_DIFF_TOLERANCE): string | null {
  return layers.find((l) => l.maxSteps > tolerance)?.layer ?? null;
}
