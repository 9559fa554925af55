/**
 * Writing through another process's lock. better-sqlite3 waits up to the
 * busy timeout (5 s, store.ts) inside each statement; a finished run's result
 * is then retried with backoff until RESULT_RETRY_WINDOW_MS has passed
 * (30 s by default, $STUDIO_STORE_RETRY_MS to change it), so a lock held
 * for up to about 30 s loses nothing. Past that the caller keeps the result
 * in a recovery file (jobs/run-manager.ts).
 */
export const RESULT_RETRY_ENV = 'STUDIO_STORE_RETRY_MS';
export const DEFAULT_RESULT_RETRY_WINDOW_MS = 30_000;

export function resultRetryWindowMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env[RESULT_RETRY_ENV]);
  return Number.isFinite(v) && v >= 0 ? v : DEFAULT_RESULT_RETRY_WINDOW_MS;
}

/** True for SQLite's "another connection holds the lock" errors. */
export function isBusyError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Runs `fn`, again after 100 ms, 200 ms, … (at most 2 s apart) while it fails with a busy error, until `windowMs` has passed. */
export async function retryWhileBusy<T>(fn: () => T, windowMs: number, onRetry?: (attempt: number, err: unknown) => void): Promise<T> {
  const start = Date.now();
  let delay = 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusyError(err) || Date.now() - start + delay > windowMs) throw err;
      onRetry?.(attempt, err);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }
}
