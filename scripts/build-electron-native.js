#!/usr/bin/env node
// Builds a second copy of better-sqlite3 against Electron's ABI into
// build/electron-native, leaving the Node build in node_modules untouched
// (the CLI, the web host and the tests use that one). Skips when up to date.
// The packaged app does not need this: electron-builder rebuilds for it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const electronVersion = JSON.parse(readFileSync(path.join(root, 'node_modules', 'electron', 'package.json'), 'utf8')).version;
const source = path.join(root, 'node_modules', 'better-sqlite3');
const sqliteVersion = JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf8')).version;
const target = path.join(root, 'build', 'electron-native', 'better-sqlite3');
const stamp = path.join(target, '.built-for');
const want = `electron ${electronVersion} better-sqlite3 ${sqliteVersion}`;

if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) process.exit(0);
rmSync(target, { recursive: true, force: true });
cpSync(source, target, { recursive: true, filter: (p) => !p.includes(`${path.sep}build${path.sep}`) });

// npm ships node-gyp; use it rather than adding another dependency.
const npmDir = process.env.npm_execpath ? path.resolve(path.dirname(process.env.npm_execpath), '..') : null;
const gyp = npmDir && existsSync(path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  ? path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  : null;
if (!gyp) {
  console.error('studio: node-gyp (bundled with npm) not found; run this through npm (`npm start`).');
  process.exit(1);
}
console.log(`studio: building better-sqlite3 for Electron ${electronVersion} (once)…`);
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--release', `--target=${electronVersion}`, '--runtime=electron', '--dist-url=https://electronjs.org/headers'], {
  cwd: target,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);
writeFileSync(stamp, want);
