/**
 * The CLI as a user runs it: bin/studio.js in child processes on one SQLite
 * file. Exit codes (0, 1 failed, 2 usage with the usage line, 130 Ctrl-C),
 * errors as JSON with --json, --version, --config under the flags, --seed,
 * runs show / compare / rename / delete, models add-builtin, a dataset that
 * does not fit refused before a run exists, and piped progress.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { queryAll } from '../../helpers/sqlite.js';
import { tempDir } from '../../helpers/temp.js';
import { writeNpyDataset } from '../io/data/helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
let db: string;
let work: string;

function studio(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', ...args], { cwd: work, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json<T>(args: string[]): T {
  const r = studio([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

/** The JSON error object a --json command wrote last on stderr. */
function jsonError(stderr: string): { code: string; message: string; usage?: string; runId?: number } {
  const line = stderr.trim().split('\n').at(-1)!;
  return (JSON.parse(line) as { error: { code: string; message: string } }).error;
}

interface Run {
  id: number;
  name: string;
  status: string;
  config: { calibration: { count: number; seed: number }; eval: { count: number; seed: number }; weights: { bits: number; granularity: string; symmetric: boolean }; estimator: { kind: string }; training?: { seed: number; epochs: number } };
}

const runCount = () => queryAll<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n;

before(() => {
  work = tempDir();
  db = path.join(tempDir('studio-cli-db-'), 'studio.sqlite');
});

test('--version prints the package version; usage errors exit 2 with the usage line, as JSON with --json', () => {
  const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const v = studio(['--version']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), version);

  const unknown = studio(['calibrate', '--model', '1', '--data', '1', '--bitz', '4']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /studio: unknown option '--bitz'/);
  assert.match(unknown.stderr, /\nusage: studio calibrate \[options\]\n$/);

  const noModel = studio(['calibrate', '--data', '1', '--json']);
  assert.equal(noModel.code, 2);
  assert.deepEqual(jsonError(noModel.stderr), { code: 'usage', message: '--model is required (or "modelId" in the --config file)', usage: 'studio calibrate [options]' });

  const badId = studio(['runs', 'show', 'x']);
  assert.equal(badId.code, 2);
  assert.match(badId.stderr, /a run id is a positive integer, got "x"\nusage: studio runs show \[options\] <id>/);

  const missing = studio(['runs', 'show', '99', '--json']);
  assert.equal(missing.code, 1);
  assert.deepEqual(jsonError(missing.stderr), { code: 'not_found', message: 'run 99 does not exist' });
});

test('--config gives the run config, the flags given override it, --seed sets the calibration sample; runs show prints it back', () => {
  const file = path.join(work, 'run.json');
  writeFileSync(file, JSON.stringify({ modelId: 1, datasetId: 1, weights: { bits: 4, granularity: 'per-tensor' }, calibration: { count: 100 }, eval: { count: 200 }, estimator: { kind: 'percentile', percentile: 99.9 } }));
  const a = json<Run>(['calibrate', '--config', file, '--bits', '6', '--seed', '5', '--name', 'from-file']);
  assert.equal(a.status, 'done');
  // From the file: per-tensor, 100 / 200 samples, the percentile estimator; from the flags: 6 bits, seed 5; the eval split keeps seed 1.
  assert.deepEqual(
    [a.config.weights.bits, a.config.weights.granularity, a.config.weights.symmetric, a.config.calibration, a.config.eval, a.config.estimator.kind],
    [6, 'per-tensor', true, { count: 100, seed: 5 }, { count: 200, seed: 1 }, 'percentile'],
  );
  assert.equal(a.config.training, undefined, 'a PTQ run has no training part');

  // The whole `runs show --json` output is a config file too: the same run again, with one flag changed.
  const shown = path.join(work, 'shown.json');
  const show = studio(['runs', 'show', String(a.id), '--json']);
  assert.equal(show.code, 0, show.stderr);
  writeFileSync(shown, show.stdout);
  const b = json<Run>(['calibrate', '--config', shown, '--weights', 'per-channel', '--bits', '8', '--name', 'per-channel']);
  assert.deepEqual([b.config.weights.bits, b.config.weights.granularity, b.config.calibration, b.config.estimator.kind], [8, 'per-channel', { count: 100, seed: 5 }, 'percentile']);

  const bad = path.join(work, 'bad.json');
  writeFileSync(bad, JSON.stringify({ weights: { bits: 40 } }));
  const refused = studio(['calibrate', '--config', bad, '--json']);
  assert.equal(refused.code, 2);
  assert.deepEqual(jsonError(refused.stderr), { code: 'usage', message: `--config ${bad}: weights.bits: bits must be between 2 and 16`, usage: 'studio calibrate [options]' });
  const notJson = studio(['calibrate', '--config', path.join(work, 'none.json')]);
  assert.equal(notJson.code, 2);
  assert.match(notJson.stderr, new RegExp(`--config ${path.join(work, 'none.json').replace(/[.]/g, '\\.')}: not found`));
});

