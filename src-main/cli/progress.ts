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

type Step = Pick<JobProgress, 'phase' | 'done' | 'total' | 'etaSeconds' | 'message'>;

/**
 * Progress when stderr is not a terminal (piped, logged): whole lines, no
 * carriage returns. Each step is printed once it completes (a step that
 * reports only its start, 0/1, is printed as 1/1 when the next one begins),
 * and a long step also every `everyMs` while it runs.
 */
export class PipedProgress {
  private current: Step | null = null;
  private printed = '';
  private printedAt = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly everyMs = 5000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  update(p: Step): void {
    if (this.current && (p.phase !== this.current.phase || p.message !== this.current.message)) this.complete(this.current);
    if (!this.current || p.phase !== this.current.phase || p.message !== this.current.message) this.printedAt = this.now();
    this.current = p;
    if (p.total > 0 && p.done >= p.total) this.print({ ...p, etaSeconds: null });
    else if (this.now() - this.printedAt >= this.everyMs) this.print(p);
  }

  /** The job succeeded: its last step is complete too. */
  finish(): void {
    if (this.current) this.complete(this.current);
    this.current = null;
  }

  private complete(p: Step): void {
    this.print({ ...p, done: p.total, etaSeconds: null });
  }

  private print(p: Step): void {
    const line = progressLine(p);
    if (line === this.printed) return;
    this.printed = line;
    this.printedAt = this.now();
    this.write(line);
  }
}

/** Where a job's progress goes: one redrawn line on a terminal, whole lines when piped, nothing when quiet (--json). */
export interface ProgressDisplay {
  update(p: Step): void;
  /** The job ended; `ok` completes its last step when piped. */
  end(ok: boolean): void;
}

export function progressDisplay(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (quiet) return { update() {}, end() {} };
  if (stream.isTTY) {
    let drawn = false;
    return {
      update(p) {
        stream.write(`\r${progressLine(p)}\x1b[K`);
        drawn = true;
      },
      end() {
        if (drawn) stream.write('\n');
      },
    };
  }
  const piped = new PipedProgress((line) => stream.write(line + '\n'));
  return {
    update: (p) => piped.update(p),
    end: (ok) => {
      if (ok) piped.finish();
    },
  };
}
