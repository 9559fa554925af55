/**
 * `npm run bench -- accuracy`: the torch.ao peer table (issue 15, item 4),
 * reproduced through the studio's own API as a user would drive it (a studio
 * on a fresh SQLite file, its engine worker, runs.start for every cell), beside
 * the same cells from torch.ao eager mode (bench/torch_accuracy_peer.py).
 *
 * Recipe, both sides, for each network (the MLP dense_784_256_128_10, the CNN
 * fashion_cnn, the depthwise-separable fashion_dwsep), on Debian's full
 * Fashion-MNIST (60k train, 10k test):
 *   float      2 epochs, Adam 1e-3, batch 64, all 60k (no validation hold-out);
 *   PTQ        1,000 calibration images, minmax; W8A8 and W4A8, weights
 *              symmetric narrow range, per-tensor and per-channel;
 *   QAT        per-channel W8A8 and W4A8, 1 epoch Adam 1e-4, moving-average
 *              activation ranges (decay 0.99 = torch's averaging constant
 *              0.01), BN frozen after step 200;
 *   fine-tune  the float model 1 more epoch at Adam 1e-4 (QAT's control);
 *   recovery   W4A8 per-tensor with CLE, CLE + empirical bias correction, CLE +
 *              analytic bias correction, CLE + empirical bias correction
 *              against the float model (AIMET's; torch's _correct_bias is the
 *              plain empirical one) with minmax and with MSE weight ranges,
 *              CLE + AdaRound with MSE weight ranges (studio only; dwsep: CLE
 *              across ReLU6 as ReLU); AdaRound W4A8 per-channel and the
 *              0.5-point accuracy budget at W4 when the run config offers them.
 * The studio's networks start as the peer's do (bench/peer-recipe-model.ts:
 * PyTorch's initial weights, BN ε 1e-5 and momentum 0.1 ≙ 0.9), not from the
 * built-ins' Keras defaults; the differences left (Adam ε, data order,
 * fused activations, softmax) are listed in bench/ACCURACY.md ("How the two
 * sides match"), with what each was measured to cost.
 *
 * BENCH_ACCURACY_QUICK=1: a twentieth of each epoch and 2,000 test images
 * (checks the harness, not the figures: the studio draws its 2,000, torch
 * takes the first 2,000). BENCH_ACCURACY_NETS=mlp,cnn,dwsep
 * picks networks; BENCH_ACCURACY_TORCH=path reads the peer's JSON from a file
 * instead of running it. BENCH_ACCURACY_SEEDS=N trains the float cell with
 * seeds 0..N−1 on both sides (each side: a draw of the initial weights and
 * the data order) and compares medians: one draw of 2 epochs spreads over
 * about 2 points. The other cells start from seed 0's float model; the
 * four plain PTQ cells and the two QAT cells also run on every seed's and
 * print the median change from its own float beside torch's, so a cell is
 * not read through two different float starts nor one draw of a chaotic run;
 * each such median row also prints a permutation p (bench/draw-test.ts):
 * whether its gap between the two sides is more than their draws spread.
 * After each network's studio cells, torch.ao's four plain PTQ cells, its CLE
 * and CLE + BC also run on the studio's seed-0 float model with the studio's
 * calibration and test images (bench/torch-same-weights.ts): the same weights
 * and data on both sides, so those rows read the two simulations (and the
 * two recovery implementations) alone; their float row checks that the
 * weights were read right. Then torch's training loop trains from the
 * studio's seed-0 start (the same initial weights, the train images in the
 * studio's order, as many steps, Adam's ε) and runs its four plain PTQ cells: those
 * rows compare the two trainers and quantizers without the draw of a start
 * and an order.
 * BENCH_ACCURACY_RECIPE=keras starts the studio's networks from the built-ins'
 * own Keras defaults instead (what users get).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BudgetState } from '../src-main/api/contract.js';
import { Recovery, type RunConfigInput } from '../src-main/api/run-config.js';
import type { Studio } from '../src-main/studio.js';
import type { BuiltinRecipe } from '../src-main/io/models/builtin-recipe.js';
import { importBuiltinWithRecipe } from './peer-recipe-model.js';
import { FASHION } from './ptq.js';
import { torchOnStudioWeights, writeStudioWeights } from './torch-same-weights.js';
import { permutationP, type Side } from './draw-test.js';
import { median } from './median.js';
import { signed } from './signed.js';
import { type Api, pct, runSplits, withBenchStudio } from './studio-api.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const QUICK = process.env.BENCH_ACCURACY_QUICK === '1';
const EPOCH_FRACTION = QUICK ? 0.05 : 1;
const EVAL_COUNT = QUICK ? 2000 : 10000;
const SEEDS = Math.max(1, Math.floor(Number(process.env.BENCH_ACCURACY_SEEDS ?? '1')) || 1);
/** Data orders per seed for the QAT cells' change rows: one QAT run is one draw of a chaotic path (a W4A8 run on one float model spreads over 2.5 points by its data order alone). */
const QAT_ORDERS = Math.max(1, Math.floor(Number(process.env.BENCH_ACCURACY_QAT_ORDERS ?? '3')) || 1);
/** The k-th QAT data order of a seed (k = 0: seed + 1, as seed 0's QAT cell always took order 1); torch's are seed + 100 + 1000·k. */
const qatOrder = (seed: number, k: number) => seed + 1 + 1000 * k;
const RECIPE: BuiltinRecipe = process.env.BENCH_ACCURACY_RECIPE === 'keras' ? 'keras' : 'torch';

