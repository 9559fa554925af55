/**
 * Exports killed with SIGKILL, as a user (or the OS) would: `node
 * bin/studio.js export ...` in a child process, stopped at a named step
 * (STUDIO_EXPORT_PAUSE_AT, see src-main/jobs/export-staging.ts) or after a
 * delay, with and without --overwrite over a good file. After each kill the
 * next start (`studio info`) runs the sweep; then the destination's bytes,
 * the leftovers in its folder, the export history and
 * `PRAGMA integrity_check` are checked. The rule: before the commit point
 * the destination is byte for byte what it was; after it, the destination
 * holds the new verified file and the history has exactly one record of it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { integrityCheck, queryAll } from '../../helpers/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const OLD = Buffer.from('the model shipped last week\n');
let db: string;

function studioSync(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts an export and SIGKILLs it when it pauses at `at` (a step name) or after `at` ms; resolves once it is dead. */
function exportAndKill(args: string[], at: string | number): Promise<{ stderr: string; killedAt: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...(typeof at === 'string' ? { STUDIO_EXPORT_PAUSE_AT: at } : {}) };
    const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', 'export', ...args], { env });
    let stderr = '';
    let killedAt = 'exited by itself';
    const timer = typeof at === 'number' ? setTimeout(() => ((killedAt = `${at} ms`), child.kill('SIGKILL')), at) : setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (typeof at === 'string' && stderr.includes(`studio-test-hook: paused at ${at}\n`) && killedAt === 'exited by itself') {
        killedAt = at;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ stderr, killedAt });
    });
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function records(dest: string): { id: number; sha256: string; size: number }[] {
  return queryAll(db, `SELECT id, sha256, size FROM exports WHERE path = ? ORDER BY id`, dest);
}

function integrity(): string {
  return integrityCheck(db);
}

