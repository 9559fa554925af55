/**
 * Crash recovery: a run still 'queued' or 'running' whose owner is gone was
 * left so by a killed process and can never finish, so it is marked
 * 'interrupted'. Runs of a live process (another studio window or the CLI
 * sharing the file) are left alone: each run records the owner's pid and the
 * token of the Store instance inside that process.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { nowIso } from './codec.js';

/** Tokens of the Store instances open in this process (this thread, strictly). */
const liveTokens = new Set<string>();

export function registerOwner(): string {
  const token = randomUUID();
  liveTokens.add(token);
  return token;
}

export function releaseOwner(token: string): void {
  liveTokens.delete(token);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function orphaned(pid: number | null, token: string | null): boolean {
  if (pid === null || token === null) return true;
  // Same pid but a token no open Store holds: closed without finishing, or a
  // dead process whose pid was reused by this one (common in containers).
  if (pid === process.pid) return !liveTokens.has(token);
  return !processAlive(pid);
}

export const INTERRUPTED_RUNNING = 'The process running this run stopped before it finished.';
export const INTERRUPTED_QUEUED = 'The process that queued this run stopped before it started.';

/** Where a run's result goes when the database cannot take it (jobs/run-manager.ts writes it). */
export function resultRecoveryPath(dataDir: string, runId: number): string {
  return path.join(dataDir, 'recovered-results', `run-${runId}.json`);
}

export function notStoredMessage(file: string): string {
  return `finished but its result could not be stored: ${file}`;
}

/**
 * Marks orphaned queued/running runs 'interrupted' in one transaction; returns their ids.
 * A run whose result was kept in a recovery file (the database was locked
 * when it finished) is marked 'failed' with notStoredMessage instead: it was
 * not interrupted. Nothing is written (no write lock taken) when no run is orphaned.
 */
export function recoverInterruptedRuns(db: Database, dataDir?: string): number[] {
  const active = db.prepare<[], { id: number; status: string; owner_pid: number | null; owner_token: string | null }>(
    `SELECT id, status, owner_pid, owner_token FROM runs WHERE status IN ('queued', 'running') ORDER BY id`,
  );
  const mark = db.prepare<[string, string, number]>(
    `UPDATE runs SET status = 'interrupted', finished_at = ?, error = ?
      WHERE id = ? AND status IN ('queued', 'running')`,
  );
  const markFailed = db.prepare<[string, string, number]>(
    `UPDATE runs SET status = 'failed', finished_at = ?, error = ?
      WHERE id = ? AND status IN ('queued', 'running')`,
  );
  if (!active.all().some((run) => orphaned(run.owner_pid, run.owner_token))) return [];
  const recover = db.transaction(() => {
    const ids: number[] = [];
    const now = nowIso();
    for (const run of active.all()) {
      if (!orphaned(run.owner_pid, run.owner_token)) continue;
      const kept = dataDir === undefined ? null : resultRecoveryPath(dataDir, run.id);
      if (kept && existsSync(kept)) markFailed.run(now, notStoredMessage(kept), run.id);
      else mark.run(now, run.status === 'running' ? INTERRUPTED_RUNNING : INTERRUPTED_QUEUED, run.id);
      ids.push(run.id);
    }
    return ids;
  });
  // IMMEDIATE: take the write lock before reading, so the check and the update see one state.
  return recover.immediate();
}
