/**
 * One studio: the store, the engine worker, the event bus and the API
 * handlers over them. Every host (Electron, web, CLI) opens it the same way,
 * so they all see the same data and the same behaviour.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AppInfo } from './api/contract.js';
import { computeSettings } from './engine/compute-settings.js';
import type { Handlers } from './api/dispatch.js';
import { EventBus } from './api/events.js';
import { createHandlers } from './handlers/index.js';
import type { Studio, StudioOptions } from './studio-types.js';
import { EngineHost } from './jobs/engine-host.js';
import { RunManager } from './jobs/run-manager.js';
import { ExportJobs } from './jobs/export-job-manager.js';
import { BudgetSearches } from './jobs/budget-searches.js';
import { appRoot, userDataDir } from './paths.js';
import { openStore } from './store/index.js';
import { ensureDefaults } from './defaults.js';

export type { Studio, StudioOptions } from './studio-types.js';

export function appVersion(): string {
  return (JSON.parse(readFileSync(path.join(appRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

export async function openStudio(opts: StudioOptions): Promise<Studio> {
  const store = openStore(opts.dbPath, opts.nativeBinding ? { nativeBinding: opts.nativeBinding } : {});
  const engine = new EngineHost(opts.backend ?? 'auto');
  try {
    const backend = await engine.start();
    const events = new EventBus();
    const runs = new RunManager(store, engine, events);
    const budgets = new BudgetSearches(store, runs, events);
    const exportDir = opts.exportDir ?? (opts.host === 'web' ? path.join(userDataDir(), 'exports') : undefined);
    const exports = new ExportJobs(store, engine, events, { folder: exportDir === undefined ? null : path.resolve(exportDir) });
    // Leftovers of exports killed in an earlier process: finished or undone before anything new starts.
    const exportRecovery = exports.sweep();
    const version = appVersion();
    const info = (): AppInfo => ({
      version,
      host: opts.host,
      backend: engine.activeBackend ?? backend,
      dbPath: store.path,
      dataDir: path.dirname(store.path),
      schemaVersion: store.schemaVersion,
      node: process.versions.node,
      compute: computeSettings(),
    });
    const studio: Studio = {
      store,
      engine,
      events,
      runs,
      exports,
      budgets,
      exportRecovery,
      info,
      handlers: undefined as unknown as Handlers,
      close: async () => {
        await budgets.shutdown();
        await runs.shutdown();
        await exports.shutdown();
        await engine.close();
        store.close();
      },
    };
    studio.handlers = createHandlers(studio);
    if (opts.defaults !== false) await ensureDefaults(studio);
    return studio;
  } catch (err) {
    await engine.close();
    store.close();
    throw err;
  }
}
