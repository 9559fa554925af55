/**
 * The desktop's view of running work, from the studio's own events: the
 * taskbar shows the progress of the run that reported last, the system stays
 * awake while any run works, and a run that took longer than `longRunSeconds`
 * ends with a notification (the user has likely looked away).
 */
import type { EventBus } from '../../api/events.js';
import type { JobProgress, RunStatus } from '../../api/contract.js';
import type { DesktopShell } from './desktop-shell.js';

export interface RunActivityOptions {
  longRunSeconds?: number;
  now?: () => number;
}

const ENDED: RunStatus[] = ['done', 'failed', 'cancelled', 'interrupted'];

export function enableRunActivity(events: EventBus, shell: DesktopShell, opts: RunActivityOptions = {}): () => void {
  const longMs = (opts.longRunSeconds ?? 30) * 1000;
  const now = opts.now ?? (() => Date.now());
  const startedAt = new Map<number, number>();

  return events.subscribe((event, payload) => {
    if (event === 'job.progress') {
      const p = payload as JobProgress;
      if (startedAt.has(p.runId) && p.total > 0) shell.setProgress(Math.min(1, p.done / p.total));
      return;
    }
    if (event !== 'runs.changed') return;
    const { id, status } = payload as { id: number; status: RunStatus };
    if (status === 'running' && !startedAt.has(id)) {
      if (startedAt.size === 0) shell.blockSleep();
      startedAt.set(id, now());
    } else if (ENDED.includes(status) && startedAt.has(id)) {
      const took = now() - startedAt.get(id)!;
      startedAt.delete(id);
      if (startedAt.size === 0) {
        shell.allowSleep();
        shell.setProgress(-1);
      }
      if (took >= longMs && status !== 'cancelled') shell.notify(`Run ${id} ${status === 'done' ? 'finished' : status}`, `after ${formatDuration(took)}; open the studio to see its results`);
    }
  });
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}
