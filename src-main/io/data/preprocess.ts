/**
 * Preprocessing: how raw sample values become model inputs. For a raw value v
 * in channel c (channels last):
 *
 *     x = (v·scale + offset − mean[c]) / std[c]
 *
 * scale defaults to 1/255 for integer data and 1 for float data; offset to 0;
 * mean to 0 and std to 1 (one value for all channels, or one per channel).
 * `channelOrder: 'bgr'` swaps the first and third channel of 3-channel data
 * first (readers give RGB); mean and std are indexed in the order the model
 * sees, i.e. after the swap. With only scale/offset this is the IDX
 * semantics the studio always had.
 */
import { DatasetError } from './errors.js';

export type ChannelOrder = 'rgb' | 'bgr';

export interface Preprocessing {
  /** Multiplies each raw value. */
  scale: number;
  /** Added after scaling. */
  offset: number;
  /** Subtracted after scale and offset; one value or one per channel. */
  mean?: number[];
  /** Divides after the mean is subtracted; one value or one per channel, each > 0. */
  std?: number[];
  /** 'bgr' reverses RGB data to BGR (3-channel data only). */
  channelOrder?: ChannelOrder;
  /** Number of classes; labels must be below it. */
  numClasses?: number;
  /** Image folders: target [height, width] every image is resized to. */
  size?: [number, number];
  /** Image folders: 1 (grayscale) or 3 (RGB). */
  channels?: 1 | 3;
  [key: string]: unknown;
}

function perChannel(p: Record<string, unknown>, key: 'mean' | 'std', channels: number | undefined, where: string): number[] | undefined {
  const raw = p[key];
  if (raw === undefined) return undefined;
  const list = typeof raw === 'number' ? [raw] : raw;
  const bad = () => new DatasetError(where, `preprocessing.${key} must be a finite number or a list of one per channel, got ${JSON.stringify(raw)}`);
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'number' && Number.isFinite(v))) throw bad();
  if (channels !== undefined && list.length !== 1 && list.length !== channels) {
    throw new DatasetError(where, `preprocessing.${key} has ${list.length} values but the samples have ${channels} channel${channels === 1 ? '' : 's'}; give one value or one per channel`);
  }
  if (key === 'std' && list.some((v) => v <= 0)) throw new DatasetError(where, `preprocessing.std values must be above 0, got ${JSON.stringify(raw)}`);
  return list as number[];
}

/**
 * Fills in defaults and checks the preprocessing; `where` names the dataset in
 * errors; `channels` (the last axis of a sample) checks mean/std lengths and
 * channelOrder when known. Unknown keys are kept as given.
 */
export function resolvePreprocessing(given: Record<string, unknown> | undefined, integerData: boolean, where: string, channels?: number): Preprocessing {
  const p = { ...(given ?? {}) };
  const num = (key: string, fallback: number): number => {
    const v = p[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new DatasetError(where, `preprocessing.${key} must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: Preprocessing = { ...p, scale: num('scale', integerData ? 1 / 255 : 1), offset: num('offset', 0) };
  const mean = perChannel(p, 'mean', channels, where);
  const std = perChannel(p, 'std', channels, where);
  if (mean) out.mean = mean;
  if (std) out.std = std;
  if (p['channelOrder'] !== undefined) {
    const order = p['channelOrder'];
    if (order !== 'rgb' && order !== 'bgr') throw new DatasetError(where, `preprocessing.channelOrder must be "rgb" or "bgr", got ${JSON.stringify(order)}`);
    if (order === 'bgr' && channels !== undefined && channels !== 3) {
      throw new DatasetError(where, `preprocessing.channelOrder "bgr" needs 3-channel samples; these have ${channels} channel${channels === 1 ? '' : 's'}`);
    }
    out.channelOrder = order;
  }
  if (p['numClasses'] !== undefined) {
    const n = p['numClasses'];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 2 || n > 256) {
      throw new DatasetError(where, `preprocessing.numClasses must be an integer from 2 to 256, got ${JSON.stringify(n)}`);
    }
    out.numClasses = n;
  }
  return out;
}

/** Applies the preprocessing in place to channels-last samples holding raw values. */
export function preprocessInPlace(data: Float32Array, channels: number, pre: Preprocessing): void {
  const { scale, offset } = pre;
  const swap = pre.channelOrder === 'bgr' && channels === 3;
  const mean = Array.from({ length: channels }, (_, c) => pre.mean?.[pre.mean.length === 1 ? 0 : c] ?? 0);
  const inv = Array.from({ length: channels }, (_, c) => 1 / (pre.std?.[pre.std.length === 1 ? 0 : c] ?? 1));
  if (swap) {
    for (let i = 0; i + 2 < data.length; i += 3) {
      const r = data[i]!;
      data[i] = data[i + 2]!;
      data[i + 2] = r;
    }
  }
  const plain = mean.every((m) => m === 0) && inv.every((s) => s === 1);
  if (plain) {
    for (let i = 0; i < data.length; i++) data[i] = data[i]! * scale + offset;
    return;
  }
  if (channels === 3) {
    // RGB, a pixel at a time: one pass over the batch (the same arithmetic per value as below).
    const [m0, m1, m2] = mean as [number, number, number];
    const [s0, s1, s2] = inv as [number, number, number];
    for (let i = 0; i + 2 < data.length; i += 3) {
      data[i] = (data[i]! * scale + offset - m0) * s0;
      data[i + 1] = (data[i + 1]! * scale + offset - m1) * s1;
      data[i + 2] = (data[i + 2]! * scale + offset - m2) * s2;
    }
    return;
  }
  // A channel at a time (a stride of `channels`): no i % channels per value, half the time at 224x224x3.
  for (let c = 0; c < channels; c++) {
    const m = mean[c]!;
    const s = inv[c]!;
    for (let i = c; i < data.length; i += channels) data[i] = (data[i]! * scale + offset - m) * s;
  }
}

/** Largest number of float32 values one loaded dataset may hold (8 GiB); above it loading is refused up front. */
export const MAX_LOADED_VALUES = 2 ** 31;

/** Allocates the float32 array for `values` values, or says clearly why it cannot. */
export function allocateSamples(values: number, where: string): Float32Array {
  const gib = ((values * 4) / 2 ** 30).toFixed(2);
  if (values > MAX_LOADED_VALUES) {
    throw new DatasetError(where, `loading needs ${values} float32 values (${gib} GiB), above the studio's limit of ${MAX_LOADED_VALUES} values (8 GiB); use a smaller subset of the data`);
  }
  try {
    return new Float32Array(values);
  } catch (e) {
    throw new DatasetError(where, `loading needs ${gib} GiB of memory for ${values} float32 values, which could not be allocated (${(e as Error).message})`, { cause: e });
  }
}
