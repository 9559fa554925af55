/**
 * Charts still on their way to the screen. A chart counts as pending from
 * mount until it has drawn or knows it is off screen (charts are created
 * lazily near the viewport); `chartsSettled()` resolves when none is
 * pending, so a view can mark the frame it is really painted in.
 */
let pending = 0;
let waiters: (() => void)[] = [];

/** Registers a pending chart; call the returned function once it has settled (idempotent). */
export function chartPending(): () => void {
  pending++;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    pending--;
    if (pending === 0) {
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    }
  };
}

/** Resolves when no chart is pending, or after `timeoutMs` at the latest. */
export function chartsSettled(timeoutMs = 2000): Promise<void> {
  if (pending === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    waiters.push(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