/** The three networks: the peer's name, the studio built-in. */
const NETS = [
  { key: 'mlp', builtin: 'dense_784_256_128_10' },
  { key: 'cnn', builtin: 'fashion_cnn' },
  { key: 'dwsep', builtin: 'fashion_dwsep' },
] as const;
type NetKey = (typeof NETS)[number]['key'];

const weights = (bits: number, granularity: 'per-tensor' | 'per-channel') => ({ bits, symmetric: true, narrowRange: true, granularity });

/** A table row: studio and torch accuracies (null: not measured, a string: why not), and its target. */
interface Cell {
  cell: string;
  studio: number | string | null;
  torch: number | string | null;
  target: Target | null;
  /** 'points': a drop (accuracy points), printed as such. */
  unit?: 'points';
  /** A median row's draws on each side (one per seed, or per seed and data order): the table prints whether its gap is more than the draw. */
  draws?: { studio: number[]; torch: number[] };
}
type Target = { kind: 'near-torch'; points: number } | { kind: 'at-least-torch'; points: number } | { kind: 'at-least'; value: number } | { kind: 'near-float'; points: number; float: number };


/** AdaRound's recovery field when the run config has one (another helper is adding it), else why not. */
function adaroundRecovery(): Record<string, unknown> | string {
  const shape = Recovery.shape as Record<string, unknown>;
  if (!('adaround' in shape)) return 'not available (the run config has no recovery.adaround yet)';
  for (const value of [true, {}]) if (Recovery.safeParse({ adaround: value }).success) return { adaround: value };
  return 'recovery.adaround exists but takes neither true nor {}: wire it in bench/accuracy.ts';
}

/** The accuracy budget (budget.start) at 0.5 pt over the default menu from W4 per-channel: the chosen run's accuracy, weight bytes and per-layer choices. */
async function budgetCell(api: Api, studio: Studio, base: Partial<RunConfigInput>, modelId: number): Promise<{ accuracy: number | string; note: string }> {
  const t0 = performance.now();
  const search = await api.call<BudgetState>('budget.start', { config: { ...base, modelId, weights: weights(4, 'per-channel'), estimator: { kind: 'minmax' } }, maxDropPoints: 0.5 });
  await studio.budgets.settled(search.id);
  const done = await api.call<BudgetState>('budget.get', { id: search.id });
  if (done.status !== 'done' || !done.result) return { accuracy: `search ${done.status}${done.error ? `: ${done.error}` : ''}`, note: '' };
  const r = done.result;
  const choices = r.choices.map((c) => `${c.layer} ${c.choice}`).join(', ');
  const note = `budget: ${r.met ? 'met' : `not met (${r.reason})`} in ${done.steps.length} steps (${Math.round((performance.now() - t0) / 1000)} s): run ${r.best.ref}, drop ${(r.best.drop * 100).toFixed(2)} pt, weights ${(r.best.bytes / 1024).toFixed(1)} KiB; ${choices}`;
  console.log(`    ${note}`);
  return { accuracy: r.met ? r.best.accuracy : `not met: best ${pct(r.best.accuracy)}`, note };
}

