/**
 * How the CLI ends: exit codes and error reports. A usage error (a flag or
 * argument the command cannot take) exits 2 with the command's usage line; a
 * failed call or run exits 1; Ctrl-C exits 130 after the job is cancelled.
 * With --json the error goes to stderr as one JSON object with a code.
 */
import type { ApiErrorShape } from '../api/contract.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

export type CliErrorCode = ApiErrorShape['code'] | 'usage' | 'run_failed' | 'cancelled';

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: CliErrorCode = 'failed',
    readonly exitCode: number = EXIT.failed,
    /** Extra fields for the JSON report (the run id of a failed run…). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A flag or argument the command cannot take: exit 2, with the usage line. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 'usage', EXIT.usage);
    this.name = 'UsageError';
  }
}

/** The user pressed Ctrl-C and the job was cancelled cleanly: exit 130. */
export class InterruptedError extends CliError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'cancelled', EXIT.interrupted, details);
    this.name = 'InterruptedError';
  }
}

/** The text (or JSON object) written to stderr for an error; `usage` is the failing command's usage line. */
export function errorReport(err: unknown, json: boolean, usage?: string): string {
  const e = err instanceof CliError ? err : new CliError(err instanceof Error ? err.message : String(err));
  if (json) return JSON.stringify({ error: { code: e.code, message: e.message, ...e.details, ...(e instanceof UsageError && usage ? { usage } : {}) } }) + '\n';
  const lines = [`studio: ${e.message}`];
  if (e instanceof UsageError && usage) lines.push(`usage: ${usage}`);
  return lines.join('\n') + '\n';
}
