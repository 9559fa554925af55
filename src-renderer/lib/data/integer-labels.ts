/**
 * The integer reference's figures (an export's verification.integer, see
 * src-main/engine/integer/agreement.ts) in words: each stored key gets a
 * label saying what was compared with what; keys this build does not know
 * keep their own name, so nothing stored is hidden.
 */
import { formatAccuracy } from './format.js';

export interface LabelledFigure {
  key: string;
  label: string;
  text: string;
}

const pct = (x: number) => formatAccuracy(x);
const diff = (x: number) => (x === 0 ? '0' : x.toExponential(2));

const LABELS: Record<string, { label: string; show: (x: number) => string }> = {
  accuracy: { label: 'Accuracy of the integer reference', show: pct },
  agreementWithRuntime: { label: 'Top-1 agreement with the runtime', show: pct },
  maxAbsDiffRuntime: { label: 'Max |output difference| from the runtime', show: diff },
  meanAbsDiffRuntime: { label: 'Mean |output difference| from the runtime', show: diff },
  agreementWithSimulation: { label: 'Top-1 agreement with the studio simulation', show: pct },
  maxAbsDiffSimulation: { label: 'Max |output difference| from the simulation', show: diff },
  meanAbsDiffSimulation: { label: 'Mean |output difference| from the simulation', show: diff },
  count: { label: 'Eval samples', show: (x) => String(x) },
  seconds: { label: 'Time', show: (x) => `${x.toFixed(1)} s` },
};

/** Labelled figures, in LABELS order then unknown keys; `reference` (the description) is returned apart. */
export function integerFigures(entries: readonly [string, number | string | boolean][]): { figures: LabelledFigure[]; description: string | null } {
  const byKey = new Map(entries);
  const figures: LabelledFigure[] = [];
  for (const [key, { label, show }] of Object.entries(LABELS)) {
    const v = byKey.get(key);
    if (typeof v === 'number' && Number.isFinite(v)) figures.push({ key, label, text: show(v) });
  }
  for (const [key, v] of entries) {
    if (key in LABELS || key === 'reference') continue;
    figures.push({ key, label: key.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(), text: String(v) });
  }
  const description = byKey.get('reference');
  return { figures, description: typeof description === 'string' ? description : null };
}