interface PeerRun {
  result: Promise<{ json: Record<string, unknown> | null; why: string }>;
  /** Ends the peer's process (when the studio side failed). */
  stop(): void;
}

/** torch.ao's cells, run beside the studio (it has its own 2 threads) or read from BENCH_ACCURACY_TORCH. */
function torchPeer(nets: NetKey[]): PeerRun {
  const saved = process.env.BENCH_ACCURACY_TORCH;
  const done = (json: Record<string, unknown> | null, why: string): PeerRun => ({ result: Promise.resolve({ json, why }), stop() {} });
  if (saved) return done(JSON.parse(readFileSync(saved, 'utf8')) as Record<string, unknown>, '');
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return done(null, 'no /usr/bin/python3 (apt install python3-torch)');
  const child = spawn(py, [path.join(ROOT, 'bench', 'torch_accuracy_peer.py'), FASHION], { env: { ...process.env, BENCH_ACCURACY_NETS: nets.join(',') } });
  const result = new Promise<{ json: Record<string, unknown> | null; why: string }>((resolve) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      // The peer prints each network's cells as it finishes them: partial figures survive a stopped run.
      for (const line of d.toString().split('\n')) if (line.trim()) console.log(`    torch ${line.trim().slice(0, 400)}`);
    });
    child.on('error', (e) => resolve({ json: null, why: e.message }));
    child.on('close', (code) => {
      if (code === 0) resolve({ json: JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>, why: '' });
      else resolve({ json: null, why: `exit ${code}: ${err.trim().split('\n').pop()}` });
    });
  });
  return { result, stop: () => child.kill() };
}

/** A cell's figure, or why it has none (a failed run is a row of the table, not the end of the bench). */
async function attempt(f: () => Promise<number>): Promise<number | string> {
  try {
    return await f();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.log(`    failed: ${message}`);
    return `failed: ${message.slice(0, 300)}`;
  }
}

/** The float cell over seeds: the median (what the target compares), and with several seeds the range and seed 0's figure (the model the other cells start from). As the peer's seed_figures. */
function seedFigures(accuracies: number[]): Record<string, number> {
  const sorted = [...accuracies].sort((a, b) => a - b);
  if (accuracies.length === 1) return { float: accuracies[0]! };
  return { float: median(accuracies), float_min: sorted[0]!, float_max: sorted.at(-1)!, float_seed0: accuracies[0]! };
}


