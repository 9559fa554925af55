/** Registers every contract method on ipcMain and forwards events to all windows. */
import { BrowserWindow, ipcMain } from 'electron';
import { methodNames } from '../../api/contract.js';
import { dispatch, type Handlers } from '../../api/dispatch.js';
import type { EventBus } from '../../api/events.js';
import { IPC_CALL_PREFIX, IPC_EVENT_CHANNEL } from '../../api/wire.js';
import { isAllowedIpcSender } from './guards.js';

export function enableIpc(handlers: Handlers, events: EventBus, rendererDir: string): () => void {
  for (const name of methodNames) {
    // Only the app's own renderer may call (guards.ts); dispatch validates the input against the contract before any handler runs.
    ipcMain.handle(IPC_CALL_PREFIX + name, (event, input: unknown) => {
      if (!isAllowedIpcSender(event.senderFrame?.url, rendererDir)) {
        return { ok: false, error: { code: 'invalid_input', message: `${name} refused: the caller is not the studio's renderer` } };
      }
      return dispatch(handlers, name, input);
    });
  }
  const unsubscribe = events.subscribe((event, payload) => {
    for (const win of BrowserWindow.getAllWindows()) win.webContents.send(IPC_EVENT_CHANNEL, { event, payload });
  });
  return () => {
    unsubscribe();
    for (const name of methodNames) ipcMain.removeHandler(IPC_CALL_PREFIX + name);
  };
}
