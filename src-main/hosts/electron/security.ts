/**
 * Guards every web contents the app creates: no navigation away from the
 * bundled renderer, no new windows, no permission prompts, and sandboxed
 * renderers without Node (Electron's security checklist).
 */
import { app, shell, type WebContents } from 'electron';
import { isAllowedExternalLink, isRendererUrl } from './guards.js';

/** `rendererDir`: the folder of the built renderer (a path, not a URL); see guards.ts. */
export function enableSecurityGuards(rendererDir: string): void {
  app.on('web-contents-created', (_event, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isRendererUrl(url, rendererDir)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isRendererUrl(url, rendererDir)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      // Links to the allow-listed documentation open in the user's browser; nothing opens inside the app.
      if (isAllowedExternalLink(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
    contents.session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  });
}