/** Every studio cell of one network, each a run of the studio's API; the median rows' draws go to `draws` under the same keys. */
async function studioNet(api: Api, key: NetKey, builtin: string, datasetId: number, weightsFile: string, draws: Record<string, number[]>): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  const base = { datasetId, calibration: { count: 1000, seed: 0 }, eval: { count: EVAL_COUNT, seed: 1 } };
  const floats: number[] = [];
  const trained: number[] = [];
  const starts: number[] = [];
  const training = (seed: number) => ({ epochs: 2 * EPOCH_FRACTION, learningRate: 1e-3, batchSize: 64, validationSplit: 0, seed });
  for (let seed = 0; seed < SEEDS; seed++) {
    // Each seed its own draw of the initial weights and its own data order, as a torch seed is (seed 0: the built-in's own weights).
    const fresh = RECIPE === 'keras' && seed === 0 ? await api.call<{ id: number }>('models.importBuiltin', { name: builtin }) : importBuiltinWithRecipe(api.studio, builtin, RECIPE, seed);
    const float = await api.run('float', `${key}_float${SEEDS > 1 ? `_seed${seed}` : ''}`, { ...base, modelId: fresh.id, training: training(seed) });
    starts.push(fresh.id);
    floats.push(float.floatAccuracy!);
    trained.push(float.summary.trainedModelId as number);
  }
  Object.assign(out, seedFigures(floats));
  draws.float = floats;
  const modelId = trained[0]!;
  const splits = runSplits(base);
  writeStudioWeights(api.studio, modelId, key, splits, weightsFile, { modelId: starts[0]!, training: training(0), trainCount: splits.trainCount }, { epochs: EPOCH_FRACTION, orders: QAT_ORDERS });
  const ptqRun = (name: string, bits: number, granularity: 'per-tensor' | 'per-channel', extra: Partial<RunConfigInput> = {}) =>
    api.run('ptq', `${key}_${name}`, { ...base, modelId, weights: weights(bits, granularity), estimator: { kind: 'minmax' }, ...extra });
  const ptq = (...args: Parameters<typeof ptqRun>) => attempt(async () => (await ptqRun(...args)).quantAccuracy!);
  for (const bits of [8, 4]) {
    for (const granularity of ['per-tensor', 'per-channel'] as const) {
      const cell = `w${bits}a8_${granularity === 'per-tensor' ? 'pt' : 'pc'}`;
      out[cell] = await ptq(cell, bits, granularity);
      if (SEEDS === 1 || typeof out[cell] !== 'number') continue;
      // Each seed's drop from its own float model: the quantizer's share, apart from how well each side's seed 0 trained.
      const drops = [(out[cell] as number) - floats[0]!];
      for (let seed = 1; seed < SEEDS; seed++) {
        const r = await attempt(async () => (await ptqRun(`${cell}_seed${seed}`, bits, granularity, { modelId: trained[seed]! })).quantAccuracy!);
        if (typeof r === 'number') drops.push(r - floats[seed]!);
      }
      if (drops.length === SEEDS) {
        out[`${cell}_drop`] = median(drops);
        draws[`${cell}_drop`] = drops;
      }
    }
  }
  const relu6 = key === 'dwsep' ? 'as-relu' : 'skip';
  out.w4a8_pt_cle = await attempt(async () => {
    const cle = await ptqRun('w4a8_pt_cle', 4, 'per-tensor', { recovery: { cle: true, relu6 } });
    // With ReLU6 as ReLU the float reference is that model (the run's float accuracy).
    if (relu6 === 'as-relu') out.float_relu = cle.floatAccuracy!;
    return cle.quantAccuracy!;
  });
  // Crossing the Flatten (off by default: engine/transform/cle-pairs.ts), on the one net that has one; torch's _equalize cannot.
  if (key === 'cnn') out.w4a8_pt_cle_flat = await ptq('w4a8_pt_cle_flat', 4, 'per-tensor', { recovery: { cle: true, relu6, flatten: 'cross' } });
  out.w4a8_pt_cle_bc = await ptq('w4a8_pt_cle_bc', 4, 'per-tensor', { recovery: { cle: true, relu6, biasCorrection: 'empirical' } });
  out.w4a8_pt_cle_bca = await ptq('w4a8_pt_cle_bca', 4, 'per-tensor', { recovery: { cle: true, relu6, biasCorrection: 'analytic' } });
  // AIMET's empirical correction (each layer held to the float model's mean output), and the kernels' MSE clipping ranges (activations stay minmax).
  const wmse = { kind: 'minmax', weights: 'mse' } as const;
  out.w4a8_pt_cle_bcf = await ptq('w4a8_pt_cle_bcf', 4, 'per-tensor', { recovery: { cle: true, relu6, biasCorrection: 'empirical-float' } });
  out.w4a8_pt_cle_bcf_wmse = await ptq('w4a8_pt_cle_bcf_wmse', 4, 'per-tensor', { estimator: wmse, recovery: { cle: true, relu6, biasCorrection: 'empirical-float' } });
  const ada = adaroundRecovery();
  out.w4a8_pt_cle_ada_wmse =
    typeof ada === 'string' ? ada : await ptq('w4a8_pt_cle_ada_wmse', 4, 'per-tensor', { estimator: wmse, recovery: { cle: true, relu6, ...(ada as Partial<Recovery>) } });
  out.w4a8_pc_adaround = typeof ada === 'string' ? ada : await ptq('w4a8_pc_adaround', 4, 'per-channel', { recovery: ada as RunConfigInput['recovery'] });
  const qat = (bits: number, seed: number, k: number) =>
    attempt(async () => {
      const run = await api.run('qat', `${key}_qat_w${bits}a8_pc${seed > 0 ? `_seed${seed}` : ''}${k > 0 ? `_order${k}` : ''}`, {
        ...base,
        modelId: trained[seed]!,
        weights: weights(bits, 'per-channel'),
        estimator: { kind: 'movingaverage', decay: 0.99 },
        training: { epochs: EPOCH_FRACTION, learningRate: 1e-4, batchSize: 64, validationSplit: 0, bnFreezeStep: 200, seed: qatOrder(seed, k) },
      });
      return run.quantAccuracy!;
    });
  for (const bits of [8, 4]) {
    const cell = `qat_w${bits}a8_pc`;
    out[cell] = await qat(bits, 0, 0);
    if (SEEDS * QAT_ORDERS === 1 || typeof out[cell] !== 'number') continue;
    // As the PTQ cells: each seed's QAT from its own float model, in QAT_ORDERS data orders; the median of the changes from
    // that float, over all (and over seed 0's alone: the row beside torch's QAT on the same float model).
    const changes: number[][] = [];
    for (let seed = 0; seed < SEEDS; seed++) {
      const own: number[] = [];
      for (let k = 0; k < QAT_ORDERS; k++) {
        const r = seed === 0 && k === 0 ? out[cell] : await qat(bits, seed, k);
        if (typeof r === 'number') own.push(r - floats[seed]!);
      }
      changes.push(own);
    }
    console.log(`    ${cell}: change from its own float by seed, each data order: ${changes.map((c) => c.map((x) => signed(x * 100)).join(' ')).join(' | ')} pt`);
    if (changes[0]!.length === QAT_ORDERS) out[`${cell}_seed0_drop`] = median(changes[0]!);
    if (changes.every((c) => c.length === QAT_ORDERS)) {
      out[`${cell}_drop`] = median(changes.flat());
      draws[`${cell}_drop`] = changes.flat();
    }
  }
  out.finetune = await attempt(async () => {
    const tuned = await api.run('float', `${key}_finetune`, {
      ...base,
      modelId,
      training: { epochs: EPOCH_FRACTION, learningRate: 1e-4, batchSize: 64, validationSplit: 0, seed: 1 },
    });
    return tuned.floatAccuracy!;
  });
  if (key === 'dwsep') out.budget = await attempt(async () => (await budgetCell(api, api.studio, base, modelId)).accuracy as number);
  return out;
}

