/**
 * `studio export --format tflite` of a run with 16-bit activations, as a
 * user runs it (bin/studio.js in child processes on one SQLite file): a run
 * calibrated with `--act-bits 16 --symmetric-activations` is written as a
 * TFLite 16x8 file (int16 activations, int64 biases) and verified in the
 * interpreter; one with asymmetric 16-bit activations is refused with exit 1,
 * a message saying what to change, and no file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { decodeTflite } from '../../../src-main/export/tflite/build.js';
import { TensorType } from '../../../src-main/export/tflite/schema/generated/schema_generated.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
let db: string;
let work: string;

function studio(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function calibrate(extra: string[]): number {
  const r = studio(['calibrate', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '200', '--eval', '300', '--act-bits', '16', ...extra, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

before(() => {
  work = tempDir();
  db = path.join(tempDir('studio-cli-16x8-'), 'studio.sqlite');
});

test('a run with 16-bit symmetric activations exports as a verified TFLite 16x8 file', () => {
  const id = calibrate(['--symmetric-activations']);
  const out = path.join(work, 'cnn16.tflite');
  const r = studio(['export', String(id), '--format', 'tflite', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout) as { verification: { agreement: number; passed: boolean; count: number; settings: { batch: number } }; audit: { ok: boolean } };
  assert.equal(record.audit.ok, true);
  assert.equal(record.verification.count, 300);
  assert.ok(record.verification.agreement >= 0.995, `agreement ${record.verification.agreement}`);
  assert.ok(record.verification.passed);
  assert.ok(record.verification.settings.batch > 1);
  const sg = decodeTflite(readFileSync(out)).subgraphs[0]!;
  const conv = sg.tensors.find((t) => t.name === 'conv2d/output')!;
  assert.equal(conv.type, TensorType.INT16);
  assert.equal(Number(conv.quantization!.zeroPoint[0]), 0);
  assert.equal(sg.tensors.find((t) => t.name === 'conv2d/bias')!.type, TensorType.INT64);
});

test('a run with 16-bit asymmetric activations is refused: exit 1, what to change, no file', () => {
  const id = calibrate([]);
  const out = path.join(work, 'asym16.tflite');
  const r = studio(['export', String(id), '--format', 'tflite', '--out', out, '--json']);
  assert.equal(r.code, 1, r.stderr);
  const error = (JSON.parse(r.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, 'failed');
  assert.match(error.message, /activation input is 16-bit asymmetric; TFLite 16x8 .*--symmetric-activations/);
  assert.equal(existsSync(out), false);
});
