/**
 * Electron main process: thin. It opens the same studio as the other hosts,
 * wires the API to IPC, guards the renderer and shows one window.
 */
import { app, dialog } from 'electron';
import path from 'node:path';
import { rendererDir, resolveDbPath } from '../../paths.js';
import { openStudio, type Studio } from '../../studio.js';
import { withDialogs } from './dialogs.js';
import { enableIpc } from './ipc.js';
import { electronSqliteBinding } from './native-binding.js';
import { enableSecurityGuards } from './security.js';
import { enableSingleInstance } from './single-instance.js';
import { createMainWindow } from './window.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (!enableSingleInstance()) return;
  await app.whenReady();
  const indexHtml = path.join(rendererDir(), 'index.html');
  enableSecurityGuards(rendererDir());
  let studio: Studio;
  try {
    const nativeBinding = electronSqliteBinding(app.isPackaged);
    studio = await openStudio({
      dbPath: resolveDbPath(flag('--db'), process.env, app.getPath('userData')),
      host: 'electron',
      ...(nativeBinding ? { nativeBinding } : {}),
    });
  } catch (err) {
    dialog.showErrorBox('Quantization Calibration Studio cannot start', err instanceof Error ? err.message : String(err));
    app.exit(1);
    return;
  }
  enableIpc(withDialogs(studio.handlers), studio.events, rendererDir());
  createMainWindow(indexHtml);
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', (event) => {
    event.preventDefault();
    void studio.close().finally(() => app.exit(0));
  });
}

void main();