/** The four plain PTQ cells: label and key in both sides' results. */
const PLAIN_PTQ: readonly (readonly [string, string])[] = [
  ['W8A8 per-tensor', 'w8a8_pt'],
  ['W8A8 per-channel', 'w8a8_pc'],
  ['W4A8 per-tensor', 'w4a8_pt'],
  ['W4A8 per-channel', 'w4a8_pc'],
];

/** The two QAT cells: label and key in both sides' results. */
const QAT_CELLS: readonly (readonly [string, string])[] = [
  ['QAT W8A8 per-channel', 'qat_w8a8_pc'],
  ['QAT W4A8 per-channel', 'qat_w4a8_pc'],
];

/** The rows of one network: cell label, the key in both sides' results, and the target. */
function rows(key: NetKey, s: Record<string, number | string>, sd: Record<string, number[]>, t: Record<string, unknown> | null, same: Record<string, number> | string | undefined): Cell[] {
  const torch = (k: string): number | string | null => (t ? ((t[k] as number | string | undefined) ?? 'n/a') : null);
  // Both sides' draws of a median row, when both have them: the peer's `<key>_draws`, its QAT changes by seed, then data order.
  const withDraws = (c: Cell, k: string): Cell => {
    const theirs = t?.[k.startsWith('qat_') ? k.replace(/_drop$/, '_changes') : `${k}_draws`];
    const torchDraws = Array.isArray(theirs) ? (theirs as unknown[]).flat().filter((x): x is number => typeof x === 'number') : [];
    return sd[k] && torchDraws.length > 1 ? { ...c, draws: { studio: sd[k]!, torch: torchDraws } } : c;
  };
  // The near-float targets compare with the float model the cells start from (seed 0's when several seeds ran).
  const start = s.float_seed0 ?? s.float;
  const float = typeof start === 'number' ? start : NaN;
  const cell = (label: string, k: string, target: Target | null): Cell => ({ cell: `${key} ${label}`, studio: s[k] ?? null, torch: torch(k), target });
  const near = { kind: 'at-least-torch', points: 0.2 } as const;
  const range = (r: Record<string, unknown> | null) => (r && typeof r.float_min === 'number' && typeof r.float_max === 'number' ? `${pct(r.float_min)}–${pct(r.float_max)}` : '?');
  const out: Cell[] = [
    ...(SEEDS > 1
      ? [
          withDraws(cell(`float, median of ${SEEDS} seeds (studio ${range(s)}, torch ${range(t)})`, 'float', { kind: 'near-torch', points: 0.5 }), 'float'),
          cell('float, seed 0 (the model the cells below start from)', 'float_seed0', null),
        ]
      : [cell('float', 'float', { kind: 'near-torch', points: 0.5 })]),
    ...PLAIN_PTQ.map(([label, k]) => cell(label, k, near)),
    ...(same !== undefined
      ? [['float', 'float'], ...PLAIN_PTQ, ['W4A8 per-tensor CLE', 'w4a8_pt_cle'], ['W4A8 per-tensor CLE + BC', 'w4a8_pt_cle_bc']].map(([label, k]): Cell => ({
          cell: `${key} ${label}, torch on the studio's ${SEEDS > 1 ? 'seed-0 ' : ''}float model`,
          // The float row is seed 0's (the model torch read): it checks the mapping of the weights.
          studio: k === 'float' ? (start ?? null) : (s[k!] ?? null),
          torch: typeof same === 'string' ? same : (same[k!] ?? 'n/a'),
          // The PTQ rows compare the two simulations on one model (the recovery rows, the two implementations: no target).
          target: k === 'float' ? { kind: 'near-torch', points: 0.1 } : k!.includes('cle') ? null : near,
        }))
      : []),
    ...(same !== undefined
      ? [['float', 'float'], ...PLAIN_PTQ].map(([label, k]): Cell => ({
          cell: `${key} ${label}, torch trained from the studio's ${SEEDS > 1 ? 'seed-0 ' : ''}start (same weights and data order)`,
          studio: k === 'float' ? (start ?? null) : (s[k!] ?? null),
          torch: typeof same === 'string' ? same : (same[`start_${k!}`] ?? 'n/a'),
          target: k === 'float' ? { kind: 'near-torch', points: 0.5 } : near,
        }))
      : []),
    ...(SEEDS > 1
      ? PLAIN_PTQ.map(([label, k]): Cell => withDraws({ ...cell(`${label}: drop from its own float, median of ${SEEDS} seeds`, `${k}_drop`, near), unit: 'points' }, `${k}_drop`))
      : []),
    ...QAT_CELLS.map(([label, k]) => cell(label, k, near)),
    ...(SEEDS * QAT_ORDERS > 1
      ? QAT_CELLS.map(([label, k]): Cell =>
          withDraws({ ...cell(`${label}: change from its own float, median of ${SEEDS} seed${SEEDS > 1 ? 's' : ''} × ${QAT_ORDERS} data orders`, `${k}_drop`, near), unit: 'points' }, `${k}_drop`),
        )
      : []),
    // The two QAT implementations on one float model (the studio's seed 0), each in its own data orders: no draw of a float start.
    ...(same !== undefined && QAT_ORDERS > 1
      ? QAT_CELLS.map(([label, k]): Cell => ({
          cell: `${key} ${label}: change from the studio's ${SEEDS > 1 ? 'seed-0 ' : ''}float, median of ${QAT_ORDERS} data orders, torch on the same float model`,
          studio: s[`${k}_seed0_drop`] ?? null,
          torch: typeof same === 'string' ? same : (same[`${k}_drop`] ?? 'n/a'),
          target: near,
          unit: 'points',
        }))
      : []),
    cell('fine-tune 1 epoch (control)', 'finetune', null),
    ...(key === 'dwsep' ? [cell('float, ReLU6 as ReLU (CLE reference)', 'float_relu', null)] : []),
    cell('W4A8 per-tensor CLE', 'w4a8_pt_cle', null),
    ...(key === 'cnn' ? [cell('W4A8 per-tensor CLE across the Flatten (studio only)', 'w4a8_pt_cle_flat', null)] : []),
    cell('W4A8 per-tensor CLE + BC', 'w4a8_pt_cle_bc', key === 'dwsep' ? { kind: 'at-least', value: 0.85 } : null),
    cell('W4A8 per-tensor CLE + analytic BC', 'w4a8_pt_cle_bca', null),
    cell('W4A8 per-tensor CLE + BC against the float model (AIMET’s)', 'w4a8_pt_cle_bcf', null),
    cell('W4A8 per-tensor CLE + BC against the float model (MSE weight ranges)', 'w4a8_pt_cle_bcf_wmse', null),
    cell('W4A8 per-tensor CLE + AdaRound (MSE weight ranges)', 'w4a8_pt_cle_ada_wmse', null),
    cell('W4A8 per-channel AdaRound', 'w4a8_pc_adaround', { kind: 'near-float', points: 1.0, float }),
  ];
  if (key === 'dwsep') out.push(cell('accuracy budget 0.5 pt from W4 per-channel (chosen run)', 'budget', { kind: 'near-float', points: 0.5, float }));
  return out;
}