test('qat: --seed seeds the calibration sample and the training (training.seed), over a --config file and the command defaults', () => {
  const file = path.join(work, 'qat.json');
  writeFileSync(file, JSON.stringify({ modelId: 1, datasetId: 1, calibration: { count: 100 }, eval: { count: 100 }, training: { epochs: 0.05 } }));
  const run = json<Run & { config: { training: { seed: number; epochs: number; learningRate: number } } }>(['qat', '--config', file, '--seed', '3']);
  assert.equal(run.status, 'done');
  // epochs from the file, the learning rate from qat's own default (1e-4), the seed from the flag.
  assert.deepEqual([run.config.training.epochs, run.config.training.learningRate, run.config.training.seed, run.config.calibration.seed, run.config.eval.seed], [0.05, 0.0001, 3, 3, 1]);
});

test('runs compare prints a per-tensor table of two runs; rename and delete go through the same API', () => {
  const runs = json<Run[]>(['runs']);
  const a = runs.find((r) => r.name === 'from-file')!;
  const b = runs.find((r) => r.name === 'per-channel')!;
  const cmp = json<{ layers: { layer: string; role: string; a: { bits: number; sqnr: number | null } | null; b: { bits: number; sqnr: number | null } | null; sqnrDelta: number | null }[] }>(['runs', 'compare', String(a.id), String(b.id)]);
  const conv = cmp.layers.find((r) => r.layer === 'conv2d' && r.role === 'weight')!;
  assert.deepEqual([conv.a!.bits, conv.b!.bits], [6, 8]);
  assert.ok(Math.abs(conv.sqnrDelta! - (conv.b!.sqnr! - conv.a!.sqnr!)) < 1e-9);
  // Two more bits are ~12 dB (6.02 dB a bit), and per-channel ranges only add: the 8-bit per-channel kernel gains more than 10 dB.
  assert.ok(conv.sqnrDelta! > 10, `conv2d kernel SQNR gain ${conv.sqnrDelta}`);
  const text = studio(['runs', 'compare', String(a.id), String(b.id)]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^A: run \d+ from-file \(ptq, done\)/);
  assert.match(text.stdout, /layer\s+role\s+A\s+B\s+A SQNR dB\s+B SQNR dB\s+Δ dB/);
  assert.match(text.stdout, /\nconv2d\s+weight\s+6b tensor\s+8b ch\s/);

  const renamed = json<Run>(['runs', 'rename', String(a.id), 'four-to-six']);
  assert.equal(renamed.name, 'four-to-six');
  assert.ok(json<Run[]>(['runs']).some((r) => r.id === a.id && r.name === 'four-to-six'));
  const del = studio(['runs', 'delete', String(a.id)]);
  assert.equal(del.code, 0, del.stderr);
  assert.equal(jsonError(studio(['runs', 'show', String(a.id), '--json']).stderr).code, 'not_found');
});

