/**
 * app.pickPath where there is no native dialog (web host, CLI): the renderer
 * shows a path field instead. The Electron host replaces this handler with
 * its dialogs (hosts/electron/dialogs.ts).
 */
import type { Handlers } from '../api/dispatch.js';

export function pickPathHandlers(): Pick<Handlers, 'app.pickPath'> {
  return {
    'app.pickPath': () => ({ supported: false, path: null }),
  };
}
