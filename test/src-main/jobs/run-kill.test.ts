/**
 * PTQ and QAT runs killed with SIGKILL, as a user (or the OS) would: `node
 * bin/studio.js calibrate|qat ...` in a child process, killed at a point
 * drawn from a seeded sequence between its start and its usual end (the end
 * is measured first on this machine, so the points fall inside the run
 * whatever its speed). After each kill the next start (`studio runs`) must
 * find the database intact (`PRAGMA integrity_check`), every run finished
 * before still done with its records, and the killed run either done (the
 * kill came after its result was stored) or 'interrupted' with no records of
 * its own: nothing half-stored.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { integrityCheck, queryAll } from '../../helpers/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
let db: string;

const RUNS = {
  ptq: ['calibrate', '--model', '1', '--data', '1', '--calib', '200', '--eval', '1000'],
  qat: ['qat', '--model', '1', '--data', '1', '--calib', '100', '--eval', '300', '--epochs', '1'],
} as const;

function studio(args: readonly string[]): { code: number | null; stdout: string; stderr: string; seconds: number } {
  const t = performance.now();
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t) / 1000 };
}

function killAfter(args: readonly string[], ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

interface RunRow {
  id: number;
  status: string;
  error: string | null;
  tensors: number;
}

function runs(): RunRow[] {
  return queryAll<RunRow>(db, `SELECT r.id, r.status, r.error, (SELECT COUNT(*) FROM run_tensors t WHERE t.run_id = r.id) AS tensors FROM runs r ORDER BY r.id`);
}

function models(): number {
  return queryAll<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM models')[0]!.n;
}

function integrity(): string {
  return integrityCheck(db);
}

/** A small seeded generator (mulberry32), so a failing kill point can be replayed. */
function points(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seconds: Record<keyof typeof RUNS, number> = { ptq: 0, qat: 0 };

before(() => {
  db = path.join(tempDir('studio-run-kill-db-'), 'studio.sqlite');
  for (const kind of ['ptq', 'qat'] as const) {
    const r = studio(RUNS[kind]);
    assert.equal(r.code, 0, r.stderr);
    seconds[kind] = r.seconds;
  }
});

describe('runs killed with SIGKILL', () => {
  for (const kind of ['ptq', 'qat'] as const) {
    test(`${kind}: killed at three seeded points, the next start finds the database intact, finished runs kept, the killed run interrupted with nothing half-stored`, async () => {
      const next = points(kind === 'ptq' ? 7 : 11);
      for (let i = 0; i < 3; i++) {
        const existing = runs();
        const before = existing.filter((r) => r.status === 'done');
        const modelsBefore = models();
        // Between 0.5 s (the process is up) and the run's own measured length.
        const at = Math.round(500 + next() * Math.max(0, seconds[kind] * 1000 - 500));
        await killAfter(RUNS[kind], at);
        const start = studio(['runs']);
        assert.equal(start.code, 0, start.stderr);
        assert.equal(integrity(), 'ok');
        const after = runs();
        for (const b of before) assert.deepEqual(after.find((r) => r.id === b.id), b, `run ${b.id} finished before the kill at ${at} ms`);
        const killed = after.filter((r) => !existing.some((b) => b.id === r.id));
        assert.ok(killed.length <= 1, `one run started: ${JSON.stringify(killed)}`);
        for (const r of killed) {
          if (r.status === 'done') assert.ok(r.tensors > 0, `run ${r.id} done with its records`);
          else {
            assert.equal(r.status, 'interrupted', `run ${r.id} killed at ${at} ms: ${JSON.stringify(r)}`);
            assert.equal(r.tensors, 0, `run ${r.id} interrupted holds no records`);
            assert.match(r.error ?? '', /stopped|interrupted/);
            // A QAT run adds its trained model to the library only with its result.
            assert.equal(models(), modelsBefore, `run ${r.id} interrupted added no model`);
          }
        }
      }
    });
  }
});
