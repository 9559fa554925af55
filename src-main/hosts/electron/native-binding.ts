/**
 * better-sqlite3 compiled for Electron's ABI. The Node build stays in
 * node_modules for the CLI, the web host and the tests; `npm start` builds an
 * Electron copy into build/electron-native (scripts/build-electron-native.js)
 * and the packaged app gets one from electron-builder's rebuild.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { appRoot } from '../../paths.js';

export function electronSqliteBinding(isPackaged: boolean): string | undefined {
  if (isPackaged) return undefined;
  const file = path.join(appRoot(), 'build', 'electron-native', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  return existsSync(file) ? file : undefined;
}
