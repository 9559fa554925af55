/** The API calls the desktop answers itself: "Show in folder" opens the file manager on a stored export. */
import { existsSync } from 'node:fs';
import { ApiError, type Handlers } from '../../api/dispatch.js';
import { exportPath } from '../../handlers/exports.js';
import type { Studio } from '../../studio-types.js';
import type { DesktopShell } from './desktop-shell.js';

export function withDesktopHandlers(handlers: Handlers, studio: Pick<Studio, 'store'>, shell: Pick<DesktopShell, 'showItemInFolder'>): Handlers {
  return {
    ...handlers,
    'exports.showInFolder': ({ id }) => {
      // The path comes from the exports table, never from the renderer.
      const file = exportPath(studio, id);
      if (!existsSync(file)) throw new ApiError('not_found', `export ${id}: ${file} no longer exists`);
      shell.showItemInFolder(file);
      return { shown: true, path: file };
    },
  };
}
