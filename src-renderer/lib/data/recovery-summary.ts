/**
 * A run summary's `recovery` (engine/transform/recovery.ts RecoveryRecord:
 * CLE, high-bias absorption, bias correction, AdaRound) as short sections of
 * lines for the run detail. Read defensively: the summary is stored JSON, and
 * runs from before a step existed lack its record. Pure, no DOM.
 */

export interface RecoverySection {
  title: string;
  lines: string[];
}

/** Lines shown per list before "… and N more". */
export const MAX_LINES = 8;

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.map(obj).filter((x): x is Record<string, unknown> => x !== null) : []);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string => (typeof v === 'string' ? v : '?');
const fig = (v: unknown): string => {
  const n = num(v);
  if (n === null) return '–';
  return n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential(2) : n.toPrecision(3);
};
const share = (n: unknown, of: unknown): string => {
  const a = num(n);
  const b = num(of);
  return a === null || !b ? '–' : `${((100 * a) / b).toFixed(1)} %`;
};

function capped(lines: string[]): string[] {
  return lines.length <= MAX_LINES ? lines : [...lines.slice(0, MAX_LINES), `… and ${lines.length - MAX_LINES} more`];
}

export function recoverySections(summary: Record<string, unknown> | null | undefined): RecoverySection[] {
  const r = obj(summary?.['recovery']);
  if (!r) return [];
  const out: RecoverySection[] = [];
  const cle = obj(r['cle']);
  if (cle) {
    const equalized = list(cle['equalized']);
    const replaced = Array.isArray(cle['relu6Replaced']) ? (cle['relu6Replaced'] as unknown[]).map(str) : [];
    out.push({
      title: 'Cross-layer equalization',
      lines: [
        `${equalized.length} pair${equalized.length === 1 ? '' : 's'} equalized in ${num(cle['sweeps']) ?? '?'} sweeps${cle['converged'] === false ? ' (not converged)' : ''}${replaced.length ? `; ReLU6 → ReLU at ${replaced.join(', ')}` : ''}`,
        ...capped(equalized.map((p) => `${str(p['first'])} → ${str(p['second'])}: scales ${fig(p['scaleMin'])}..${fig(p['scaleMax'])}`)),
        ...capped(list(cle['skipped']).map((p) => `skipped ${str(p['first'])} → ${str(p['second'])}: ${str(p['reason'])}`)),
      ],
    });
  }
  const hba = obj(r['highBiasAbsorption']);
  if (hba) {
    const absorbed = list(hba['absorbed']);
    out.push({
      title: 'High-bias absorption',
      lines: absorbed.length === 0 ? ['no pair'] : capped(absorbed.map((p) => `${str(p['first'])} → ${str(p['second'])}: ${num(p['channels']) ?? '?'} channels, c ≤ ${fig(p['maxAbsorbed'])}`)),
    });
  }
  const bc = obj(r['biasCorrection']);
  if (bc) {
    const layers = list(bc['layers']);
    out.push({
      title: `Bias correction (${str(bc['kind'])})`,
      lines: [
        ...(layers.length === 0 ? ['no layer'] : capped(layers.map((l) => `${str(l['layer'])}: max |shift| ${fig(l['maxAbs'])}`))),
        ...capped(list(bc['skipped']).map((l) => `not corrected ${str(l['layer'])}: ${str(l['reason'])}`)),
      ],
    });
  }
  const ada = obj(r['adaround']);
  if (ada) {
    const layers = list(ada['layers']);
    const seconds = num(ada['seconds']);
    out.push({
      title: 'AdaRound',
      lines: [
        `${layers.length} layer${layers.length === 1 ? '' : 's'}, ${num(ada['iterations']) ?? '?'} steps of ${num(ada['batchSize']) ?? '?'} samples each (λ ${num(ada['regularization']) ?? '?'}, ${num(ada['samples']) ?? '?'} samples held)${seconds !== null ? `, ${seconds.toFixed(1)} s` : ''}`,
        ...capped(
          layers.map((l) => {
            const s = num(l['seconds']);
            return `${str(l['layer'])}: output MSE ${fig(l['mseNearest'])} nearest → ${fig(l['mseAdaround'])}; ${share(l['roundedUp'], l['weights'])} up, ${share(l['roundedDown'], l['weights'])} down from nearest${s !== null ? `; ${s.toFixed(1)} s` : ''}`;
          }),
        ),
      ],
    });
  }
  return out;
}
