/**
 * What the desktop integration asks of Electron, as one small interface, so
 * the logic around it (run-activity.ts, open-files.ts, desktop-handlers.ts)
 * is tested with a fake under Node. electron-shell.ts is the real one.
 */
export interface DesktopShell {
  /** Taskbar / dock progress of the main window: 0..1, or -1 to clear it. */
  setProgress(fraction: number): void;
  /** A system notification. */
  notify(title: string, body: string): void;
  /** Keep the system awake (powerSaveBlocker 'prevent-app-suspension') until allowSleep. */
  blockSleep(): void;
  allowSleep(): void;
  /** Opens the file manager on this file (shell.showItemInFolder). */
  showItemInFolder(file: string): void;
}
