// Starts the real web host (`studio serve`) on a fresh temporary database and
// hands its token URL to the tests; stops it afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const artifactsDir = path.join(root, 'test-results', 'screenshots');

export interface RunningHost {
  url: string;
  openUrl: string;
  dbPath: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `opts.dbPath`: serve an existing database (e.g. a synthetic one) instead of a fresh one. */
export async function startStudioHost(extraArgs: string[] = [], opts: { dbPath?: string } = {}): Promise<RunningHost> {
  mkdirSync(artifactsDir, { recursive: true });
  const dbPath = opts.dbPath ?? path.join(mkdtempSync(path.join(os.tmpdir(), 'studio-e2e-db-')), 'studio.sqlite');
  const child: ChildProcess = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', dbPath, 'serve', '--port', '0', ...extraArgs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += String(d)));
  child.stderr!.on('data', (d) => (log += String(d)));
  const openUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`web host did not start in 60 s:\n${log}`)), 60_000);
    const check = () => {
      const m = log.match(/Open in your browser: (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`web host exited with ${code}:\n${log}`));
    });
  });
  return {
    url: new URL('/', openUrl).href,
    openUrl,
    dbPath,
    output: () => log,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      // A fresh database's folder is the host's own: removed once the host has exited and let go of its files.
      if (!opts.dbPath) rmSync(path.dirname(dbPath), { recursive: true, force: true });
    },
  };
}
