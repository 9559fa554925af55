/**
 * `studio runs [list] | show ID | compare A B | delete ID | rename ID NAME`:
 * the stored runs through the same API calls the renderer makes.
 */
import type { Command } from 'commander';
import type { RunDetail, RunSummary } from '../api/contract.js';
import { callApi, print, withStudio } from './common.js';
import { compareRows, formatComparison } from './compare.js';
import { CliError, UsageError } from './errors.js';
import { formatTable } from './format.js';
import { formatPtqSummary } from './run-commands.js';
import { formatSensitivity } from './sensitivity.js';

const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);

function runId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id <= 0) throw new UsageError(`a run id is a positive integer, got "${text}"`);
  return id;
}

/** What `runs show` prints: the PTQ summary, or for a training run its accuracies and what it stored. */
export function formatRun(run: RunDetail): string {
  if (run.kind === 'ptq') return formatPtqSummary(run);
  const s = run.summary as { trainedModelId?: number; trainedModelName?: string };
  return [
    `run ${run.id}  ${run.name}  (${run.kind}, ${run.status}${run.error ? ` — ${run.error}` : ''})`,
    `model ${run.modelId} ${run.modelName}; dataset ${run.datasetId} ${run.datasetName}`,
    `top-1  float ${pct(run.floatAccuracy)}  quantized ${pct(run.quantAccuracy)}`,
    ...(s.trainedModelId ? [`trained model ${s.trainedModelId} ${s.trainedModelName} in the library`] : []),
  ].join('\n');
}

function formatList(runs: RunSummary[]): string {
  if (runs.length === 0) return 'No runs yet. Start one with `studio calibrate --model <id> --data <id>` or from the studio window.';
  return formatTable(
    ['id', 'name', 'kind', 'status', 'float', 'quant', 'created'],
    runs.map((r) => [r.id, r.name, r.kind, r.status, pct(r.floatAccuracy), pct(r.quantAccuracy), r.createdAt]),
  );
}

export function registerRunsCommands(program: Command): void {
  const runs = program.command('runs').description('runs in the store: list (default), show, compare, delete, rename');

  runs
    .command('list', { isDefault: true })
    .description('runs in the store, newest first')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const list = await callApi(studio, 'runs.list', {});
        print(!!o.json, list, () => formatList(list));
      }),
    );

  runs
    .command('show')
    .description("one run: its config, accuracies and per-layer figures (--json: the whole run, usable as a --config file)")
    .argument('<id>', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const run = await callApi(studio, 'runs.get', { id: runId(id) });
        if (run.kind === 'sensitivity') {
          const { layers } = await callApi(studio, 'runs.sensitivity', { id: run.id });
          print(!!o.json, { ...run, sensitivity: layers }, () => formatSensitivity(run, layers));
          return;
        }
        print(!!o.json, run, () => formatRun(run));
      }),
    );

  runs
    .command('compare')
    .description('two runs side by side, one row per quantized tensor (SQNR, clipping, bits)')
    .argument('<a>', 'run id A')
    .argument('<b>', 'run id B')
    .option('--json', 'print JSON')
    .action(async (a: string, b: string, o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const ids = [runId(a), runId(b)];
        if (ids[0] === ids[1]) throw new UsageError('compare needs two different runs');
        const out = await callApi(studio, 'runs.compare', { ids });
        if (out.missing.length > 0) throw new CliError(`run ${out.missing.join(' and run ')} does not exist`, 'not_found');
        const [ra, rb] = ids.map((id) => out.runs.find((r) => r.id === id)!) as [typeof out.runs[number], typeof out.runs[number]];
        const rows = compareRows(ra, rb);
        const brief = (r: typeof ra) => ({ id: r.id, name: r.name, kind: r.kind, status: r.status, floatAccuracy: r.floatAccuracy, quantAccuracy: r.quantAccuracy });
        print(!!o.json, { a: brief(ra), b: brief(rb), layers: rows }, () => formatComparison(ra, rb, rows));
      }),
    );

  runs
    .command('delete')
    .description('delete a run, its results and the files it exported')
    .argument('<id>', 'run id')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const out = await callApi(studio, 'runs.delete', { id: runId(id) });
        print(!!o.json, { id: Number(id), ...out }, () => `run ${id} deleted`);
      }),
    );

  runs
    .command('rename')
    .description('give a run another name')
    .argument('<id>', 'run id')
    .argument('<name>', 'the new name')
    .option('--json', 'print JSON')
    .action(async (id: string, name: string, o: { json?: boolean }, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const run = await callApi(studio, 'runs.rename', { id: runId(id), name });
        print(!!o.json, run, () => `run ${run.id} is now "${run.name}"`);
      }),
    );
}
