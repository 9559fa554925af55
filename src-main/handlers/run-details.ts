/**
 * Read-only calls behind the Compare view: several runs' details in one
 * round trip, and per-tensor detail (channel vectors, histograms, curves)
 * for a chosen layer. Typed arrays go out as plain number arrays rounded to
 * float32 precision (7 significant digits), which keeps the JSON lean.
 */
import type { Studio } from '../studio-types.js';
import type { Handlers } from '../api/dispatch.js';
import type { CompareRun, RunChannels, RunHistogram } from '../api/contract.js';

type DetailMethods = 'runs.compare' | 'runs.channels' | 'runs.histograms' | 'runs.curves';

/** A float32 vector as a JSON-friendly array without float64 noise (0.1f -> 0.1, not 0.10000000149011612). */
export function plainNumbers(v: ArrayLike<number>): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    out[i] = Number.isFinite(x) ? Number(x.toPrecision(7)) : 0;
  }
  return out;
}

function unique(ids: readonly number[]): number[] {
  return [...new Set(ids)];
}

export function runDetailHandlers(studio: Studio): Pick<Handlers, DetailMethods> {
  const { store } = studio;

  const channelsOf = (ids: number[], layer: string, role: string): RunChannels[] =>
    ids.map((runId) => {
      const c = store.tensors.channels(runId, layer, role);
      return {
        runId,
        channels: c
          ? { min: plainNumbers(c.min), max: plainNumbers(c.max), scale: plainNumbers(c.scale), zeroPoint: Array.from(c.zeroPoint), sqnr: c.sqnr ? plainNumbers(c.sqnr) : null }
          : null,
      };
    });

  const histogramsOf = (ids: number[], layer: string, role: string): RunHistogram[] =>
    ids.map((runId) => {
      const h = store.tensors.histogram(runId, layer, role);
      return { runId, histogram: h ? { lo: h.lo, hi: h.hi, rangeMin: h.rangeMin, rangeMax: h.rangeMax, counts: plainNumbers(h.counts) } : null };
    });

  return {
    'runs.compare': ({ ids, layer, role }) => {
      const runs: CompareRun[] = [];
      const missing: number[] = [];
      for (const id of unique(ids)) {
        const detail = store.runs.detail(id);
        if (!detail) {
          missing.push(id);
          continue;
        }
        const curvePoints = detail.kind === 'ptq' ? 0 : store.curves.list(id).length;
        runs.push({ ...detail, curvePoints });
      }
      // The focused layer comes along, so the view paints from one round trip.
      const focusRole = role ?? 'weight';
      const focusLayer = layer ?? runs.flatMap((r) => r.tensors).find((t) => t.role === 'weight')?.layer ?? null;
      const runIds = runs.map((r) => r.id);
      const focus =
        focusLayer === null || runIds.length === 0
          ? null
          : { layer: focusLayer, role: focusRole, channels: channelsOf(runIds, focusLayer, 'weight'), histograms: histogramsOf(runIds, focusLayer, focusRole) };
      return { runs, missing, focus };
    },
    'runs.channels': ({ ids, layer, role }) => channelsOf(unique(ids), layer, role),
    'runs.histograms': ({ ids, layer, role }) => histogramsOf(unique(ids), layer, role),
    'runs.curves': ({ ids }) => unique(ids).map((runId) => ({ runId, points: store.curves.list(runId) })),
  };
}
