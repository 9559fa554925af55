/**
 * One studio window per user: a second launch focuses the first and hands
 * it the model files it was given ("Open with" while the app runs).
 */
import { app, BrowserWindow } from 'electron';
import { modelFilesIn } from './open-files.js';

export function enableSingleInstance(onFiles: (files: string[]) => void): boolean {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return false;
  }
  app.on('second-instance', (_event, argv, workingDirectory) => {
    const win = BrowserWindow.getAllWindows()[0];
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
    // argv[0] is the executable (and argv[1] the app folder when unpackaged); modelFilesIn skips what is not a model file.
    const files = modelFilesIn(argv.slice(1), workingDirectory);
    if (files.length > 0) onFiles(files);
  });
  return true;
}
