/**
 * Time left for a phase, from its own rate so far. Null until a few steps
 * have been measured, since the first batches include warm-up.
 */
export class EtaClock {
  private phase = '';
  private startedAt = 0;
  private startDone = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  update(phase: string, done: number, total: number): number | null {
    const t = this.now();
    if (phase !== this.phase || done < this.startDone) {
      this.phase = phase;
      this.startedAt = t;
      this.startDone = done;
      return null;
    }
    const stepped = done - this.startDone;
    const elapsed = (t - this.startedAt) / 1000;
    if (stepped <= 0 || elapsed < 0.25) return null;
    return Math.max(0, ((total - done) * elapsed) / stepped);
  }
}
