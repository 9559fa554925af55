/**
 * `npm run bench -- lottery` (named only, about 7.5 minutes a seed, 3.5 without the float64 run): is the
 * accuracy bench's W4A8 per-channel cell on fashion_cnn a property of the
 * studio's training, or the draw of where a 4-bit grid falls?
 *
 * For each seed (BENCH_LOTTERY_SEEDS, default 10) the studio trains the
 * network as the accuracy bench does (its torch recipe, that seed's draw of
 * initial weights and data order, 2 epochs, through runs.start on a fresh
 * SQLite file); torch's loop trains from the same start on the same batches
 * (bench/torch_w4_lottery.py); then on each model every weighted layer alone
 * goes to 4 bits per channel with its scales multiplied by 0.94 … 1.06. The
 * factor 1 is the PTQ cell's minmax grid; the mean over the factors is the
 * layer's drop without the draw of its grid. Prints, per seed and layer, both
 * sides' drops at factor 1 and their means, and over the seeds the medians
 * and the median paired difference (studio − torch from the same start).
 * Torch's loop also trains each start in float64 (BENCH_LOTTERY_FLOAT64=0
 * skips it): the paired float64 − float32 difference is what rounding alone
 * gives two trainings of the same math, the yardstick for studio − torch.
 * Each model also runs the accuracy bench's whole W4A8 per-tensor and
 * per-channel cells on torch's int8 kernels: their drops over the seeds,
 * with the permutation p the accuracy table prints (bench/draw-test.ts), say
 * whether the studio's models and torch's float64 ones part from torch's
 * float32 ones alike.
 * BENCH_LOTTERY_NET=dwsep runs the depthwise net instead.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { permutationP } from './draw-test.js';
import { median } from './median.js';
import { importBuiltinWithRecipe } from './peer-recipe-model.js';
import { FASHION } from './ptq.js';
import { signed } from './signed.js';
import { runSplits, withBenchStudio } from './studio-api.js';
import { torchOnWeightsFile, writeStudioWeights } from './torch-same-weights.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEEDS = Math.max(1, Math.floor(Number(process.env.BENCH_LOTTERY_SEEDS ?? '10')) || 10);
const NET = process.env.BENCH_LOTTERY_NET === 'dwsep' ? { key: 'dwsep', builtin: 'fashion_dwsep' } : { key: 'cnn', builtin: 'fashion_cnn' };

interface Side {
  float: number;
  /** The accuracy bench's whole W4A8 cells (per-tensor, per-channel) on torch's kernels. */
  cells: Record<string, number>;
  layers: Record<string, { at1: number; mean: number }>;
}

const pt = (v: number) => signed(v * 100);
const range = (xs: number[]) => `${pt(Math.min(...xs))} to ${pt(Math.max(...xs))}`;

