/**
 * Runs made by another process (the CLI on the same database) send no event
 * to this host: poll SQLite's data_version, which changes only on another
 * connection's commit, and refresh the lists when it moves. One tiny call
 * every couple of seconds, skipped while the page is hidden.
 */
import type { ApiClient } from '../api.js';

export const STORE_POLL_MS = 2000;

export function watchStore(api: ApiClient, onchange: () => void, intervalMs = STORE_POLL_MS): () => void {
  let last: number | null = null;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || document.visibilityState === 'hidden') return;
    busy = true;
    try {
      const { version } = await api.call('app.storeVersion', {});
      if (last !== null && version !== last) onchange();
      last = version;
    } catch {
      // The connection banner reports a broken link; the next tick tries again.
    } finally {
      busy = false;
    }
  }, intervalMs);
  return () => clearInterval(timer);
}
