// The desktop app through Playwright's Electron driver, where the Electron
// binary is installed. On machines without it (it is downloaded from GitHub
// on first run) the test is reported as skipped with that reason.
import { _electron as electron, expect, test } from '@playwright/test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { artifactsDir, root } from './studio-host.js';

function electronBinary(): string | null {
  const dir = path.join(root, 'node_modules', 'electron');
  const pathFile = path.join(dir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const bin = path.join(dir, 'dist', readFileSync(pathFile, 'utf8'));
  return existsSync(bin) ? bin : null;
}

const binary = electronBinary();

test('the desktop window opens and shows the backend', async () => {
  test.skip(!binary, 'Electron binary not installed (node_modules/electron/dist missing; `npx install-electron` needs GitHub)');
  const dbDir = mkdtempSync(path.join(os.tmpdir(), 'studio-electron-'));
  const db = path.join(dbDir, 'studio.sqlite');
  const app = await electron.launch({ executablePath: binary!, args: [root, '--db', db], cwd: root });
  try {
    const win = await app.firstWindow();
    await expect(win.getByTestId('status-backend')).toContainText(/wasm|cpu|tensorflow/);
    await win.screenshot({ path: path.join(artifactsDir, 'electron-shell.png') });
  } finally {
    await app.close();
    rmSync(dbDir, { recursive: true, force: true });
  }
});
