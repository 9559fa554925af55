/**
 * Electron main process: thin. It opens the same studio as the other hosts,
 * wires the API to IPC, guards the renderer and shows one window.
 */
import { app, dialog, Menu, shell } from 'electron';
import path from 'node:path';
import { rendererDir, resolveDbPath } from '../../paths.js';
import { openStudio, type Studio } from '../../studio.js';
import { withDialogs } from './dialogs.js';
import { enableIpc } from './ipc.js';
import { electronSqliteBinding } from './native-binding.js';
import { enableSecurityGuards } from './security.js';
import { enableSingleInstance } from './single-instance.js';
import { createMainWindow } from './window.js';
import { withDesktopHandlers } from './desktop-handlers.js';
import { electronShell } from './electron-shell.js';
import { isAllowedExternalLink } from './guards.js';
import { menuTemplate } from './menu.js';
import { MODEL_FILE_EXTENSIONS, modelFilesIn, openModelFiles } from './open-files.js';
import { RecentModels } from './recent-models.js';
import { enableRunActivity } from './run-activity.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  // Files arriving before the studio is open (macOS open-file at launch, a second launch) wait here.
  const pending: string[] = [];
  let openFiles = (files: string[]) => void pending.push(...files);
  if (!enableSingleInstance((files) => openFiles(files))) return;
  app.on('open-file', (event, file) => {
    event.preventDefault();
    openFiles([file]);
  });
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
  const desktop = electronShell();
  const handlers = withDesktopHandlers(withDialogs(studio.handlers), studio, desktop);
  enableIpc(handlers, studio.events, rendererDir());
  enableRunActivity(studio.events, desktop);
  const recent = new RecentModels(path.join(app.getPath('userData'), 'recent-models.json'));
  const deps = { handlers, events: studio.events, recent, showError: (title: string, message: string) => dialog.showErrorBox(title, message) };
  const setMenu = () =>
    Menu.setApplicationMenu(
      Menu.buildFromTemplate(
        menuTemplate({
          packaged: app.isPackaged,
          platform: process.platform,
          recent: recent.list(),
          actions: {
            openModel: () => void pickAndOpen(),
            openRecent: (file) => void openModelFiles([file], deps, 'recent').then(setMenu),
            clearRecent: () => {
              recent.clear();
              setMenu();
            },
            openDocs: (url) => {
              if (isAllowedExternalLink(url)) void shell.openExternal(url);
            },
          },
        }),
      ),
    );
  const pickAndOpen = async () => {
    const r = await dialog.showOpenDialog({ properties: ['openFile'], filters: [{ name: 'Models (Keras, TF.js model.json)', extensions: [...MODEL_FILE_EXTENSIONS] }] });
    if (!r.canceled) await openModelFiles(r.filePaths, deps);
    setMenu();
  };
  openFiles = (files) => void openModelFiles(files, deps).then(setMenu);
  setMenu();
  createMainWindow(indexHtml, path.join(app.getPath('userData'), 'window-state.json'));
  // "Open with" on Windows and Linux: the files are this launch's arguments.
  openFiles([...pending.splice(0), ...modelFilesIn(process.argv.slice(1), process.cwd())]);
  app.on('window-all-closed', () => app.quit());
  app.on('before-quit', (event) => {
    event.preventDefault();
    void studio.close().finally(() => app.exit(0));
  });
}

void main();
