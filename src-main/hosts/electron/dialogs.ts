/**
 * app.pickPath in the desktop app: Electron's own open and save dialogs,
 * attached to the focused window. Cancel gives path null.
 */
import { BrowserWindow, dialog, type OpenDialogOptions, type SaveDialogOptions } from 'electron';
import type { MethodInput, MethodOutput } from '../../api/contract.js';
import type { Handlers } from '../../api/dispatch.js';

type PickRequest = MethodInput<'app.pickPath'>;
type PickResult = MethodOutput<'app.pickPath'>;

export async function pickPath(req: PickRequest): Promise<PickResult> {
  const win = BrowserWindow.getFocusedWindow() ?? BrowserWindow.getAllWindows()[0];
  const common = {
    ...(req.title !== undefined ? { title: req.title } : {}),
    ...(req.defaultPath !== undefined ? { defaultPath: req.defaultPath } : {}),
    ...(req.filters !== undefined ? { filters: req.filters } : {}),
  };
  if (req.mode === 'save') {
    const options: SaveDialogOptions = { ...common, properties: ['createDirectory', 'showOverwriteConfirmation'] };
    const r = win ? await dialog.showSaveDialog(win, options) : await dialog.showSaveDialog(options);
    return { supported: true, path: r.canceled || !r.filePath ? null : r.filePath };
  }
  const options: OpenDialogOptions = { ...common, properties: [req.mode === 'open-folder' ? 'openDirectory' : 'openFile'] };
  const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
  return { supported: true, path: r.canceled ? null : (r.filePaths[0] ?? null) };
}

/** The studio's handlers with the native dialogs in place of the path-field fallback. */
export function withDialogs(handlers: Handlers): Handlers {
  return { ...handlers, 'app.pickPath': pickPath };
}
