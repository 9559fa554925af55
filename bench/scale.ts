/**
 * `npm run bench -- scale`: real-size mobile models at 224x224x3, as a user
 * runs them, each step a whole `studio` process on a fresh database:
 *
 *   import-model (TF.js model.json written from the keras.applications
 *   architecture built in test/helpers/applications, seeded weights) →
 *   calibrate per-tensor and per-channel (1,000 calibration, 2,000 eval
 *   images) → export ONNX.
 *
 * Data: Debian's Fashion-MNIST upscaled to 224x224 RGB (nearest), written
 * once as uint8 x.npy / y.npy (the same file the torch peer reads), scaled to
 * [-1, 1] as Keras's MobileNet preprocessing does. Weights are seeded, not
 * trained: accuracies mean nothing, throughput, memory and the quantization
 * error (logit SQNR against float) do.
 *
 * Printed for each of the six architectures: import seconds, parameters,
 * per-tensor and per-channel logit SQNR, ONNX size. For MobileNetV2 at width
 * 1.0 and 0.35, beside torchvision's quantizable mobilenet_v2 in the same run
 * (bench/torch_scale_peer.py): calibration samples/s (the batch loop, as
 * the peer times its forward loop, and the whole step: the studio's session,
 * batches and kernels against torch's prepare, warm-up, batches and convert),
 * simulated-evaluation samples/s (the per-channel run's: it follows the per-tensor run on the
 * same samples and takes that run's float figures, so its pass is the
 * simulated branch and the statistics, as the peer's fake-quant pass is;
 * the per-tensor run's pass with its float branch printed beside), QAT samples/s (bench/scale-qat.ts), peak RSS of the studio
 * process, each with the peer's figure, the ratio and the goal.
 * BENCH_SCALE_MODELS picks architectures (comma-separated names).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { FASHION } from './ptq.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const STUDIO = path.join(ROOT, 'bin', 'studio.js');
const CALIB = Number(process.env.BENCH_SCALE_CALIB ?? 1000);
const EVAL = Number(process.env.BENCH_SCALE_EVAL ?? 2000);
const QAT_SAMPLES = Number(process.env.BENCH_SCALE_QAT ?? 128);
const SIZE = 224;

interface Proc {
  seconds: number;
  maxRssMb: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time for its peak RSS; throws with its last lines on failure. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '__maxrss_kb=%M', cmd, ...args], { encoding: 'utf8', env, timeout: 3_600_000, maxBuffer: 64 * 2 ** 20 });
  const seconds = (performance.now() - t) / 1000;
  const rss = /__maxrss_kb=(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0) throw new Error(`${path.basename(args[0] ?? cmd)} ${args.slice(1, 3).join(' ')} failed: ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-4).join(' | ')}`);
  return { seconds, maxRssMb: rss ? Number(rss[1]) / 1024 : NaN, stdout: r.stdout };
}

function readIdx(file: string): { dims: number[]; data: Uint8Array } {
  const raw = gunzipSync(readFileSync(file));
  const ndim = raw[3]!;
  const dims = Array.from({ length: ndim }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * ndim) };
}

function npyHeader(descr: string, shape: number[]): Buffer {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const text = dict + ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}

/** x.npy [n,224,224,3] uint8 and y.npy [n] uint8 from Fashion-MNIST's train images, upscaled 8x nearest, gray to RGB. */
export function writeScaleDataset(dir: string, n: number): string {
  const images = readIdx(path.join(FASHION, 'train-images-idx3-ubyte.gz')).data;
  const labels = readIdx(path.join(FASHION, 'train-labels-idx1-ubyte.gz')).data;
  const fd = openSync(path.join(dir, 'x.npy'), 'w');
  try {
    writeSync(fd, npyHeader('|u1', [n, SIZE, SIZE, 3]));
    const img = Buffer.alloc(SIZE * SIZE * 3);
    for (let k = 0; k < n; k++) {
      const src = images.subarray(k * 784, (k + 1) * 784);
      for (let y = 0; y < SIZE; y++)
        for (let x = 0; x < SIZE; x++) {
          const v = src[(y >> 3) * 28 + (x >> 3)]!;
          const o = (y * SIZE + x) * 3;
          img[o] = v;
          img[o + 1] = v;
          img[o + 2] = v;
        }
      writeSync(fd, img);
    }
  } finally {
    closeSync(fd);
  }
  const yfd = openSync(path.join(dir, 'y.npy'), 'w');
  writeSync(yfd, npyHeader('|u1', [n]));
  writeSync(yfd, Buffer.from(labels.subarray(0, n)));
  closeSync(yfd);
  return path.join(dir, 'x.npy');
}

interface Arch {
  name: string;
  alpha?: number;
}

