/**
 * A leading + trailing throttle: the first call runs at once, calls during
 * the next `intervalMs` fold into one call at its end. Used to refresh live
 * curves at most ~2 times a second however fast `runs.changed` arrives.
 * Timers are injectable so tests run without waiting.
 */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface Throttled {
  /** Asks for a call: now if the interval has passed, else once at its end. */
  (): void;
  /** Drops a pending trailing call. */
  cancel(): void;
  /** Runs a pending trailing call now (e.g. the run finished). */
  flush(): void;
}

export function throttle(fn: () => void, intervalMs: number, timers: Timers = realTimers): Throttled {
  let last = -Infinity;
  let timer: unknown = null;

  const fire = () => {
    timer = null;
    last = timers.now();
    fn();
  };

  const call = (() => {
    if (timer !== null) return;
    const wait = last + intervalMs - timers.now();
    if (wait <= 0) fire();
    else timer = timers.setTimeout(fire, wait);
  }) as Throttled;

  call.cancel = () => {
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
  };

  call.flush = () => {
    if (timer === null) return;
    timers.clearTimeout(timer);
    fire();
  };

  return call;
}
