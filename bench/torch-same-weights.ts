/**
 * torch.ao's four plain PTQ cells, and its CLE and CLE + bias correction, on
 * the float model the studio trained (bench/torch_same_weights.py). The
 * accuracy bench's cells otherwise compare two float models, one per side,
 * and a 4-bit cell moves by points between two trainings of the same start;
 * with the same weights, calibration images and test set, the table reads
 * the studio's simulation against torch's int8 kernels alone.
 *
 * And torch's training loop from the studio's start: the same initial
 * weights, and the train images in the order the studio's float run took
 * them, so the float rows compare the two trainers apart from the draw of a
 * start and an order (which moves a 2-epoch float model by about 2 points).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deserializeGraph } from '../src-main/engine/graph/serialize.js';
import { ADAM } from '../src-main/engine/native/train/optimizer.js';
import { holdOut } from '../src-main/engine/train/float-run.js';
import { epochOrder, trainingSchedule } from '../src-main/engine/train/loop.js';
import { loadModelBytes } from '../src-main/jobs/run-jobs.js';
import type { Studio } from '../src-main/studio.js';

/** A float run's start, for torch's loop to follow: the untrained model, its training settings, and how many train images it had. */
export interface StudioStart {
  modelId: number;
  training: { epochs: number; batchSize: number; learningRate: number; validationSplit: number; seed: number };
  trainCount: number;
}

/** The QAT cells the studio runs on the model: torch's QAT takes as many data orders of as many epochs on the same weights. */
export interface StudioQat {
  epochs: number;
  orders: number;
}

/**
 * The stored model's layers in graph order with their weights as plain
 * arrays (what the Python side maps onto torch's network), and the train
 * images the studio's runs calibrate on and the test images they evaluate,
 * so torch uses the same. With `start`: the untrained model's layers, each
 * epoch's order of the train images, the number of steps and Adam's ε, as
 * the studio's training loop takes them (engine/train: holdOut, epochOrder,
 * trainingSchedule), so torch's loop can train from the same start. With
 * `qat`: the QAT cells' epochs and number of data orders, for torch's QAT on
 * the same float model.
 */
export function writeStudioWeights(
  studio: Studio,
  modelId: number,
  net: string,
  split: { calibration: Int32Array; test: Int32Array },
  file: string,
  start?: StudioStart,
  qat?: StudioQat,
): void {
  const out: Record<string, unknown> = { net, layers: storedLayers(studio, modelId), calibration: Array.from(split.calibration), test: Array.from(split.test) };
  if (qat) out.qat = qat;
  if (start) {
    const { training, trainCount } = start;
    const { trainIdx } = holdOut(trainCount, training.validationSplit, training.seed, 'train images');
    const { totalSteps, epochs } = trainingSchedule(trainIdx.length, training);
    out.start = {
      layers: storedLayers(studio, start.modelId),
      orders: Array.from({ length: epochs }, (_, e) => Array.from(epochOrder(trainIdx, training.seed, e))),
      steps: totalSteps,
      batchSize: training.batchSize,
      learningRate: training.learningRate,
      adamEpsilon: ADAM.epsilon,
    };
  }
  writeFileSync(file, JSON.stringify(out));
}

function storedLayers(studio: Studio, modelId: number): { name: string; op: string; weights: Record<string, { shape: number[]; values: number[] }> }[] {
  const graph = deserializeGraph(loadModelBytes(studio.store, modelId).bytes);
  return graph.nodes.map((n) => ({
    name: n.name,
    op: n.op,
    weights:
      'weights' in n
        ? Object.fromEntries(Object.entries(n.weights as Record<string, { shape: number[]; values: Float32Array } | undefined>).flatMap(([k, w]) => (w ? [[k, { shape: w.shape, values: Array.from(w.values) }]] : [])))
        : {},
  }));
}

/** torch's cells on the studio's weights, or why there are none. */
export function torchOnStudioWeights(root: string, fashion: string, file: string): Promise<Record<string, number> | string> {
  return torchOnWeightsFile(root, 'torch_same_weights.py', fashion, file);
}

/** Runs a bench Python script on a weights file written above; its last line of output as JSON, or why there is none. */
export function torchOnWeightsFile<T = Record<string, number>>(root: string, script: string, fashion: string, file: string): Promise<T | string> {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return Promise.resolve('no /usr/bin/python3 (apt install python3-torch)');
  return new Promise((resolve) => {
    // The test images come from the file (the whole test set loaded, not the quick mode's first 2,000).
    const child = spawn(py, [path.join(root, 'bench', script), fashion, file], { env: { ...process.env, BENCH_ACCURACY_QUICK: '0' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code) => resolve(code === 0 ? (JSON.parse(out.trim().split('\n').pop()!) as T) : `${script} exit ${code}: ${err.trim().split('\n').pop()}`));
  });
}
