/**
 * What a studio is, as the API handlers and the hosts see it: the store, the
 * engine worker, the event bus, the run and export managers, the handlers.
 * Kept apart from studio.ts (which builds one) so the handlers can name it
 * without importing the module that imports them.
 */
import type { AppInfo } from './api/contract.js';
import type { Handlers } from './api/dispatch.js';
import type { EventBus } from './api/events.js';
import type { EngineHost } from './jobs/engine-host.js';
import type { ExportJobs } from './jobs/export-job-manager.js';
import type { RecoveryEntry } from './jobs/export-staging.js';
import type { RunManager } from './jobs/run-manager.js';
import type { BudgetSearches } from './jobs/budget-searches.js';
import type { Store } from './store/index.js';

export interface StudioOptions {
  dbPath: string;
  host: AppInfo['host'];
  backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** better-sqlite3 binary for Electron's ABI. */
  nativeBinding?: string;
  /** Import the bundled sample model and data into an empty store (default true). */
  defaults?: boolean;
  /**
   * The one folder exports may be written to. Default: `<user data folder>/exports`
   * on the web host (a browser must not name arbitrary files), none elsewhere.
   */
  exportDir?: string;
}

export interface Studio {
  store: Store;
  engine: EngineHost;
  events: EventBus;
  runs: RunManager;
  exports: ExportJobs;
  /** Accuracy-budget searches working now (their steps are runs). */
  budgets: BudgetSearches;
  /** What the start-up sweep did with leftovers of killed exports (also in export-recovery.log in the data folder). */
  exportRecovery: RecoveryEntry[];
  handlers: Handlers;
  info(): AppInfo;
  close(): Promise<void>;
}
