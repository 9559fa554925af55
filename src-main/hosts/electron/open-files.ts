/**
 * Model files handed to the desktop app from outside: "Open with" (the file
 * associations in electron-builder.yml), a second launch's arguments, the
 * File menu's recent models. Each is imported through the API like the
 * Import panel does (copied into the library), remembered in the recent
 * list, and announced to the renderer with a models.imported event.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ModelSummary } from '../../api/contract.js';
import { dispatch, type Handlers } from '../../api/dispatch.js';
import type { EventBus } from '../../api/events.js';
import type { RecentModels } from './recent-models.js';

/** What the app is associated with (electron-builder.yml fileAssociations): Keras files and TF.js model.json. */
export const MODEL_FILE_EXTENSIONS = ['h5', 'keras', 'json'] as const;

const isModelFile = (file: string) => (MODEL_FILE_EXTENSIONS as readonly string[]).includes(path.extname(file).slice(1).toLowerCase());

/** The model files among a launch's arguments (flags and the app's own path skipped), resolved against its working folder. */
export function modelFilesIn(args: readonly string[], cwd: string): string[] {
  return args
    .filter((a) => !a.startsWith('-') && isModelFile(a))
    .map((a) => path.resolve(cwd, a))
    .filter((f) => existsSync(f) && statSync(f).isFile());
}

export interface OpenFilesDeps {
  handlers: Handlers;
  events: EventBus;
  recent: RecentModels;
  /** Tells the user why a file was not imported (a dialog in the app). */
  showError(title: string, message: string): void;
}

export async function openModelFiles(files: readonly string[], deps: OpenFilesDeps, origin: 'open-file' | 'recent' = 'open-file'): Promise<ModelSummary[]> {
  const imported: ModelSummary[] = [];
  for (const file of files) {
    const r = await dispatch(deps.handlers, 'models.import', { path: file, mode: 'copy' });
    if (!r.ok) {
      deps.showError(`Cannot open ${path.basename(file)}`, r.error.message);
      continue;
    }
    const model = r.output as ModelSummary;
    deps.recent.add(file);
    deps.events.emit('models.imported', { model, origin });
    imported.push(model);
  }
  return imported;
}
