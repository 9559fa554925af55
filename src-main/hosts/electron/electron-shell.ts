/** The real DesktopShell: Electron's BrowserWindow.setProgressBar, Notification, powerSaveBlocker and shell. */
import { BrowserWindow, Notification, powerSaveBlocker, shell } from 'electron';
import type { DesktopShell } from './desktop-shell.js';

export function electronShell(): DesktopShell {
  let blocker: number | null = null;
  const window = () => BrowserWindow.getAllWindows()[0];
  return {
    setProgress(fraction) {
      window()?.setProgressBar(fraction);
    },
    notify(title, body) {
      if (Notification.isSupported()) new Notification({ title, body }).show();
    },
    blockSleep() {
      if (blocker === null) blocker = powerSaveBlocker.start('prevent-app-suspension');
    },
    allowSleep() {
      if (blocker !== null) powerSaveBlocker.stop(blocker);
      blocker = null;
    },
    showItemInFolder(file) {
      shell.showItemInFolder(file);
    },
  };
}
