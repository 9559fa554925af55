/**
 * Where a model in the library came from, in words: "built-in", "imported",
 * or, for one a training run produced (format "trained"; the host writes
 * "trained by run N (name)" as its description), "from QAT run #N".
 */
import type { ModelSummary, RunSummary } from '../../../src-main/api/contract.js';

const KIND_WORDS: Record<RunSummary['kind'], string> = { qat: 'QAT run', float: 'float training run', ptq: 'run', sensitivity: 'sensitivity run' };

export function modelOrigin(model: Pick<ModelSummary, 'source' | 'format' | 'description'>, runs: readonly Pick<RunSummary, 'id' | 'kind'>[]): { label: string; runId: number | null } {
  if (model.format === 'trained') {
    const id = Number(/trained by run (\d+)/.exec(model.description)?.[1] ?? NaN);
    if (Number.isInteger(id)) {
      const kind = runs.find((r) => r.id === id)?.kind;
      return { label: `from ${kind ? KIND_WORDS[kind] : 'run'} #${id}`, runId: id };
    }
    return { label: 'trained', runId: null };
  }
  return { label: model.source === 'builtin' ? 'built-in' : 'imported', runId: null };
}
