/** What every CLI command shares: opening the studio, calling the API as a host would, printing. */
import type { Command } from 'commander';
import type { MethodName, MethodOutput } from '../api/contract.js';
import { dispatch } from '../api/dispatch.js';
import { resolveDbPath } from '../paths.js';
import { openStudio, type Studio } from '../studio.js';

export interface GlobalOptions {
  db?: string;
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
}

export class CliError extends Error {}

export async function withStudio<T>(cmd: Command, fn: (studio: Studio) => Promise<T>): Promise<T> {
  const opts = cmd.optsWithGlobals() as GlobalOptions;
  const studio = await openStudio({ dbPath: resolveDbPath(opts.db), host: 'cli', backend: opts.backend });
  try {
    return await fn(studio);
  } finally {
    await studio.close();
  }
}

/** Calls the API as a host would; an error envelope becomes a CLI error. */
export async function callApi<M extends MethodName>(studio: Studio, method: M, input: unknown): Promise<MethodOutput<M>> {
  const result = await dispatch(studio.handlers, method, input);
  if (!result.ok) throw new CliError(result.error.message);
  return result.output as MethodOutput<M>;
}

export function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text() + '\n');
}

