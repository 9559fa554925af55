/**
 * `studio sensitivity` and `studio runs show` on a sensitivity run, as a
 * user runs them: bin/studio.js in child processes on one SQLite file (the
 * bundled sample CNN and Fashion-MNIST subset). What is checked against the
 * database itself: one run_sensitivity row a layer, the run's kind, its
 * subset; Ctrl-C leaves a cancelled run with no layer rows.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import type { RunDetail, SensitivityLayer } from '../../../src-main/api/contract.js';
import { queryAll } from '../../helpers/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
let db: string;

function studio(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  db = path.join(tempDir('studio-cli-sens-'), 'studio.sqlite');
});

test('studio sensitivity stores one row a layer; runs show prints them ranked, --json gives them too', () => {
  const r = studio(['sensitivity', '--model', '1', '--data', '1', '--subset', '200', '--calib', '300', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const run = JSON.parse(r.stdout) as RunDetail & { sensitivity: SensitivityLayer[] };
  assert.equal(run.kind, 'sensitivity');
  assert.equal(run.status, 'done');
  assert.equal(run.config.sensitivity?.subset, 200);
  assert.deepEqual(run.sensitivity.map((l) => l.layer), ['conv2d_input', 'conv2d', 'conv2d_1', 'dense', 'dense_1']);
  const rows = queryAll<{ layer: string; alone_accuracy: number; weights_accuracy: number | null }>(db, 'SELECT layer, alone_accuracy, weights_accuracy FROM run_sensitivity WHERE run_id = ? ORDER BY position', run.id);
  assert.deepEqual(rows.map((x) => x.layer), run.sensitivity.map((l) => l.layer));
  assert.deepEqual(rows.map((x) => x.alone_accuracy), run.sensitivity.map((l) => l.quantizedAlone.accuracy));
  assert.equal(rows[0]!.weights_accuracy, null, 'the input has no weights');
  assert.equal((run.summary as { sensitivity: { subset: number } }).sensitivity.subset, 200);

  const shown = studio(['runs', 'show', String(run.id)]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /\(sensitivity\)/);
  assert.match(shown.stdout, /on the first 200 eval samples: float \d+\.\d\d%, everything quantized \d+\.\d\d%/);
  // Ranked: the first layer row is the one losing the most accuracy quantized alone.
  const worst = [...run.sensitivity].sort((a, b) => a.quantizedAlone.accuracy - b.quantizedAlone.accuracy || (a.quantizedAlone.sqnr ?? Infinity) - (b.quantizedAlone.sqnr ?? Infinity))[0]!;
  assert.match(shown.stdout, new RegExp(`most sensitive: ${worst.layer};`));
  const table = shown.stdout.split('\n').filter((l) => /^(conv2d|dense)/.test(l));
  assert.equal(table[0]!.split(/\s+/)[0], worst.layer);
  assert.equal(studio(['runs', 'show', String(run.id), '--json']).stdout.includes('"quantizedAlone"'), true);
});

test('Ctrl-C cancels a sensitivity run: cancelled, no layer rows, exit 130', async () => {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', 'sensitivity', '--model', '1', '--data', '1', '--subset', '2000', '--eval', '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  // Wait for the case passes themselves (past calibration), then press Ctrl-C.
  // Piped progress prints whole lines: the first "sensitivity [" line means the cases are running.
  while (Date.now() < deadline && !/^sensitivity \[/m.test(stderr)) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  assert.equal(await exited, 130, stderr);
  const rows = queryAll<{ status: string; kind: string; layers: number }>(db, 'SELECT r.status, r.kind, (SELECT COUNT(*) FROM run_sensitivity s WHERE s.run_id = r.id) AS layers FROM runs r ORDER BY r.id DESC LIMIT 1');
  assert.deepEqual(rows[0], { status: 'cancelled', kind: 'sensitivity', layers: 0 });
});
