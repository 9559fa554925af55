/**
 * `studio budget`: the accuracy-budget search (budget.start) from the command
 * line — each step printed as its run ends, then the chosen configuration
 * and its size. Ctrl-C cancels the search (the step running is stored as
 * cancelled; the steps done stay as runs).
 */
import type { Command } from 'commander';
import type { BudgetState, BudgetStep, RunDetail } from '../api/contract.js';
import type { Studio } from '../studio.js';
import { callApi, print, withStudio } from './common.js';
import { CliError, EXIT, InterruptedError, UsageError } from './errors.js';
import { formatTable } from './format.js';
import { configFrom, runOptions, type RunOptions } from './run-options.js';

interface BudgetOptions extends RunOptions {
  maxDrop: string;
  menu: string;
  maxSteps: string;
  sensitivityRun?: string;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function registerBudget(program: Command): void {
  runOptions(program.command('budget').description('accuracy budget: the smallest model (weight bytes) within --max-drop points of float, choosing per layer from --menu; every step is a PTQ run'))
    .option('--max-drop <points>', 'largest accepted accuracy drop, in points (0.5 = half a point)', '0.5')
    .option('--menu <choices>', 'per-layer choices, smallest first: wN (weight bits), aN (activation bits), float', 'w4,w8,a16,float')
    .option('--max-steps <n>', 'evaluations at most (each is a PTQ run), the start included', '40')
    .option('--sensitivity-run <id>', "order the layers by this sensitivity run (`studio sensitivity`) instead of each step's own SQNR")
    .action(async (o: BudgetOptions, cmd: Command) =>
      withStudio(cmd, async (studio) => {
        const maxDropPoints = Number(o.maxDrop);
        if (!Number.isFinite(maxDropPoints)) throw new UsageError(`--max-drop is a number of points, got "${o.maxDrop}"`);
        const config = await configFrom(studio, o, cmd, 'ptq');
        const search = await callApi(studio, 'budget.start', { config, maxDropPoints, menu: o.menu, maxSteps: Number(o.maxSteps), ...(o.sensitivityRun ? { sensitivityRunId: Number(o.sensitivityRun) } : {}) });
        const off = studio.events.subscribe((event, payload) => {
          if (event !== 'budget.step' || o.json) return;
          const { searchId, step } = payload as { searchId: number; step: BudgetStep };
          if (searchId === search.id) process.stderr.write(stepLine(step) + '\n');
        });
        let interrupted = false;
        const onSigint = () => {
          interrupted = true;
          process.stderr.write(`\ncancelling the accuracy-budget search…\n`);
          studio.budgets.cancel(search.id);
        };
        process.once('SIGINT', onSigint);
        try {
          await studio.budgets.settled(search.id);
        } finally {
          off();
          process.off('SIGINT', onSigint);
        }
        const done = await callApi(studio, 'budget.get', { id: search.id });
        const best = done.result ? await callApi(studio, 'runs.get', { id: done.result.best.ref }) : null;
        print(!!o.json, { search: done, bestRun: best }, () => formatBudget(done, best));
        if (done.status === 'cancelled' && interrupted) throw new InterruptedError(`accuracy-budget search cancelled after ${done.steps.length} steps; their runs are kept`);
        if (done.status !== 'done') throw new CliError(`accuracy-budget search ${done.status}${done.error ? `: ${done.error}` : ''}`, 'failed', EXIT.failed);
        if (!done.result!.met) process.exitCode = EXIT.failed;
      }),
    );
}

function stepLine(s: BudgetStep): string {
  const what = s.phase === 'start' ? 'start' : `${s.phase} ${s.layer} ${s.from}→${s.to}${s.phase === 'lower' && !s.kept ? ' (undone)' : ''}`;
  return `step ${s.index}: ${what}: top-1 ${pct(s.accuracy)} (drop ${(s.drop * 100).toFixed(2)} pt), ${kib(s.bytes)}${s.meets ? ', meets the budget' : ''}  [run ${s.ref}]`;
}

export function formatBudget(s: BudgetState, best: RunDetail | null): string {
  const lines = [
    `accuracy budget ≤${s.request.maxDropPoints} pt over ${s.ladder.map((r) => r.label).join(' → ')}: ${s.status}${s.error ? ` — ${s.error}` : ''}`,
    formatTable(
      ['step', 'change', 'top-1', 'drop', 'size', 'meets', 'run'],
      s.steps.map((x) => [x.index, x.phase === 'start' ? `all ${s.ladder[0]!.label}` : `${x.phase} ${x.layer} ${x.from}→${x.to}${x.phase === 'lower' && !x.kept ? ' (undone)' : ''}`, pct(x.accuracy), `${(x.drop * 100).toFixed(2)} pt`, kib(x.bytes), x.meets ? 'yes' : 'no', x.ref]),
    ),
  ];
  const r = s.result;
  if (r) {
    lines.push(
      '',
      r.met
        ? `chosen: run ${r.best.ref}${best ? ` (${best.name})` : ''}: top-1 ${pct(r.best.accuracy)} against float ${pct(r.floatAccuracy)} (drop ${(r.best.drop * 100).toFixed(2)} pt), weights ${kib(r.best.bytes)}`
        : `not met: ${r.reason ?? 'no step met the budget'}; the most accurate step is run ${r.best.ref} (drop ${(r.best.drop * 100).toFixed(2)} pt, ${kib(r.best.bytes)})`,
      `per layer: ${r.choices.map((c) => `${c.layer} ${c.choice}`).join(', ')}`,
      'export the chosen run as any run: ONNX holds every choice (INT4/INT8 weights, INT8/INT16 activations, float layers); TFLite only 8-bit weights with 8-bit activations.',
    );
  }
  return lines.join('\n');
}
