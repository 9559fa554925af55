/**
 * Where things live, the same whichever host starts the studio: the user data
 * folder matches Electron's app.getPath('userData') for this product name, so
 * the desktop app, the web host and the CLI share one database by default.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PRODUCT_NAME = 'Quantization Calibration Studio';
export const DB_ENV = 'STUDIO_DB';

export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = os.homedir();
  if (platform === 'win32') return path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), PRODUCT_NAME);
  if (platform === 'darwin') return path.join(home, 'Library', 'Application Support', PRODUCT_NAME);
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), PRODUCT_NAME);
}

/** --db wins, then $STUDIO_DB, then studio.sqlite in the user data folder. */
export function resolveDbPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, dataDir: string = userDataDir(env)): string {
  if (flag) return path.resolve(flag);
  if (env[DB_ENV]) return path.resolve(env[DB_ENV]!);
  return path.join(dataDir, 'studio.sqlite');
}

/** The project (or packaged app) root: the folder holding package.json, above dist/. */
export function appRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the studio root (package.json) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

export function assetsDir(): string {
  return path.join(appRoot(), 'assets');
}

export function rendererDir(): string {
  return path.join(appRoot(), 'dist', 'renderer');
}