export async function benchLottery(): Promise<Record<string, number>> {
  console.log(`W4 per-channel, one layer at a time, scales × 0.94 … 1.06, ${NET.key}, ${SEEDS} seeds (studio's training vs torch's from the same start); drops in points from each model's float`);
  const drops: { layer: string; studio: number; torch: number; float64?: number }[] = [];
  const cellDrops: { cell: string; studio: number; torch: number; float64?: number }[] = [];
  // false when torch's side is unavailable: no figures then.
  const complete = await withBenchStudio('lottery', async (api, datasetId, dir) => {
    // The accuracy bench's config and splits: 1,000 calibration images (unused here) and the whole test set.
    const base = { datasetId, calibration: { count: 1000, seed: 0 }, eval: { count: 10_000, seed: 1 } };
    const splits = runSplits(base);
    for (let seed = 0; seed < SEEDS; seed++) {
      const fresh = importBuiltinWithRecipe(api.studio, NET.builtin, 'torch', seed);
      const training = { epochs: 2, learningRate: 1e-3, batchSize: 64, validationSplit: 0, seed };
      const run = await api.run('float', `${NET.key}_float_seed${seed}`, { ...base, modelId: fresh.id, training });
      const file = path.join(dir, `seed${seed}.json`);
      writeStudioWeights(api.studio, run.summary.trainedModelId as number, NET.key, splits, file, { modelId: fresh.id, training, trainCount: splits.trainCount });
      const r = await torchOnWeightsFile<{ studio: Side; torch: Side; float64?: Side }>(ROOT, 'torch_w4_lottery.py', FASHION, file);
      if (typeof r === 'string') {
        console.log(`  torch side unavailable: ${r}`);
        return false;
      }
      const f64 = r.float64;
      console.log(`  seed ${seed}: float studio ${(r.studio.float * 100).toFixed(2)} %, torch from the same start ${(r.torch.float * 100).toFixed(2)} %${f64 ? `, torch in float64 ${(f64.float * 100).toFixed(2)} %` : ''}`);
      for (const [cell, s] of Object.entries(r.studio.cells)) {
        const t = r.torch.cells[cell]!;
        const d = f64?.cells[cell];
        cellDrops.push({ cell, studio: s - r.studio.float, torch: t - r.torch.float, ...(d !== undefined && f64 ? { float64: d - f64.float } : {}) });
        console.log(`    ${cell} (whole cell): studio ${pt(s - r.studio.float)}  torch ${pt(t - r.torch.float)}${d !== undefined && f64 ? `  float64 ${pt(d - f64.float)}` : ''}`);
      }
      for (const [layer, s] of Object.entries(r.studio.layers)) {
        const t = r.torch.layers[layer]!;
        const d = f64?.layers[layer];
        drops.push({ layer, studio: s.mean - r.studio.float, torch: t.mean - r.torch.float, ...(d && f64 ? { float64: d.mean - f64.float } : {}) });
        console.log(
          `    ${layer.padEnd(12)} at ×1: studio ${pt(s.at1 - r.studio.float)}  torch ${pt(t.at1 - r.torch.float)}${d && f64 ? `  float64 ${pt(d.at1 - f64.float)}` : ''}   mean over factors: studio ${pt(s.mean - r.studio.float)}  torch ${pt(t.mean - r.torch.float)}${d && f64 ? `  float64 ${pt(d.mean - f64.float)}` : ''}`,
        );
      }
    }
    return true;
  });
  if (!complete) return {};
  const figures: Record<string, number> = {};
  console.log('  over the seeds (mean over factors; median and range):');
  for (const layer of [...new Set(drops.map((d) => d.layer))]) {
    const mine = drops.filter((d) => d.layer === layer);
    const s = mine.map((d) => d.studio);
    const t = mine.map((d) => d.torch);
    const diff = mine.map((d) => d.studio - d.torch);
    const worse = diff.filter((x) => x < 0).length;
    console.log(
      `    ${layer.padEnd(12)} studio ${pt(median(s))} (${range(s)})  torch ${pt(median(t))} (${range(t)})  paired studio − torch ${pt(median(diff))} (${range(diff)}; studio lower on ${worse} of ${diff.length})`,
    );
    Object.assign(figures, { [`${layer}_studio`]: median(s), [`${layer}_torch`]: median(t), [`${layer}_paired`]: median(diff) });
    // The yardstick: the same math, rounded differently.
    const rounding = mine.flatMap((d) => (d.float64 === undefined ? [] : [d.float64 - d.torch]));
    if (rounding.length) {
      const lower = rounding.filter((x) => x < 0).length;
      console.log(`    ${''.padEnd(12)} paired float64 − torch ${pt(median(rounding))} (${range(rounding)}; float64 lower on ${lower} of ${rounding.length})`);
      figures[`${layer}_paired_float64`] = median(rounding);
    }
  }
  console.log('  the whole W4A8 cells over the seeds (median and range; p: bench/draw-test.ts, this side below torch):');
  for (const cell of [...new Set(cellDrops.map((d) => d.cell))]) {
    const mine = cellDrops.filter((d) => d.cell === cell);
    const t = mine.map((d) => d.torch);
    const side = (name: string, xs: number[]) =>
      `${name} ${pt(median(xs))} (${range(xs)}; paired − torch ${pt(median(xs.map((x, i) => x - t[i]!)))}, lower on ${xs.filter((x, i) => x < t[i]!).length} of ${xs.length}, p ${permutationP(xs, t, 'lower').toFixed(2)})`;
    const s = mine.map((d) => d.studio);
    const f64 = mine.flatMap((d) => (d.float64 === undefined ? [] : [d.float64]));
    console.log(`    ${cell}  torch ${pt(median(t))} (${range(t)})`);
    console.log(`    ${''.padEnd(cell.length)}  ${side('studio', s)}`);
    if (f64.length === t.length) console.log(`    ${''.padEnd(cell.length)}  ${side('float64', f64)}`);
    Object.assign(figures, { [`${cell}_studio`]: median(s), [`${cell}_torch`]: median(t), ...(f64.length === t.length ? { [`${cell}_float64`]: median(f64) } : {}) });
  }
  return figures;
}
