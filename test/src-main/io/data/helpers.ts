/** Shared by the dataset reader tests: error assertions and a NumPy runner for reference files. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DatasetError } from '../../../../src-main/io/data/errors.js';
import { npyFile } from '../../../helpers/npy.js';

export function throwsDatasetError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(file), `message should name ${file}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

const PYTHON = '/usr/bin/python3';

/** Whether /usr/bin/python3 can import numpy (the reference writer of .npy/.npz). */
export const hasNumpy: boolean = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/** Runs a Python script with numpy imported as np and `out` the folder; returns what it prints as JSON. */
export function numpy(out: string, script: string): unknown {
  const r = spawnSync(PYTHON, ['-c', `import json, numpy as np\nout = ${JSON.stringify(out)}\n${script}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : null;
}

export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `${what}[${i}] is ${actual[i]}, expected ${expected[i]} (±${tol})`);
  }
}

/** An .npy file of uint8 values. */
export function npyUint8(shape: number[], values: ArrayLike<number>): Uint8Array {
  return npyFile('|u1', shape, Uint8Array.from(values));
}

/** A dataset folder x.npy + y.npy of `n` images of `shape` (a seeded pattern) with labels i mod `classes`. */
export function writeNpyDataset(dir: string, n: number, shape: number[], classes: number): string {
  mkdirSync(dir, { recursive: true });
  const size = shape.reduce((a, b) => a * b, 1);
  writeFileSync(path.join(dir, 'x.npy'), npyUint8([n, ...shape], Array.from({ length: n * size }, (_, i) => (i * 37) % 256)));
  writeFileSync(path.join(dir, 'y.npy'), npyUint8([n], Array.from({ length: n }, (_, i) => i % classes)));
  return dir;
}
