/**
 * The PTQ job a user waits for, as whole processes, beside torch.ao's same
 * job (bench/torch_ptq_job.py) in the same run:
 *   studio calibrate --model fashion_cnn_sample --data <Debian's Fashion-MNIST>
 *     --calib 1000 --eval 10000 --weights per-channel
 * (read the model and data, fold, calibrate, evaluate float and simulated on
 * the 10k test set, compute the per-layer records, store the run) against
 * torch's fuse, calibrate, convert, evaluate float and int8. Three pairs,
 * alternating, so the machine's drift hits both; median and range printed.
 * Goal: the studio's wall at most torch's (1.0x), aim half (0.5x).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FASHION } from './ptq.js';
import { median } from './median.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const PAIRS = Number(process.env.BENCH_JOB_PAIRS ?? 3);

function wall(cmd: string, args: string[], env: NodeJS.ProcessEnv): { seconds: number; ok: boolean; tail: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, timeout: 600_000 });
  const seconds = (performance.now() - t) / 1000;
  return { seconds, ok: r.status === 0, tail: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ') };
}

export async function benchJob(): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'studio-bench-job-'));
  const env = { ...process.env, STUDIO_DB: path.join(dir, 'studio.sqlite') };
  const studio = path.join(ROOT, 'bin', 'studio.js');
  try {
    const imported = wall(process.execPath, [studio, 'import-data', FASHION, '--name', 'fashion-full'], env);
    if (!imported.ok) throw new Error(`import of ${FASHION} failed: ${imported.tail}`);
    const args = [studio, 'calibrate', '--model', 'fashion_cnn_sample', '--data', 'fashion-full', '--calib', '1000', '--eval', '10000', '--weights', 'per-channel'];
    const torchScript = path.join(ROOT, 'bench', 'torch_ptq_job.py');
    const hasTorch = existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
    if (!hasTorch) console.log('  torch.ao peer unavailable (apt install python3-torch libopenblas0-openmp): studio figures alone');
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const s = wall(process.execPath, args, env);
      if (!s.ok) throw new Error(`studio calibrate failed: ${s.tail}`);
      ours.push(s.seconds);
      if (hasTorch) {
        const t = wall('/usr/bin/python3', [torchScript, FASHION], env);
        if (!t.ok) throw new Error(`torch job failed: ${t.tail}`);
        theirs.push(t.seconds);
      }
    }
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} s`;
    console.log(`  PTQ job, fashion_cnn, 1,000 calibration + 10,000 float and quantized evaluation, whole process (${PAIRS} runs each, alternating):`);
    console.log(`    studio calibrate: median ${median(ours).toFixed(1)} s (${range(ours)})`);
    const figures: Record<string, number> = { studio_job_seconds: median(ours) };
    if (theirs.length) {
      const ratios = ours.map((o, i) => o / theirs[i]!);
      console.log(`    torch.ao job:     median ${median(theirs).toFixed(1)} s (${range(theirs)})`);
      console.log(`    ratio studio/torch per pair: median ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}); goal ≤ 1.0x (aim 0.5x): ${median(ratios) <= 1 ? 'met' : 'MISSED'}`);
      Object.assign(figures, { torch_job_seconds: median(theirs), job_ratio: median(ratios) });
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
