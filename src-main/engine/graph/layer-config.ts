/** Reading values out of a tfjs layer config (layer.getConfig(): camelCase keys). */

export type Config = Record<string, unknown>;

/** 3 or [3, 3] → [3, 3]; [3] → [3, 3]. */
export function pair(value: unknown): [number, number] {
  if (typeof value === 'number') return [value, value];
  const arr = value as number[];
  return [arr[0]!, arr[1] ?? arr[0]!];
}

/** ZeroPadding2D / Cropping2D amounts: 1, [1, 2] or [[1, 1], [2, 2]] → [[top, bottom], [left, right]]. */
export function pairOfPairs(value: unknown): [[number, number], [number, number]] {
  if (typeof value === 'number') return [[value, value], [value, value]];
  const [h, w] = value as (number | number[])[];
  const side = (v: number | number[] | undefined): [number, number] => (typeof v === 'number' ? [v, v] : [num(v?.[0]), num(v?.[1])]);
  return [side(h), side(w)];
}

export function num(value: unknown): number {
  if (typeof value !== 'number') throw new Error(`expected a number in the layer config, got ${JSON.stringify(value)}`);
  return value;
}

/** A number or a list of numbers (Rescaling's per-channel scale) as a list. */
export function numbers(value: unknown): number[] {
  const list = Array.isArray(value) ? value.flat(Infinity) : [value];
  return list.map(num);
}
