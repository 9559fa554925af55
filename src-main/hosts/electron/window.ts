/** The main window: sandboxed renderer, context isolation, no Node. */
import { BrowserWindow, screen } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { methodNames } from '../../api/contract.js';
import { DEFAULT_SIZE, readWindowState, restorableState, writeWindowState } from './window-state.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** `stateFile`: where the window's size and position are remembered (window-state.json in the user data folder). */
export function createMainWindow(rendererIndex: string, stateFile: string): BrowserWindow {
  const saved = restorableState(readWindowState(stateFile), screen.getAllDisplays().map((d) => d.workArea));
  const win = new BrowserWindow({
    ...(saved ? { x: saved.x, y: saved.y, width: saved.width, height: saved.height } : DEFAULT_SIZE),
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Quantization Calibration Studio',
    webPreferences: {
      preload: path.join(here, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
      // The sandboxed preload cannot import the contract, so it learns the method names here.
      additionalArguments: [`--studio-methods=${methodNames.join(',')}`],
    },
  });
  win.once('ready-to-show', () => {
    if (saved?.maximized) win.maximize();
    win.show();
  });
  // The normal (unmaximized) bounds are kept, so un-maximizing after a restart goes back to them.
  win.on('close', () => writeWindowState(stateFile, { ...win.getNormalBounds(), maximized: win.isMaximized() }));
  void win.loadFile(rendererIndex);
  return win;
}
