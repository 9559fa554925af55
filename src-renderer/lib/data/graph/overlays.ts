/**
 * Overlays of the graph view: a value per layer from a run's tensor records
 * (or two runs'), a colour for it and a legend. Pure, no DOM.
 *
 * Scales, fixed so colours mean the same from one model to the next:
 *  - SQNR (dB): red at ≤ 10 dB through yellow to green at ≥ 40 dB (an 8-bit
 *    uniform grid over a well-used range gives about 6.02·8 − 1.25 ≈ 47 dB
 *    at best; below 10 dB the noise is a third of the signal);
 *  - SQNR difference A − B (dB): diverging, blue where A is better, red where
 *    it is worse, saturated at ±max(|Δ|, 1 dB) of the shown layers (on a
 *    square-root scale);
 *  - clip rate: white at 0 to red at the largest rate shown (at least 0.1%);
 *  - bits, granularity, lint: categories.
 */
import type { LintFinding, TensorRecord } from '../../../../src-main/api/contract.js';

export type OverlayKind = 'none' | 'weight-sqnr' | 'activation-sqnr' | 'weight-sqnr-diff' | 'activation-sqnr-diff' | 'clip-rate' | 'bits' | 'granularity' | 'lint' | 'export-diff';

export interface OverlayChoice {
  kind: OverlayKind;
  label: string;
  /** How many runs it reads: 0, 1 (run A) or 2 (A and B). */
  runs: 0 | 1 | 2;
  /** Set when the overlay cannot be shown yet, saying why. */
  unavailable?: string;
}

/**
 * The overlay menu, in order. `export-diff` shows the per-layer diff of an
 * exported file against the simulation (the export verification's
 * layer-by-layer comparison): its numbers come from an `OverlaySource`
 * below, which the graph panel builds from run A's export records.
 */
export const OVERLAYS: readonly OverlayChoice[] = [
  { kind: 'none', label: 'No overlay', runs: 0 },
  { kind: 'weight-sqnr', label: 'Weight SQNR', runs: 1 },
  { kind: 'activation-sqnr', label: 'Activation SQNR', runs: 1 },
  { kind: 'weight-sqnr-diff', label: 'Weight SQNR, A − B', runs: 2 },
  { kind: 'activation-sqnr-diff', label: 'Activation SQNR, A − B', runs: 2 },
  { kind: 'clip-rate', label: 'Clip rate', runs: 1 },
  { kind: 'bits', label: 'Bits', runs: 1 },
  { kind: 'granularity', label: 'Weight granularity', runs: 1 },
  { kind: 'lint', label: 'Lint findings', runs: 1 },
  { kind: 'export-diff', label: 'Exported file vs simulation', runs: 1 },
];

/** What an overlay reads of a run. */
export interface OverlayRun {
  id: number;
  name: string;
  tensors: readonly TensorRecord[];
  lint: readonly LintFinding[];
}

export interface LayerMark {
  color: string;
  /** The value as the node's badge and tooltip show it. */
  text: string;
  /** The number behind it, for tests and sorting; null for categories. */
  value: number | null;
}

export interface LegendItem {
  color: string;
  label: string;
}

export interface Overlay {
  kind: OverlayKind;
  title: string;
  marks: Map<string, LayerMark>;
  legend: LegendItem[];
}

/** A source of per-layer numbers for an overlay kind (the export diff plugs in here). */
export type OverlaySource = (runs: { a: OverlayRun | null; b: OverlayRun | null }) => Map<string, number>;

export const NO_VALUE_COLOR = 'hsl(0, 0%, 88%)';

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));
const hsl = (h: number, s: number, l: number) => `hsl(${Math.round(h)}, ${Math.round(s)}%, ${Math.round(l)}%)`;

export const SQNR_LOW_DB = 10;
export const SQNR_HIGH_DB = 40;

/** Red (hue 0) at ≤ 10 dB to green (hue 120) at ≥ 40 dB, linear in dB. */
export function sqnrColor(db: number): string {
  return hsl(120 * clamp01((db - SQNR_LOW_DB) / (SQNR_HIGH_DB - SQNR_LOW_DB)), 70, 62);
}