// Accuracies are counts over the test set, differences of them float noise away from a tie: a drop of
// exactly 0.50 pt computed as 0.5000000000000004 is the budget met (as engine/budget/search.ts reads it).
const TIE = 1e-9;

function verdict(c: Cell): { target: string; met: string } {
  const s = c.studio;
  const t = c.torch;
  if (!c.target) return { target: '', met: '' };
  const g = c.target;
  if (g.kind === 'at-least') return { target: `≥ ${pct(g.value)}`, met: typeof s === 'number' ? (s >= g.value - TIE ? 'met' : 'MISSED') : '' };
  if (g.kind === 'near-float') return { target: `≥ float − ${g.points} pt`, met: typeof s === 'number' ? ((g.float - s) * 100 <= g.points + TIE ? 'met' : 'MISSED') : '' };
  const label = g.kind === 'near-torch' ? `torch ± ${g.points} pt` : `≥ torch − ${g.points} pt`;
  if (typeof s !== 'number' || typeof t !== 'number') return { target: label, met: '' };
  const d = (s - t) * 100;
  const ok = g.kind === 'near-torch' ? Math.abs(d) <= g.points + TIE : d >= -g.points - TIE;
  return { target: label, met: ok ? 'met' : 'MISSED' };
}

/**
 * A median row's permutation p (bench/draw-test.ts): how often relabelling the two sides' pooled draws puts the studio
 * at least this far below torch (the ≥ torch − x rows), or this far from it either way (the ± rows). A row met or
 * missed at p well above 0.05 is within the draw: more draws, not another implementation, would decide it.
 * The QAT rows pool seeds and data orders; the orders of one seed share its float, so their p reads somewhat low.
 */
