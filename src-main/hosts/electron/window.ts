/** The main window: sandboxed renderer, context isolation, no Node. */
import { BrowserWindow } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { methodNames } from '../../api/contract.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export function createMainWindow(rendererIndex: string): BrowserWindow {
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
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
  win.once('ready-to-show', () => win.show());
  void win.loadFile(rendererIndex);
  return win;
}