/** The next start: opening the studio runs the sweep; its report is on stderr. */
function nextStart(): string {
  const r = studioSync(['info']);
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

function journals(): string[] {
  const dir = path.join(path.dirname(db), 'export-journal');
  return existsSync(dir) ? readdirSync(dir) : [];
}

before(() => {
  db = path.join(tempDir('studio-export-kill-db-'), 'studio.sqlite');
  const r = studioSync(['calibrate', '--model', '1', '--data', '1', '--calib', '100', '--eval', '100', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { id: number }).id, 1);
});

describe('exports killed with SIGKILL', () => {
  for (const step of ['write', 'audit', 'verify']) {
    test(`--overwrite, killed at ${step} (before the commit point): the old file is untouched, leftovers are swept, nothing recorded`, async () => {
      const dir = tempDir('studio-export-kill-');
      const dest = path.join(dir, 'model.tflite');
      writeFileSync(dest, OLD);
      const { killedAt, stderr } = await exportAndKill(['1', '--format', 'tflite', '--out', dest, '--overwrite'], step);
      assert.equal(killedAt, step, stderr);
      assert.deepEqual(readFileSync(dest), OLD);
      const report = nextStart();
      assert.match(report, new RegExp(`export of run 1 to ${dest} was killed before it was verified`));
      assert.deepEqual(readFileSync(dest), OLD);
      assert.deepEqual(readdirSync(dir), ['model.tflite']);
      assert.deepEqual(journals(), []);
      assert.deepEqual(records(dest), []);
      assert.equal(integrity(), 'ok');
    });
  }

  for (const [step, overwrite] of [['commit', true], ['stored', false], ['renamed', true]] as const) {
    test(`${overwrite ? '--overwrite' : 'new file'}, killed at ${step} (after the commit point): the next start puts the verified file in place and records it once`, async () => {
      const dir = tempDir('studio-export-kill-');
      const dest = path.join(dir, 'model.tflite');
      if (overwrite) writeFileSync(dest, OLD);
      const { killedAt, stderr } = await exportAndKill(['1', '--format', 'tflite', '--out', dest, ...(overwrite ? ['--overwrite'] : [])], step);
      assert.equal(killedAt, step, stderr);
      const report = nextStart();
      if (step !== 'renamed') assert.match(report, new RegExp(`export of run 1 to ${dest} was killed after it was verified; it was put in place and recorded`));
      const bytes = readFileSync(dest);
      assert.notDeepEqual(bytes, OLD);
      const rows = records(dest);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.sha256, sha(bytes));
      assert.equal(rows[0]!.size, bytes.byteLength);
      assert.deepEqual(readdirSync(dir), ['model.tflite']);
      assert.deepEqual(journals(), []);
      assert.equal(integrity(), 'ok');
      // A retry is not refused as "already exists" because of a half-done file: the history names it.
      const again = studioSync(['export', '1', '--format', 'tflite', '--out', dest, '--no-verify']);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists; choose another path or allow overwriting/);
    });
  }

  test('tfjs folder, --overwrite, killed at commit: the next start swaps the folder in and records it', async () => {
    const dir = tempDir('studio-export-kill-');
    const dest = path.join(dir, 'web_model');
    mkdirSync(dest);
    writeFileSync(path.join(dest, 'model.json'), '{"old":true}');
    const { killedAt } = await exportAndKill(['1', '--format', 'tfjs', '--out', dest, '--overwrite', '--no-verify'], 'commit');
    assert.equal(killedAt, 'commit');
    assert.equal(readFileSync(path.join(dest, 'model.json'), 'utf8'), '{"old":true}');
    nextStart();
    assert.notEqual(readFileSync(path.join(dest, 'model.json'), 'utf8'), '{"old":true}');
    assert.equal(records(dest).length, 1);
    assert.deepEqual(readdirSync(dir), ['web_model']);
    assert.equal(integrity(), 'ok');
  });

  test('killed after delays (overwrite and not): the destination is the old file or the recorded new one, never anything else', async () => {
    for (const [delay, overwrite] of [[1500, true], [3500, false], [5000, true]] as const) {
      const dir = tempDir('studio-export-kill-');
      const dest = path.join(dir, 'model.tflite');
      if (overwrite) writeFileSync(dest, OLD);
      await exportAndKill(['1', '--format', 'tflite', '--out', dest, ...(overwrite ? ['--overwrite'] : [])], delay);
      nextStart();
      const rows = records(dest);
      if (!existsSync(dest)) {
        assert.ok(!overwrite && rows.length === 0, `after ${delay} ms: ${dest} missing`);
        assert.deepEqual(readdirSync(dir), []);
      } else {
        const bytes = readFileSync(dest);
        if (bytes.equals(OLD)) assert.equal(rows.length, 0, `after ${delay} ms`);
        else assert.deepEqual(rows.map((r) => r.sha256), [sha(bytes)], `after ${delay} ms: the new file is recorded once`);
        assert.deepEqual(readdirSync(dir), ['model.tflite']);
      }
      assert.deepEqual(journals(), []);
      assert.equal(integrity(), 'ok');
    }
  });

  test('a .previous left by the old scheme is put back over the unverified file at the next start', () => {
    const dir = tempDir('studio-export-kill-');
    const dest = path.join(dir, 'model.onnx');
    // The folder is in the export history (the sweep scans those folders).
    const ok = studioSync(['export', '1', '--format', 'onnx', '--out', path.join(dir, 'recorded.onnx'), '--no-verify']);
    assert.equal(ok.code, 0, ok.stderr);
    writeFileSync(dest, 'new, unverified');
    // A pid that is not alive: the highest possible one.
    const dead = 4194304;
    writeFileSync(path.join(dir, `.model.onnx.${dead}.previous`), OLD);
    const report = nextStart();
    assert.match(report, new RegExp(`restored ${dest} from`));
    assert.deepEqual(readFileSync(dest), OLD);
    assert.deepEqual(readdirSync(dir).sort(), ['model.onnx', 'recorded.onnx']);
    const log = readFileSync(path.join(path.dirname(db), 'export-recovery.log'), 'utf8');
    assert.match(log, /"action":"restored"/);
  });
});
