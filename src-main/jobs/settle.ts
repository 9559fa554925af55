/**
 * Waits for jobs to settle, at most `ms`. The timer is cleared as soon as
 * they do: a pending timer keeps Node's event loop alive, so a CLI process
 * whose jobs had all finished used to wait out the whole grace period.
 */
export async function settleWithin(jobs: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([Promise.allSettled(jobs), grace]);
  } finally {
    clearTimeout(timer);
  }
}