test('models add-builtin stores a built-in with its derived description; a wrong name lists the built-ins', () => {
  const m = json<{ name: string; description: string; layerCount: number }>(['models', 'add-builtin', 'fashion_dwsep']);
  assert.equal(m.name, 'fashion_dwsep');
  assert.match(m.description, new RegExp(`${m.layerCount} layers after the input`));
  const wrong = studio(['models', 'add-builtin', 'resnet9000', '--json']);
  assert.equal(wrong.code, 1);
  assert.deepEqual(jsonError(wrong.stderr), { code: 'not_found', message: 'no built-in model named "resnet9000" (have: dense_784_256_128_10, conv_bn_relu_dense, fashion_cnn, fashion_dwsep)' });
});

test('a dataset that does not fit the model is refused before a run exists, by lint and by calibrate', () => {
  const data = json<{ id: number }>(['import-data', writeNpyDataset(path.join(work, 'rgb32'), 40, [32, 32, 3], 10), '--name', 'rgb32']);
  const before = runCount();
  const lint = studio(['lint', '--model', 'fashion_cnn_sample', '--data', 'rgb32']);
  assert.equal(lint.code, 1);
  assert.match(lint.stdout, /error\s+\(model\)\s+dataset "rgb32" \(32x32x3, 10 classes\) does not fit model "fashion_cnn_sample" \(input 28x28x1, 10 classes\)/);
  const run = studio(['calibrate', '--model', '1', '--data', String(data.id), '--json']);
  assert.equal(run.code, 1);
  const e = jsonError(run.stderr);
  assert.equal(e.code, 'invalid_input');
  assert.match(e.message, /dataset "rgb32" .* does not fit model "fashion_cnn_sample" .*\[32,32,3\] \(3072 values\) but the model expects inputs of shape \[28,28,1\] \(784 values\)/);
  assert.equal(runCount(), before, 'no run row');
});

test('targets lists the profiles; a config a target cannot hold is refused before a run exists, naming the layer', () => {
  const targets = json<{ name: string; rules: string[] }[]>(['targets']);
  assert.deepEqual(targets.map((t) => t.name), ['tflite-int8', 'onnx-ort-cpu', 'onnx-tensorrt']);
  assert.ok(targets[0]!.rules.some((r) => /^weights: 8-bit, symmetric/.test(r)));
  const before = runCount();
  const lint = studio(['lint', '--model', 'fashion_cnn_sample', '--data', '1', '--target', 'tflite-int8', '--bits', '4']);
  assert.equal(lint.code, 1);
  assert.match(lint.stdout, /error\s+conv2d\s+layer conv2d \(and 3 more layers\): weight conv2d\/kernel has 4 bits; tflite-int8 stores 8-bit weights\.\n\s+fix: Set weights\.bits to 8 \(--bits 8\)/);
  const run = studio(['calibrate', '--model', '1', '--data', '1', '--target', 'tflite-int8', '--bits', '4', '--json']);
  assert.equal(run.code, 1);
  assert.equal(jsonError(run.stderr).code, 'invalid_input');
  assert.equal(runCount(), before, 'no run row');
});

test('qat --target: a config the target cannot hold is refused before a run exists; a QAT run with a target exports at its own accuracy', () => {
  json<Run[]>(['runs']); // opens (creates) the database when this test runs alone
  const before = runCount();
  const refused = studio(['qat', '--model', '1', '--data', '1', '--target', 'tflite-int8', '--bits', '4', '--epochs', '0.05', '--json']);
  assert.equal(refused.code, 1, refused.stderr);
  const error = jsonError(refused.stderr);
  assert.equal(error.code, 'invalid_input');
  assert.match(error.message, /conv2d: layer conv2d .*4 bits; tflite-int8 stores 8-bit weights/);
  assert.equal(runCount(), before, 'no run row');

  const run = json<Run & { quantAccuracy: number; config: { target?: string } }>(['qat', '--model', '1', '--data', '1', '--target', 'tflite-int8', '--epochs', '0.05', '--calib', '200', '--eval', '300', '--seed', '2']);
  assert.equal(run.status, 'done');
  assert.equal(run.config.target, 'tflite-int8');
  const exported = json<{ verification: { runtimeAccuracy: number; count: number } }>(['export', String(run.id), '--format', 'tflite', '--out', path.join(work, 'qat-target.tflite')]);
  assert.equal(exported.verification.count, 300);
  assert.ok(Math.abs(exported.verification.runtimeAccuracy - run.quantAccuracy) * 300 <= 1 + 1e-9, `file ${exported.verification.runtimeAccuracy} vs run ${run.quantAccuracy}`);
});

