/**
 * `npm run bench -- trainer` (named only, about 3 minutes): does the studio's
 * native trainer take the same steps as torch's loop?
 *
 * The accuracy bench compares models each side trained; two trainings of one
 * start already end 2 points apart, so a small systematic difference in the
 * training math would hide in the draw. Here, for each network
 * (BENCH_TRAINER_NETS, default cnn,dwsep) and step count (BENCH_TRAINER_STEPS,
 * default 1,20,200), the studio trains the accuracy bench's start (torch
 * recipe, seed 0) for that many steps through runs.start, and
 * bench/torch_trainer_agreement.py trains torch's loop from the same start on
 * the same batches, in float32 and in float64. Per parameter it prints the
 * distance of the studio's weights and of the float64 run's from torch's
 * float32 weights, relative to how far float32 moved them; the medians over
 * the parameters are the figures. Same math shows as studio ≈ float64:
 * rounding, grown by the steps, and nothing else.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './median.js';
import { importBuiltinWithRecipe } from './peer-recipe-model.js';
import { FASHION } from './ptq.js';
import { runSplits, withBenchStudio } from './studio-api.js';
import { torchOnWeightsFile, writeStudioWeights } from './torch-same-weights.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILTINS: Record<string, string> = { mlp: 'dense_784_256_128_10', cnn: 'fashion_cnn', dwsep: 'fashion_dwsep' };
const NETS = (process.env.BENCH_TRAINER_NETS ?? 'cnn,dwsep').split(',').filter((n) => n in BUILTINS);
const STEPS = (process.env.BENCH_TRAINER_STEPS ?? '1,20,200').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const BATCH = 64;

interface Agreement {
  steps: number;
  params: Record<string, { studio: number; float64: number; moved: boolean }>;
}

const sci = (v: number) => v.toExponential(1);

export async function benchTrainer(): Promise<Record<string, number>> {
  console.log(`the studio's trainer against torch's from one start on the same batches (seed 0, torch recipe, Adam 1e-3, batch ${BATCH}); distance from torch's float32 weights relative to how far float32 moved them`);
  const figures: Record<string, number> = {};
  await withBenchStudio('trainer', async (api, datasetId, dir) => {
    const base = { datasetId, calibration: { count: 1000, seed: 0 }, eval: { count: 1000, seed: 1 } };
    const splits = runSplits(base);
    const stepsPerEpoch = Math.ceil(splits.trainCount / BATCH);
    for (const net of NETS) {
      for (const steps of STEPS) {
        const fresh = importBuiltinWithRecipe(api.studio, BUILTINS[net]!, 'torch', 0);
        // Half a step short of `steps`: the schedule rounds the step count up (engine/train/loop.ts trainingSchedule).
        const training = { epochs: (steps - 0.5) / stepsPerEpoch, learningRate: 1e-3, batchSize: BATCH, validationSplit: 0, seed: 0 };
        const run = await api.run('float', `${net}_${steps}_steps`, { ...base, modelId: fresh.id, training });
        const file = path.join(dir, `${net}-${steps}.json`);
        writeStudioWeights(api.studio, run.summary.trainedModelId as number, net, splits, file, { modelId: fresh.id, training, trainCount: splits.trainCount });
        const r = await torchOnWeightsFile<Agreement>(ROOT, 'torch_trainer_agreement.py', FASHION, file);
        if (typeof r === 'string') {
          console.log(`  torch side unavailable: ${r}`);
          return;
        }
        if (r.steps !== steps) throw new Error(`the studio trained ${r.steps} steps, not ${steps}`);
        const moved = Object.entries(r.params).filter(([, p]) => p.moved);
        const still = Object.keys(r.params).filter((k) => !r.params[k]!.moved);
        const s = median(moved.map(([, p]) => p.studio));
        const f = median(moved.map(([, p]) => p.float64));
        console.log(`  ${net}, ${steps} step${steps > 1 ? 's' : ''}: median over ${moved.length} parameters studio ${sci(s)}, torch float64 ${sci(f)} (ratio ${(s / f).toFixed(2)})`);
        for (const [name, p] of moved) console.log(`    ${name.padEnd(24)} studio ${sci(p.studio)}  float64 ${sci(p.float64)}`);
        if (still.length) console.log(`    not compared (no gradient in exact arithmetic; float32 moves them on rounding alone): ${still.join(', ')}`);
        Object.assign(figures, { [`${net}_${steps}_studio`]: s, [`${net}_${steps}_float64`]: f });
      }
    }
  });
  return figures;
}
