/**
 * Guards every web contents the app creates: no navigation away from the
 * bundled renderer, no new windows, no permission prompts, and sandboxed
 * renderers without Node (Electron's security checklist).
 */
import { app, shell, type WebContents } from 'electron';

export function enableSecurityGuards(rendererUrlPrefix: string): void {
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      if (!url.startsWith(rendererUrlPrefix)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Links to documentation open in the user's browser; nothing opens inside the app.
      if (url.startsWith('https://')) void shell.openExternal(url);
      return { action: 'deny' };
    });
    contents.session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  });
}
