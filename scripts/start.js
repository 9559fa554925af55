#!/usr/bin/env node
// `npm start` (after `npm run build`): opens the desktop app when the Electron
// binary is there (fetching it on first run, as Electron 45 does); otherwise
// says so in one line and starts the web host, printing the URL to open.
// Arguments after `--` go to the studio, e.g. `npm start -- --db /tmp/s.sqlite`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const electronDir = path.join(root, 'node_modules', 'electron');

function electronBinary() {
  const pathFile = path.join(electronDir, 'path.txt');
  if (!existsSync(pathFile)) return null;
  const bin = path.join(electronDir, 'dist', readFileSync(pathFile, 'utf8'));
  return existsSync(bin) ? bin : null;
}

function fetchElectron() {
  if (!existsSync(path.join(electronDir, 'install.js'))) return 'the electron package is not installed';
  const r = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], { encoding: 'utf8', timeout: 300_000 });
  if (r.status === 0) return null;
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /error/i.test(l)) ?? lines[0] ?? `exit code ${r.status}`;
}

let binary = process.env.STUDIO_HOST === 'web' ? null : electronBinary();
let why = process.env.STUDIO_HOST === 'web' ? 'STUDIO_HOST=web' : null;
if (!binary && !why) {
  why = fetchElectron();
  binary = why ? null : electronBinary();
}

if (binary) {
  const native = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-electron-native.js')], { stdio: 'inherit' });
  if (native.status !== 0) console.warn('studio: could not build better-sqlite3 for Electron; see the message above.');
  const child = spawn(binary, [root, ...args], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log(`Electron binary not available (${why}); starting the browser host instead.`);
  const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), ...args, 'serve', '--port', process.env.STUDIO_PORT ?? '0'], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code) => process.exit(code ?? 0));
}
