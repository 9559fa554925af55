/** What every CLI command shares: opening the studio, calling the API as a host would, printing. */
import type { Command } from 'commander';
import type { MethodName, MethodOutput } from '../api/contract.js';
import { dispatch } from '../api/dispatch.js';
import { MEMORY_BUDGET_ENV, parseBytes } from '../engine/memory.js';
import { EXECUTION_PROVIDER_ENV } from '../engine/native/session.js';
import { resolveDbPath } from '../paths.js';
import { openStudio, type Studio } from '../studio.js';
import { CliError, UsageError } from './errors.js';

export interface GlobalOptions {
  db?: string;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  memoryBudget?: string;
  executionProvider?: string;
}

export { CliError, UsageError } from './errors.js';

export async function withStudio<T>(cmd: Command, fn: (studio: Studio) => Promise<T>): Promise<T> {
  const opts = cmd.optsWithGlobals() as GlobalOptions;
  applyComputeOptions(opts);
  const studio = await openStudio({ dbPath: resolveDbPath(opts.db), host: 'cli', backend: opts.backend });
  for (const r of studio.exportRecovery) process.stderr.write(`studio: ${r.message}\n`);
  try {
    return await fn(studio);
  } finally {
    await studio.close();
  }
}

/**
 * --memory-budget and --execution-provider become the environment the engine
 * worker reads (it inherits process.env), checked here so a bad size fails
 * before the studio opens.
 */
export function applyComputeOptions(opts: Pick<GlobalOptions, 'memoryBudget' | 'executionProvider'>, env: NodeJS.ProcessEnv = process.env): void {
  if (opts.memoryBudget !== undefined) {
    try {
      parseBytes(opts.memoryBudget);
    } catch (e) {
      throw new UsageError(`--memory-budget: ${(e as Error).message}`);
    }
    env[MEMORY_BUDGET_ENV] = opts.memoryBudget;
  }
  if (opts.executionProvider !== undefined) env[EXECUTION_PROVIDER_ENV] = opts.executionProvider;
}

/** Calls the API as a host would; an error envelope becomes a CLI error with the API's code. */
export async function callApi<M extends MethodName>(studio: Studio, method: M, input: unknown): Promise<MethodOutput<M>> {
  const result = await dispatch(studio.handlers, method, input);
  if (!result.ok) throw new CliError(result.error.message, result.error.code);
  return result.output as MethodOutput<M>;
}

export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text() + '\n');
}