function drawP(c: Cell): string {
  if (!c.draws || c.draws.studio.length < 2) return '';
  const side: Side = c.target?.kind === 'near-torch' ? 'either' : 'lower';
  return permutationP(c.draws.studio, c.draws.torch, side).toFixed(2);
}

function printTable(cells: Cell[]): void {
  // A cell that could not be measured shows "n/a" with a numbered note under the table saying why.
  const notes: string[] = [];
  const fmt = (v: number | string | null, unit?: 'points') => {
    if (typeof v === 'number') return unit === 'points' ? `${signed(v * 100)} pt` : pct(v);
    if (v === null || v === 'n/a') return v ?? '—';
    if (!notes.includes(v)) notes.push(v);
    return `n/a [${notes.indexOf(v) + 1}]`;
  };
  const head = ['cell', 'studio', 'torch.ao', 'difference', 'target', '', 'draw p'];
  const body = cells.map((c) => {
    const d = typeof c.studio === 'number' && typeof c.torch === 'number' ? (c.studio - c.torch) * 100 : null;
    const v = verdict(c);
    return [c.cell, fmt(c.studio, c.unit), fmt(c.torch, c.unit), d === null ? '' : `${signed(d)} pt`, v.target, v.met, drawP(c)];
  });
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((x, i) => (i === 0 || i === 4 ? x.padEnd(width[i]!) : x.padStart(width[i]!))).join('  ')}`.trimEnd();
  console.log(line(head));
  for (const r of body) console.log(line(r));
  notes.forEach((n, i) => console.log(`  [${i + 1}] ${n}`));
  // Each median row's draws, so its p can be read again from the log.
  for (const c of cells.filter((c) => c.draws)) {
    const show = (xs: number[]) => xs.map((x) => (c.unit === 'points' ? signed(x * 100) : (x * 100).toFixed(2))).join(' ');
    console.log(`  draws of ${c.cell}: studio ${show(c.draws!.studio)} | torch ${show(c.draws!.torch)}`);
  }
}

export async function benchAccuracy(): Promise<Record<string, number>> {
  const picked = (process.env.BENCH_ACCURACY_NETS ?? 'mlp,cnn,dwsep').split(',').filter(Boolean);
  const nets = NETS.filter((n) => picked.includes(n.key));
  console.log(
    `accuracy beside torch.ao on Fashion-MNIST (${QUICK ? 'QUICK: a twentieth of each epoch, ' : ''}${EVAL_COUNT} test images, 1,000 calibration, float over ${SEEDS} seed${SEEDS > 1 ? 's' : ''}, studio networks from the ${RECIPE} recipe), networks: ${nets.map((n) => n.key).join(', ')}`,
  );
  const peer = torchPeer(nets.map((n) => n.key));
  const results: Partial<Record<NetKey, Record<string, number | string>>> = {};
  const sameWeights: Partial<Record<NetKey, Record<string, number> | string>> = {};
  const draws: Partial<Record<NetKey, Record<string, number[]>>> = {};
  try {
    await withBenchStudio('accuracy', async (api, datasetId, dir) => {
      for (const n of nets) {
        console.log(`  studio ${n.key} (${n.builtin}):`);
        // Without its float model a network has no other cell.
        const weightsFile = path.join(dir, `${n.key}-float.json`);
        draws[n.key] = {};
        results[n.key] = await studioNet(api, n.key, n.builtin, datasetId, weightsFile, draws[n.key]!).catch((e: unknown) => ({ float: `failed: ${e instanceof Error ? e.message : String(e)}` }));
        if (existsSync(weightsFile)) {
          console.log(`  torch.ao's PTQ cells on the studio's ${n.key} float model:`);
          sameWeights[n.key] = await torchOnStudioWeights(ROOT, FASHION, weightsFile);
          console.log(`    ${JSON.stringify(sameWeights[n.key])}`);
        }
      }
    });
  } catch (err) {
    peer.stop();
    throw err;
  }
  const torch = await peer.result;
  if (!torch.json) console.log(`  torch.ao peer unavailable: ${torch.why}`);
  else console.log(`  torch.ao ${torch.json.torch} (${torch.json.threads} threads, ${torch.json.engine} engine)${torch.json.quick !== QUICK || (torch.json.seeds ?? 1) !== SEEDS ? ' — NOTE: peer and studio ran in different modes (quick, seeds)' : ''}`);
  const peerNets = (torch.json?.nets ?? {}) as Record<string, Record<string, unknown>>;
  // torch's QAT changes run by run, as the studio's are printed beside its runs (the table keeps the medians).
  for (const [net, cells] of Object.entries(peerNets)) {
    for (const [k, v] of Object.entries(cells)) {
      if (k.endsWith('_changes') && Array.isArray(v)) console.log(`  torch ${net} ${k.replace(/_changes$/, '')}: change from its own float by seed, each data order: ${(v as number[][]).map((c) => c.map((x) => signed(x * 100)).join(' ')).join(' | ')} pt`);
    }
  }
  const cells = nets.flatMap((n) => rows(n.key, results[n.key]!, draws[n.key] ?? {}, torch.json ? (peerNets[n.key] ?? {}) : null, sameWeights[n.key]));
  printTable(cells);
  const figures: Record<string, number> = {};
  for (const n of nets) {
    for (const [k, v] of Object.entries(results[n.key]!)) if (typeof v === 'number') figures[`${n.key}_${k}`] = v;
    for (const [k, v] of Object.entries(peerNets[n.key] ?? {})) if (typeof v === 'number') figures[`torch_${n.key}_${k}`] = v;
    const same = sameWeights[n.key];
    if (typeof same === 'object') for (const [k, v] of Object.entries(same)) if (typeof v === 'number') figures[`torch_same_${n.key}_${k}`] = v;
  }
  return figures;
}