const ARCHS: Arch[] = [
  { name: 'MobileNetV2', alpha: 1.0 },
  { name: 'MobileNetV2', alpha: 0.35 },
  { name: 'MobileNet', alpha: 1.0 },
  { name: 'MobileNetV3Small', alpha: 1.0 },
  { name: 'MobileNetV3Large', alpha: 1.0 },
  { name: 'EfficientNetB0' },
  { name: 'ResNet50' },
  { name: 'DenseNet121' },
];

interface RunJson {
  id: number;
  floatAccuracy: number | null;
  quantAccuracy: number | null;
  summary: {
    calibration?: { samplesPerSecond?: number; loopSamplesPerSecond?: number; runtime?: string };
    evaluation?: { runtime?: string; seconds?: number; batchSize?: number; floatFrom?: number };
    eval?: { count?: number };
    layers?: { name: string; activationSqnr: number | null }[];
    output?: { logitSqnr?: number | null };
  };
}

function ptq(env: NodeJS.ProcessEnv, model: string, granularity: string): { proc: Proc; run: RunJson } {
  const proc = run(process.execPath, [STUDIO, 'calibrate', '--model', model, '--data', 'scale224', '--calib', String(CALIB), '--eval', String(EVAL), '--weights', granularity, '--json'], env);
  return { proc, run: JSON.parse(proc.stdout) as RunJson };
}

function logitSqnr(r: RunJson): number | null {
  const layers = r.summary.layers ?? [];
  return r.summary.output?.logitSqnr ?? layers[layers.length - 1]?.activationSqnr ?? null;
}

