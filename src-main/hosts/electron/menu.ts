/**
 * The application menu as data (Electron's MenuItemConstructorOptions), so
 * what it holds is tested without Electron: File (open a model, recent
 * models), Edit, View — the developer tools only in an unpackaged build —,
 * Window, Help.
 */
import type { MenuItemConstructorOptions } from 'electron';
import path from 'node:path';

export interface MenuActions {
  openModel(): void;
  openRecent(file: string): void;
  clearRecent(): void;
  /** Opens a documentation page in the user's browser (allow-listed in guards.ts). */
  openDocs(url: string): void;
}

export const QUANTIZATION_DOCS = 'https://ai.google.dev/edge/litert/models/post_training_quantization';

export interface MenuContext {
  packaged: boolean;
  platform: NodeJS.Platform;
  recent: string[];
  actions: MenuActions;
}

export function menuTemplate(ctx: MenuContext): MenuItemConstructorOptions[] {
  const mac = ctx.platform === 'darwin';
  const recent: MenuItemConstructorOptions[] =
    ctx.recent.length === 0
      ? [{ label: 'No recent models', enabled: false }]
      : [
          ...ctx.recent.map((file): MenuItemConstructorOptions => ({ label: `${path.basename(path.dirname(file))}${path.sep}${path.basename(file)}`, toolTip: file, click: () => ctx.actions.openRecent(file) })),
          { type: 'separator' },
          { label: 'Clear recent models', click: () => ctx.actions.clearRecent() },
        ];
  const view: MenuItemConstructorOptions[] = [
    { role: 'reload' },
    ...(ctx.packaged ? [] : ([{ role: 'toggleDevTools' }] as MenuItemConstructorOptions[])),
    { type: 'separator' },
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
  ];
  return [
    ...(mac ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open model…', accelerator: 'CmdOrCtrl+O', click: () => ctx.actions.openModel() },
        { label: 'Recent models', submenu: recent },
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    { label: 'View', submenu: view },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'Post-training quantization (LiteRT docs)', click: () => ctx.actions.openDocs(QUANTIZATION_DOCS) }] },
  ];
}
