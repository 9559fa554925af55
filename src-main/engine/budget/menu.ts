/**
 * The per-layer choices of an accuracy-budget search, as a ladder from the
 * smallest to the largest: weights at each bit width the menu names (with
 * the lowest activation width), then activations at each wider width (with
 * the widest weights), then float. "w4,w8,a16,float" gives
 * W4A8 → W8A8 → W8A16 → float; "w8,float" gives W8A8 → float.
 */
import type { LayerOverride } from '../../api/run-config.js';

export interface Rung {
  /** 'w4a8', 'w8a16', 'float'. */
  label: string;
  weightBits: number | null;
  activationBits: number | null;
  float: boolean;
}

export const DEFAULT_MENU = 'w4,w8,a16,float';

/** The ladder of `menu` (comma-separated wN, aN, float; a8 is implied unless an activation width of 8 or less is named, w8 when no weight width is). */
export function parseMenu(menu: string): Rung[] {
  const items = menu
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new Error('the menu of per-layer choices is empty; e.g. "w4,w8,a16,float"');
  const weights = new Set<number>();
  const activations = new Set<number>();
  let float = false;
  for (const item of items) {
    const m = /^([wa])(\d+)$/.exec(item);
    if (item === 'float') float = true;
    else if (m && Number(m[2]) >= 2 && Number(m[2]) <= 16) (m[1] === 'w' ? weights : activations).add(Number(m[2]));
    else throw new Error(`"${item}" is not a per-layer choice: use wN or aN (N from 2 to 16) or float, e.g. "w4,w8,a16,float"`);
  }
  if (weights.size === 0) weights.add(8);
  // Activations start at 8 bits unless the menu names a width of 8 or less itself.
  if (![...activations].some((b) => b <= 8)) activations.add(8);
  const w = [...weights].sort((a, b) => a - b);
  const a = [...activations].sort((x, y) => x - y);
  const rungs: Rung[] = w.map((bits) => ({ label: `w${bits}a${a[0]}`, weightBits: bits, activationBits: a[0]!, float: false }));
  for (const bits of a.slice(1)) rungs.push({ label: `w${w[w.length - 1]}a${bits}`, weightBits: w[w.length - 1]!, activationBits: bits, float: false });
  if (float) rungs.push({ label: 'float', weightBits: null, activationBits: null, float: true });
  if (rungs.length < 2) throw new Error(`the menu "${menu}" gives one choice per layer (${rungs[0]!.label}): nothing to search; name at least two, e.g. "w4,w8"`);
  return rungs;
}

/** The run overrides that put each layer on its rung. */
export function overridesFor(levels: ReadonlyMap<string, number>, ladder: readonly Rung[]): LayerOverride[] {
  return [...levels].map(([layer, level]) => {
    const r = ladder[level]!;
    return r.float ? { layer, float: true } : { layer, weightBits: r.weightBits!, activationBits: r.activationBits! };
  });
}

/** Bytes of the weights (kernels at their rung's bits, float at 32; biases as int32 / float, 4 bytes each). */
export function modelBytes(levels: ReadonlyMap<string, number>, ladder: readonly Rung[], params: ReadonlyMap<string, { kernel: number; bias: number }>): number {
  let bits = 0;
  for (const [layer, p] of params) {
    const r = ladder[levels.get(layer) ?? 0]!;
    bits += p.kernel * (r.float ? 32 : r.weightBits!) + p.bias * 32;
  }
  return Math.ceil(bits / 8);
}