/** Blue (hue 215) for d > 0, red (hue 0) for d < 0, grey at 0; saturation grows with √(|d| / span), so a few dB show beside a large outlier. */
export function divergingColor(d: number, span: number): string {
  const t = Math.sqrt(clamp01(Math.abs(d) / span));
  return hsl(d >= 0 ? 215 : 0, 75 * t, 95 - 33 * t);
}

/** White at 0 to red at `max`. */
export function clipColor(rate: number, max: number): string {
  const t = clamp01(rate / max);
  return hsl(8, 85 * t, 97 - 37 * t);
}

const CATEGORY_COLORS = ['hsl(210, 65%, 68%)', 'hsl(140, 50%, 62%)', 'hsl(35, 85%, 62%)', 'hsl(280, 45%, 70%)', 'hsl(0, 65%, 68%)', 'hsl(180, 45%, 60%)'];

function tensorOf(run: OverlayRun | null, layer: string, role: 'weight' | 'activation'): TensorRecord | undefined {
  if (!run) return undefined;
  // The model input's quantizer is its activation.
  return run.tensors.find((t) => t.layer === layer && (t.role === role || (role === 'activation' && t.role === 'input')));
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
const db = (x: number) => `${x.toFixed(1)} dB`;

function sqnrMarks(layers: readonly string[], run: OverlayRun | null, role: 'weight' | 'activation'): Map<string, LayerMark> {
  const marks = new Map<string, LayerMark>();
  for (const layer of layers) {
    const s = tensorOf(run, layer, role)?.sqnr;
    if (finite(s)) marks.set(layer, { color: sqnrColor(s), text: db(s), value: s });
  }
  return marks;
}

function sqnrLegend(): LegendItem[] {
  return [10, 20, 30, 40].map((d) => ({ color: sqnrColor(d), label: d === 10 ? '≤ 10 dB' : d === 40 ? '≥ 40 dB' : `${d} dB` }));
}

function diffMarks(layers: readonly string[], a: OverlayRun | null, b: OverlayRun | null, role: 'weight' | 'activation'): { marks: Map<string, LayerMark>; span: number } {
  const diffs = new Map<string, number>();
  for (const layer of layers) {
    const x = tensorOf(a, layer, role)?.sqnr;
    const y = tensorOf(b, layer, role)?.sqnr;
    if (finite(x) && finite(y)) diffs.set(layer, x - y);
  }
  const span = Math.max(1, ...[...diffs.values()].map(Math.abs));
  const marks = new Map<string, LayerMark>();
  for (const [layer, d] of diffs) marks.set(layer, { color: divergingColor(d, span), text: `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} dB`, value: d });
  return { marks, span };
}

function categoryOverlay(kind: OverlayKind, title: string, layers: readonly string[], valueOf: (layer: string) => string | null, order: readonly string[] = []): Overlay {
  const marks = new Map<string, LayerMark>();
  const seen: string[] = [...order];
  const values = new Map<string, string>();
  for (const layer of layers) {
    const v = valueOf(layer);
    if (v === null) continue;
    values.set(layer, v);
    if (!seen.includes(v)) seen.push(v);
  }
  const used = seen.filter((v) => [...values.values()].includes(v));
  const colorOf = new Map(used.map((v, i) => [v, CATEGORY_COLORS[i % CATEGORY_COLORS.length]!]));
  for (const [layer, v] of values) marks.set(layer, { color: colorOf.get(v)!, text: v, value: null });
  return { kind, title, marks, legend: used.map((v) => ({ color: colorOf.get(v)!, label: v })) };
}

const SEVERITY_COLORS: Record<LintFinding['severity'], string> = { error: 'hsl(0, 70%, 62%)', warning: 'hsl(38, 90%, 60%)', info: 'hsl(210, 65%, 70%)' };
const SEVERITY_ORDER: LintFinding['severity'][] = ['error', 'warning', 'info'];

/**
 * The overlay `kind` over `layers` (the graph's layer names) from run A and,
 * for differences, run B. A layer with nothing to show gets no mark (the
 * view draws it in NO_VALUE_COLOR). `sources` supplies kinds whose numbers
 * come from elsewhere (the export diff).
 */
export function computeOverlay(kind: OverlayKind, layers: readonly string[], a: OverlayRun | null, b: OverlayRun | null, sources: Partial<Record<OverlayKind, OverlaySource>> = {}): Overlay {
  switch (kind) {
    case 'weight-sqnr':
    case 'activation-sqnr': {
      const role = kind === 'weight-sqnr' ? 'weight' : 'activation';
      return { kind, title: `${role === 'weight' ? 'Weight' : 'Activation'} SQNR of ${a?.name ?? '—'}`, marks: sqnrMarks(layers, a, role), legend: sqnrLegend() };
    }
    case 'weight-sqnr-diff':
    case 'activation-sqnr-diff': {
      const role = kind === 'weight-sqnr-diff' ? 'weight' : 'activation';
      const { marks, span } = diffMarks(layers, a, b, role);
      const s = span.toFixed(1);
      return {
        kind,
        title: `${role === 'weight' ? 'Weight' : 'Activation'} SQNR of ${a?.name ?? '—'} minus ${b?.name ?? '—'}`,
        marks,
        legend: [
          { color: divergingColor(-span, span), label: `−${s} dB (A worse)` },
          { color: divergingColor(0, span), label: '0' },
          { color: divergingColor(span, span), label: `+${s} dB (A better)` },
        ],
      };
    }
    case 'clip-rate': {
      const rates = new Map<string, number>();
      for (const layer of layers) {
        const r = tensorOf(a, layer, 'activation')?.clipRate;
        if (finite(r)) rates.set(layer, r);
      }
      const max = Math.max(0.001, ...rates.values());
      const marks = new Map<string, LayerMark>();
      for (const [layer, r] of rates) marks.set(layer, { color: clipColor(r, max), text: `${(100 * r).toFixed(3)}%`, value: r });
      return {
        kind,
        title: `Activation clip rate of ${a?.name ?? '—'}`,
        marks,
        legend: [
          { color: clipColor(0, max), label: '0%' },
          { color: clipColor(max / 2, max), label: `${(50 * max).toFixed(3)}%` },
          { color: clipColor(max, max), label: `${(100 * max).toFixed(3)}%` },
        ],
      };
    }
    case 'bits':
      return categoryOverlay(kind, `Bits of ${a?.name ?? '—'} (after overrides)`, layers, (layer) => {
        const w = tensorOf(a, layer, 'weight');
        const x = tensorOf(a, layer, 'activation');
        if (!w && !x) return null;
        return [w ? `w${w.bits}` : null, x ? `a${x.bits}` : null].filter(Boolean).join(' ');
      });
    case 'granularity':
      return categoryOverlay(kind, `Weight granularity of ${a?.name ?? '—'} (after overrides)`, layers, (layer) => tensorOf(a, layer, 'weight')?.granularity ?? null, ['per-channel', 'per-tensor']);
    case 'lint': {
      const worst = new Map<string, LintFinding>();
      for (const f of a?.lint ?? []) {
        if (f.layer === null) continue;
        const prev = worst.get(f.layer);
        if (!prev || SEVERITY_ORDER.indexOf(f.severity) < SEVERITY_ORDER.indexOf(prev.severity)) worst.set(f.layer, f);
      }
      const marks = new Map<string, LayerMark>();
      for (const layer of layers) {
        const f = worst.get(layer);
        if (f) marks.set(layer, { color: SEVERITY_COLORS[f.severity], text: `${f.severity}: ${f.code}`, value: null });
      }
      return { kind, title: `Lint findings of ${a?.name ?? '—'}`, marks, legend: SEVERITY_ORDER.map((s) => ({ color: SEVERITY_COLORS[s], label: s })) };
    }
    case 'export-diff': {
      const source = sources[kind];
      const marks = new Map<string, LayerMark>();
      // +∞: the file's tensor equals the simulation's.
      if (source) for (const [layer, d] of source({ a, b })) if (layers.includes(layer)) marks.set(layer, { color: sqnrColor(d), text: Number.isFinite(d) ? db(d) : 'exact', value: d });
      return { kind, title: `Exported file of ${a?.name ?? '—'} against the simulation (SQNR)${source && marks.size === 0 ? ': no verified ONNX or TFLite export of this run' : ''}`, marks, legend: source ? sqnrLegend() : [] };
    }
    case 'none':
      return { kind, title: '', marks: new Map(), legend: [] };
  }
}
