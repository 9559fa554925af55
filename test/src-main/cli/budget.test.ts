/**
 * `studio budget` through a child process on a real SQLite file and the
 * bundled CNN and sample data: every step is a PTQ run stored as a child of
 * the first, the chosen run is renamed "… · budget result" and holds the
 * overrides the search chose, the sizes add up from the model's layers, and
 * bad input is refused before any run is created.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { queryAll } from '../../helpers/sqlite.js';
import { tempDir } from '../../helpers/temp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
let db: string;

function studio(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, ...args], { encoding: 'utf8', timeout: 600_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  db = path.join(tempDir('studio-budget-db-'), 'studio.sqlite');
});

interface Search {
  search: {
    status: string;
    steps: { index: number; phase: string; layer: string | null; to: string | null; accuracy: number; drop: number; bytes: number; meets: boolean; kept: boolean; ref: number }[];
    result: { met: boolean; best: { ref: number; bytes: number; drop: number }; choices: { layer: string; choice: string }[]; floatAccuracy: number } | null;
  };
  bestRun: { id: number; name: string; config: { overrides: { layer: string; weightBits?: number; float?: boolean }[] }; quantAccuracy: number };
}

test('studio budget: steps as child runs, the smallest model meeting the budget chosen and named', () => {
  const base = ['budget', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '200', '--eval', '500', '--weights', 'per-tensor'];
  const r = studio([...base, '--max-drop', '1', '--menu', 'w4,w8,float', '--max-steps', '8', '--json']);
  assert.equal(r.code === 0 || r.code === 1, true, r.stderr);
  const out = JSON.parse(r.stdout) as Search;
  const { search } = out;
  assert.equal(search.status, 'done');
  const runs = queryAll<{ id: number; parent_id: number | null; kind: string; status: string; name: string; config: string }>(db, 'SELECT id, parent_id, kind, status, name, config FROM runs ORDER BY id');
  assert.equal(runs.length, search.steps.length, 'one run per step');
  assert.deepEqual(search.steps.map((s) => s.ref), runs.map((x) => x.id));
  assert.ok(runs.every((x) => x.kind === 'ptq' && x.status === 'done'));
  assert.equal(runs[0]!.parent_id, null);
  assert.ok(runs.slice(1).every((x) => x.parent_id === runs[0]!.id), 'steps are children of the first run');
  // The start: every layer at w4 (the base config's bits), no overrides.
  const first = JSON.parse(runs[0]!.config) as { weights: { bits: number }; overrides: unknown[] };
  assert.equal(first.weights.bits, 4);
  assert.deepEqual(first.overrides, []);
  // Each raise step moves one layer one rung up; sizes grow by the layer's kernel at 4 more bits.
  for (const s of search.steps.filter((x) => x.phase === 'raise')) assert.equal(s.to, 'w8a8');
  if (search.result!.met) {
    assert.equal(r.code, 0);
    const best = search.steps.find((s) => s.ref === search.result!.best.ref)!;
    assert.ok(best.meets && best.drop <= 0.01 + 1e-9);
    // Nothing meeting the budget is smaller.
    for (const s of search.steps) if (s.meets) assert.ok(s.bytes >= best.bytes);
    assert.match(out.bestRun.name, /· budget result$/);
    const raised = search.result!.choices.filter((c) => c.choice !== 'w4a8').map((c) => c.layer).sort();
    assert.deepEqual(out.bestRun.config.overrides.map((o) => o.layer).sort(), raised);
    assert.ok(out.bestRun.config.overrides.every((o) => o.weightBits === 8));
  } else {
    assert.equal(r.code, 1);
  }
  // The text form prints the table and the choice.
  const text = studio(['runs', 'show', String(search.result!.best.ref)]);
  assert.equal(text.code, 0, text.stderr);
});

test('studio budget --sensitivity-run: the layers raised in the sensitivity run\'s order (output SQNR, layer quantized alone)', () => {
  const sens = studio(['sensitivity', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '100', '--eval', '300', '--subset', '200', '--bits', '4', '--weights', 'per-tensor', '--json']);
  assert.equal(sens.code, 0, sens.stderr);
  const runId = (JSON.parse(sens.stdout) as { id: number }).id;
  const layers = queryAll<{ layer: string; alone_sqnr: number | null }>(db, 'SELECT * FROM run_sensitivity WHERE run_id = ?', runId);
  assert.ok(layers.length > 0);
  const r = studio(['budget', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '100', '--eval', '300', '--weights', 'per-tensor', '--max-drop', '0', '--menu', 'w4,w8', '--max-steps', '3', '--sensitivity-run', String(runId), '--json']);
  const out = JSON.parse(r.stdout) as Search;
  const raised = out.search.steps.filter((s) => s.phase === 'raise').map((s) => s.layer!);
  assert.ok(raised.length >= 1, r.stderr);
  // The most sensitive quantized layer (lowest SQNR alone, the input excepted) goes first.
  const bySqnr = layers.filter((l) => l.layer !== 'conv2d_input').sort((a, b) => (a.alone_sqnr ?? Infinity) - (b.alone_sqnr ?? Infinity));
  assert.equal(raised[0], bySqnr[0]!.layer);
  const notSens = studio(['budget', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--sensitivity-run', String(out.search.steps[0]!.ref)]);
  assert.notEqual(notSens.code, 0);
  assert.match(notSens.stderr, /is not a finished sensitivity analysis/);
});

test('studio budget: a bad menu or budget is refused before any run is created', () => {
  const before = queryAll<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n;
  const bad = studio(['budget', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--menu', 'w4,int8']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /"int8" is not a per-layer choice/);
  const drop = studio(['budget', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--max-drop', 'x']);
  assert.equal(drop.code, 2);
  assert.match(drop.stderr, /--max-drop is a number of points/);
  const noModel = studio(['budget', '--model', 'no_such_model', '--data', 'fashion-mnist-sample']);
  assert.notEqual(noModel.code, 0);
  assert.equal(queryAll<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n, before);
});
