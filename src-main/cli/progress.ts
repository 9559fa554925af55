/** One line of progress for a terminal: phase, bar, counts, time left. */
import type { JobProgress } from '../api/contract.js';

export function progressLine(p: Pick<JobProgress, 'phase' | 'done' | 'total' | 'etaSeconds' | 'message'>, width = 30): string {
  const frac = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 0;
  const filled = Math.round(frac * width);
  const bar = '#'.repeat(filled) + '-'.repeat(width - filled);
  const eta = p.etaSeconds === null ? '' : ` ${formatSeconds(p.etaSeconds)} left`;
  return `${p.phase.padEnd(10)} [${bar}] ${p.done}/${p.total}${eta}${p.message ? `  ${p.message}` : ''}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.ceil(s - m * 60)).padStart(2, '0')}s`;
}