test('a run that fails while it works exits 1 with the run printed and the error as JSON', () => {
  const dir = writeNpyDataset(path.join(work, 'shrinks'), 40, [28, 28, 1], 10);
  const data = json<{ id: number }>(['import-data', dir, '--name', 'shrinks']);
  // The labels change on disk after the import: the run reads 13 classes where 10 were recorded (and checked).
  writeNpyDataset(dir, 40, [28, 28, 1], 13);
  const r = studio(['calibrate', '--model', '1', '--data', String(data.id), '--calib', '10', '--eval', '10', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const run = JSON.parse(r.stdout) as Run & { error: string };
  assert.equal(run.status, 'failed');
  const e = jsonError(r.stderr);
  assert.equal(e.code, 'run_failed');
  assert.equal(e.runId, run.id);
  assert.match(e.message, new RegExp(`^run ${run.id} failed: .*shrinks`));
});

test('Ctrl-C cancels the run cleanly and exits 130: the run is cancelled with no results stored', async () => {
  const before = runCount();
  const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', 'calibrate', '--model', '1', '--data', '1', '--calib', '2000', '--eval', '4000', '--estimator', 'entropy'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Wait until the run is working, then press Ctrl-C.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && queryAll<{ n: number }>(db, "SELECT COUNT(*) AS n FROM runs WHERE status = 'running'")[0]!.n === 0) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr);
  assert.match(stderr, /cancelling run (\d+)…\nstudio: run \1 cancelled/);
  const rows = queryAll<{ id: number; status: string; tensors: number }>(db, 'SELECT r.id, r.status, (SELECT COUNT(*) FROM run_tensors t WHERE t.run_id = r.id) AS tensors FROM runs r ORDER BY r.id DESC LIMIT 1');
  assert.equal(runCount(), before + 1);
  assert.deepEqual(rows[0]!.status, 'cancelled');
  assert.equal(rows[0]!.tensors, 0, 'nothing half-stored');
});

test('piped export progress: every step is printed complete, none left at 0/1', () => {
  const run = json<Run[]>(['runs']).find((r) => r.name === 'per-channel')!;
  const out = path.join(work, 'piped.onnx');
  const r = studio(['export', String(run.id), '--format', 'onnx', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => /\[[#-]+\] \d+\/\d+/.test(l));
  const steps = lines.map((l) => /^(\S+)\s+\[[#-]+\] (\d+)\/(\d+)/.exec(l)!).map((m) => ({ phase: m[1]!, done: Number(m[2]), total: Number(m[3]) }));
  assert.ok(steps.length >= 4, r.stderr);
  for (const s of steps.filter((x) => x.phase !== 'verify')) assert.equal(s.done, s.total, `${s.phase} printed complete: ${r.stderr}`);
  const phases = steps.map((s) => s.phase);
  for (const p of ['write', 'audit', 'verify', 'store']) assert.ok(phases.includes(p), `${p} in ${phases.join(',')}`);
  const lastVerify = steps.filter((s) => s.phase === 'verify').at(-1)!;
  assert.equal(lastVerify.done, lastVerify.total);
  assert.ok(lastVerify.total >= 200, 'the verification counts the eval samples');
  assert.doesNotMatch(r.stderr, /\r/, 'no carriage returns when piped');
});

test('export --diff prints the layer-by-layer diff of the file: one row a quantized tensor, in the model order, every one within a step', () => {
  const run = json<Run[]>(['runs']).find((r) => r.name === 'per-channel')!;
  const r = studio(['export', String(run.id), '--format', 'tflite', '--out', path.join(work, 'diffed.tflite'), '--diff']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /layer diff on the first 64 eval samples/);
  const header = r.stdout.split('\n').findIndex((l) => /^#\s+layer\s+tensor\s+max \|diff\|/.test(l));
  assert.ok(header >= 0, r.stdout);
  const rows = r.stdout.split('\n').slice(header + 1).filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.trim().split(/\s+/));
  // The sample CNN in TFLite: input, conv2d, conv2d_1, dense, the logits and the softmax output.
  assert.deepEqual(rows.map((c) => c[2]), ['input', 'conv2d/output', 'conv2d_1/output', 'dense/output', 'dense_1/logits', 'dense_1/output']);
  for (const c of rows) assert.ok(Number(c[3]) <= 1, `${c[1]}: ${c[3]} steps`);
  assert.match(r.stdout, /every layer within 1 step of the simulation/);
});

test('Ctrl-C during an export cancels it and exits 130: no file, no staging leftovers, no record', async () => {
  const run = json<Run[]>(['runs']).find((r) => r.name === 'per-channel')!;
  const dir = tempDir();
  const out = path.join(dir, 'cancelled.onnx');
  const child = spawn(process.execPath, [path.join(root, 'bin', 'studio.js'), '--db', db, '--backend', 'cpu', 'export', String(run.id), '--format', 'onnx', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    // The write step is printed complete when the audit begins: the file exists only as a staging copy now.
    if (!sent && /^write\s+\[#+\] 1\/1/m.test(stderr)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.ok(sent, stderr);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /cancelling the export…\nstudio: export of run \d+ to .*cancelled\.onnx was cancelled; nothing was written/);
  assert.deepEqual(readdirSync(dir), [], 'no file and no staging copy');
  assert.equal(queryAll<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM exports WHERE path = ?', out)[0]!.n, 0);
});

test('--cle-flatten cross equalizes conv2d_1 → dense through the Flatten, which plain --cle skips and lists', () => {
  const runs = ['skip', 'cross'].map((how) =>
    json<Run & { config: { recovery: { cle: boolean; flatten: string } }; summary: { recovery: { cle: { equalized: { first: string; second: string }[]; skipped: { first: string; reason: string }[] } } } }>(
      ['calibrate', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '50', '--eval', '50', ...(how === 'skip' ? ['--cle'] : ['--cle-flatten', how])],
    ),
  );
  const pairs = (r: (typeof runs)[number]) => r.summary.recovery.cle.equalized.map((p) => `${p.first}>${p.second}`);
  assert.deepEqual(runs.map((r) => [r.status, r.config.recovery.cle, r.config.recovery.flatten]), [['done', true, 'skip'], ['done', true, 'cross']]);
  assert.deepEqual(pairs(runs[0]!), ['conv2d>conv2d_1', 'dense>dense_1']);
  assert.match(runs[0]!.summary.recovery.cle.skipped[0]!.reason, /run with CLE across Flatten/);
  assert.deepEqual(pairs(runs[1]!), ['conv2d>conv2d_1', 'conv2d_1>dense', 'dense>dense_1']);
  assert.match(runs[1]!.name, /_cleflat$/);
});

test('--adaround with fewer calibration samples than a batch is refused before a run exists, naming both numbers', () => {
  json(['models']); // opens (creates) the database when this test runs alone
  const before = runCount();
  const r = studio(['calibrate', '--model', 'fashion_cnn_sample', '--data', 'fashion-mnist-sample', '--calib', '20', '--adaround-iterations', '50', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const e = jsonError(r.stderr);
  assert.equal(e.code, 'invalid_input');
  assert.match(e.message, /AdaRound needs at least one batch of 32 calibration samples; the calibration split has 20/);
  assert.equal(runCount(), before, 'no run row');
});