function torchScale(width: number, npy: string): Record<string, number> | null {
  const script = path.join(ROOT, 'bench', 'torch_scale_peer.py');
  const ok = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (ok.status !== 0) {
    console.log('  torch.ao peer unavailable (apt install python3-torch python3-torchvision libopenblas0-openmp): studio figures alone');
    return null;
  }
  const r = spawnSync('/usr/bin/python3', [script, String(width), npy, String(CALIB), String(EVAL), String(QAT_SAMPLES)], { encoding: 'utf8', timeout: 3_600_000 });
  if (r.status !== 0) {
    console.log(`  torch.ao peer failed: ${(r.stderr || '').trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

const fmt = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));

function versus(label: string, ours: number, theirs: number | undefined, goal: number, higherIsBetter = true): string {
  if (theirs === undefined) return `    ${label}: ${fmt(ours)}`;
  const ratio = ours / theirs;
  const met = higherIsBetter ? ratio >= goal : ratio <= goal;
  return `    ${label}: ${fmt(ours)} vs torch ${fmt(theirs)} → ${ratio.toFixed(2)}x (goal ${higherIsBetter ? '≥' : '≤'} ${goal}x): ${met ? 'met' : 'MISSED'}`;
}

export async function benchScale(): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'studio-bench-scale-'));
  const env = { ...process.env, STUDIO_DB: path.join(dir, 'studio.sqlite') };
  const figures: Record<string, number> = {};
  try {
    const n = CALIB + EVAL;
    const npy = writeScaleDataset(dir, n);
    console.log(`  data: ${n} Fashion-MNIST images upscaled to ${SIZE}x${SIZE}x3 (${(statSync(npy).size / 2 ** 20).toFixed(0)} MiB uint8 NPY), scaled to [-1, 1]`);
    run(process.execPath, [STUDIO, 'import-data', dir, '--name', 'scale224', '--scale', '1/127.5', '--mean', '1'], env);
    const picked = (process.env.BENCH_SCALE_MODELS ?? '').split(',').filter(Boolean);
    for (const arch of ARCHS.filter((a) => picked.length === 0 || picked.includes(a.name))) {
      const label = `${arch.name}${arch.alpha !== undefined ? ` ${arch.alpha}` : ''}`;
      const key = label.replace(/[ .]/g, '_').toLowerCase();
      try {
        const modelDir = path.join(dir, key);
        run(process.execPath, [path.join(here, 'scale-model.js'), 'write', arch.name, String(arch.alpha ?? 1), modelDir], env);
        const imported = run(process.execPath, [STUDIO, 'import-model', path.join(modelDir, 'model.json'), '--name', key, '--json'], env);
        const model = JSON.parse(imported.stdout) as { paramCount?: number; model?: { paramCount?: number } };
        const params = model.model?.paramCount ?? model.paramCount ?? NaN;
        const pt = ptq(env, key, 'per-tensor');
        const pc = ptq(env, key, 'per-channel');
        const onnx = path.join(dir, `${key}.onnx`);
        run(process.execPath, [STUDIO, 'export', String(pc.run.id), '--format', 'onnx', '--out', onnx, '--no-verify'], env);
        const size = existsSync(onnx) ? statSync(onnx).size / 2 ** 20 : NaN;
        console.log(
          `  ${label.padEnd(20)} import ${fmt(imported.seconds)} s, ${params.toLocaleString('en-US')} params, logit SQNR per-tensor ${fmt(logitSqnr(pt.run))} dB / per-channel ${fmt(logitSqnr(pc.run))} dB, ONNX ${fmt(size)} MiB, peak RSS ${fmt(pc.proc.maxRssMb, 0)} MB`,
        );
        Object.assign(figures, { [`${key}_import_s`]: imported.seconds, [`${key}_params`]: params, [`${key}_sqnr_pt`]: logitSqnr(pt.run) ?? NaN, [`${key}_sqnr_pc`]: logitSqnr(pc.run) ?? NaN, [`${key}_onnx_mib`]: size });
        if (arch.name !== 'MobileNetV2') continue;

        // Two figures, each timed alike on both sides: the batch loop (the peer times its forward loop after a
        // warm-up batch; the studio's loop includes its first batch), and the whole step a user waits for.
        const calib = pc.run.summary.calibration?.loopSamplesPerSecond ?? NaN;
        const calibStep = pc.run.summary.calibration?.samplesPerSecond ?? NaN;
        // The per-channel run follows the per-tensor one on the same samples and takes its float figures
        // (engine/native/float-reference.ts): its pass is the simulated branch and the statistics, as the
        // peer's fake-quant pass is; the per-tensor run's pass (float branch too) is printed beside.
        const evalRateOf = (r: RunJson) => {
          const sec = r.summary.evaluation?.seconds;
          return sec ? (r.summary.eval?.count ?? EVAL) / sec : NaN;
        };
        const evalRate = evalRateOf(pc.run);
        const evalFirstRate = evalRateOf(pt.run);
        const reused = pc.run.summary.evaluation?.floatFrom === pt.run.id;
        const qat = run(process.execPath, [path.join(here, 'scale-qat.js'), path.join(modelDir, 'model.json'), npy, String(QAT_SAMPLES)], env);
        // Warm, as the peer measures (after one warm-up step); the whole loop, its first step included, printed beside.
        const qatFigures = JSON.parse(qat.stdout.trim().split('\n').pop()!) as { samplesPerSecond: number; warmSamplesPerSecond: number };
        const qatRate = qatFigures.warmSamplesPerSecond;
        const peer = torchScale(arch.alpha!, npy);
        console.log(`    MobileNetV2 ${arch.alpha} at 224, the studio (calibrate: onnxruntime-node ${pc.run.summary.calibration?.runtime ?? '?'}; evaluation ${pc.run.summary.evaluation?.runtime ?? '?'}, batch ${pc.run.summary.evaluation?.batchSize ?? '?'}) against torch.ao ${peer ? `${peer['torch']}, onednn, 2 threads` : ''}:`);
        console.log(versus('calibration samples/s, batch loop (both: the forward passes through the observers)', calib, peer?.['calibrate_samples_per_s'], 3));
        console.log(versus('calibration samples/s, whole step (studio: session, batches, kernels; torch: prepare, warm-up, batches, convert)', calibStep, peer?.['calibrate_step_samples_per_s'], 3));
        console.log(
          versus(
            reused
              ? `simulated evaluation samples/s (simulated + per-layer statistics, float figures from the per-tensor run; that run with its float branch ${fmt(evalFirstRate)})`
              : 'simulated evaluation samples/s (float + simulated + per-layer statistics: the float figures were not reused)',
            evalRate,
            peer?.['fq_eval_samples_per_s'],
            2,
          ),
        );
        console.log(versus(`QAT samples/s after the first step (whole loop ${fmt(qatFigures.samplesPerSecond)})`, qatRate, peer?.['qat_samples_per_s'], 1.5));
        console.log(versus('peak RSS MB (calibrate process)', pc.proc.maxRssMb, peer?.['peak_rss_mb'], 1, false));
        if (arch.alpha === 1) console.log(`    peak RSS ${fmt(pc.proc.maxRssMb, 0)} MB (goal ≤ 2048 MB): ${pc.proc.maxRssMb <= 2048 ? 'met' : 'MISSED'}`);
        if (peer) console.log(`    torch int8 inference: ${fmt(peer['int8_eval_samples_per_s'])} samples/s (for reference)`);
        Object.assign(figures, { [`${key}_calib_sps`]: calib, [`${key}_calib_step_sps`]: calibStep, [`${key}_eval_sps`]: evalRate, [`${key}_eval_first_sps`]: evalFirstRate, [`${key}_qat_sps`]: qatRate, [`${key}_rss_mb`]: pc.proc.maxRssMb });
        if (peer) Object.assign(figures, { [`${key}_torch_calib_sps`]: peer['calibrate_samples_per_s']!, [`${key}_torch_calib_step_sps`]: peer['calibrate_step_samples_per_s']!, [`${key}_torch_fq_eval_sps`]: peer['fq_eval_samples_per_s']!, [`${key}_torch_qat_sps`]: peer['qat_samples_per_s']!, [`${key}_torch_rss_mb`]: peer['peak_rss_mb']! });
      } catch (e) {
        console.log(`  ${label}: ${(e as Error).message}`);
      }
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
