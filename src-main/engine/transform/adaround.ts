/**
 * AdaRound (Nagel et al. 2020) on the calibration split: for each planned
 * Dense / convolution in graph order, the rounding of its kernel (up or down
 * from floor(W/s) on the run's weight grid) is learned so the layer's output
 * stays close to the float one:
 *
 *   min_V  Σ (f(W~ ∗ x̂) − f(W ∗ x))² + λ Σ (1 − |2h(V) − 1|^β)
 *
 * x̂ is the layer's input in the model whose earlier kernels are already
 * AdaRounded (weights quantized, activations float: AIMET's quantization
 * simulation during AdaRound), x its input in the float model ("asymmetric
 * reconstruction", §4.2 of the paper). Adam (lr 1e-3) for `iterations`
 * steps of `batchSize` samples drawn in a seeded order; the first 20 % of
 * the steps without the regulariser, then β falls from 20 to 2 on AIMET's
 * cosine schedule. At the end each weight rounds up where h(V) ≥ 0.5.
 * Arithmetic: adaround-grid.ts; the step graph: native/adaround-step.ts.
 *
 * Layer inputs are read once per layer on onnxruntime-node
 * (native/layer-inputs.ts) and held for the steps: at most
 * ADAROUND_MAX_SAMPLES samples, and both copies (x̂ and x) within a quarter
 * of the memory budget.
 */
import type { Adaround, Estimator } from '../../api/run-config.js';
import type { Graph, WeightedNode } from '../graph/types.js';
import { isWeighted } from '../graph/types.js';
import { mib } from '../memory.js';
import { AdaroundSession, type LayerBatch } from '../native/adaround-step.js';
import { LayerInputs } from '../native/layer-inputs.js';
import { mulberry32 } from '../../io/data/split.js';
import type { BatchSource } from '../../io/data/split.js';
import { departures, encodeRounding, initialV, kernelGrid, kernelObserver, roundedKernel, roundingOf } from './adaround-grid.js';
import type { QuantPlan } from './plan.js';

/** Samples whose layer inputs are held for the steps (the paper's 1,024 images). */
export const ADAROUND_MAX_SAMPLES = 1024;
/** Share of the steps without the regulariser, and β's start and end (AIMET's defaults). */
export const WARM_START = 0.2;
export const BETA_RANGE = [20, 2] as const;

/** What AdaRound did to one layer, as the run summary stores it. */
export interface AdaroundLayer {
  layer: string;
  weights: number;
  /** Mean squared error of the layer's output values on the held samples: nearest rounding, then AdaRound's. */
  mseNearest: number;
  mseAdaround: number;
  /** Weights rounded the other way than nearest rounding does: up where it goes down, down where it goes up. */
  roundedUp: number;
  roundedDown: number;
  seconds: number;
  /** The choice per weight, 1 = up from floor(u), as a base64 bit string (adaround-grid.ts encodeRounding): an export rounds the same. */
  rounding: string;
}

export interface AdaroundRecord {
  iterations: number;
  batchSize: number;
  regularization: number;
  /** Samples the layer inputs were held for. */
  samples: number;
  /** What the quantized layer reads: the earlier layers' AdaRound kernels, float activations. */
  inputs: 'weights quantized, activations float';
  layers: AdaroundLayer[];
  seconds: number;
}

export interface AdaroundData {
  part: BatchSource;
  /** The calibration split (already in seeded random order). */
  indices: Int32Array;
  /** Batch of the forward passes that read the layer inputs. */
  readBatch: number;
  /** Seeds the order of the step batches. */
  seed: number;
  budgetBytes: number;
}

export interface AdaroundHooks {
  /** Before each step and each read batch; throws to cancel. */
  onStep?(layer: string, layersDone: number, layers: number, step: number, steps: number): void;
  /** After a layer's last step, with its V (tests look at h(V)). */
  onLayer?(layer: string, V: Float32Array): void;
  threads?: number;
}

/** β at step `step` (AIMET's cosine decay after the warm start); λ is 0 before it. */
export function annealing(step: number, iterations: number, regularization: number): { lambda: number; beta: number } {
  const warm = WARM_START * iterations;
  if (step < warm) return { lambda: 0, beta: BETA_RANGE[0] };
  const rel = (step - warm) / (iterations - warm);
  return { lambda: regularization, beta: BETA_RANGE[1] + 0.5 * (BETA_RANGE[0] - BETA_RANGE[1]) * (1 + Math.cos(rel * Math.PI)) };
}

/** The graph with every planned kernel AdaRounded (on the grid of the weight quantizer of the graph given), and what it did. */
export async function adaround(graph: Graph, plan: QuantPlan, estimator: Estimator, options: Adaround, data: AdaroundData, hooks: AdaroundHooks = {}): Promise<{ graph: Graph; record: AdaroundRecord }> {
  const started = performance.now();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const layers = plan.weights.map((wq) => {
    const node = byName.get(wq.layer);
    if (!node || !isWeighted(node)) throw new Error(`AdaRound: no Dense or convolution named ${wq.layer}`);
    const inputShape = byName.get(node.inputs[0]!)!.outputShape;
    return { wq, node, inputShape, perSample: inputShape.reduce((a, c) => a * c, 1) };
  });
  const samples = heldSamples(layers, options.batchSize, data);
  const indices = data.indices.subarray(0, samples);
  const float = await LayerInputs.open(graph, layers.map((l) => l.wq.layer), hooks.threads);
  const kernels = new Map<string, Float32Array>();
  const records: AdaroundLayer[] = [];
  try {
    for (const [k, { wq, node, inputShape, perSample }] of layers.entries()) {
      const layerStart = performance.now();
      const notify = (step: number) => hooks.onStep?.(wq.layer, k, layers.length, step, options.iterations);
      const xf = await float.read(wq.layer, data.part, indices, data.readBatch, perSample, () => notify(0));
      // x̂: the model with the kernels rounded so far (the first layer reads the model input: the same).
      let xq = xf;
      if (kernels.size > 0) {
        const quantized = await LayerInputs.open(withKernels(graph, kernels), [wq.layer], hooks.threads);
        try {
          xq = await quantized.read(wq.layer, data.part, indices, data.readBatch, perSample, () => notify(0));
        } finally {
          await quantized.release();
        }
      }
      const grid = kernelGrid(node.weights.kernel.values, wq, kernelObserver(node, wq, estimator).qparams());
      const session = await AdaroundSession.create({ node, inputShape, grid, logits: node.activation === 'softmax' }, initialV(grid.rest), hooks.threads);
      try {
        const cache = { xq, xf, perSample, n: samples };
        const hard = (up: Uint8Array) => Float32Array.from(up, (u) => (u ? 20 : -20));
        const mseNearest = await meanReconstruction(session, cache, options.batchSize, hard(grid.nearest));
        const order = batchOrder(samples, options.batchSize, data.seed + k);
        for (let step = 0; step < options.iterations; step++) {
          notify(step);
          const { lambda, beta } = annealing(step, options.iterations, options.regularization);
          await session.step(gather(cache, order()), lambda, beta);
        }
        hooks.onLayer?.(wq.layer, session.V);
        const up = roundingOf(session.V);
        const mseAdaround = await meanReconstruction(session, cache, options.batchSize, hard(up));
        const channels = node.outputShape[node.outputShape.length - 1]!;
        kernels.set(wq.layer, roundedKernel(grid, up));
        records.push({
          layer: wq.layer,
          weights: up.length,
          mseNearest: mseNearest / channels,
          mseAdaround: mseAdaround / channels,
          ...renamed(departures(grid, up)),
          seconds: (performance.now() - layerStart) / 1000,
          rounding: encodeRounding(up),
        });
      } finally {
        await session.release();
      }
    }
  } finally {
    await float.release();
  }
  const record: AdaroundRecord = {
    iterations: options.iterations,
    batchSize: options.batchSize,
    regularization: options.regularization,
    samples,
    inputs: 'weights quantized, activations float',
    layers: records,
    seconds: (performance.now() - started) / 1000,
  };
  return { graph: withKernels(graph, kernels), record };
}

const renamed = (d: { up: number; down: number }) => ({ roundedUp: d.up, roundedDown: d.down });

/** The samples held: the split, at most ADAROUND_MAX_SAMPLES, both copies of the largest layer input within a quarter of the budget; at least one batch, else an error with the figures. */
function heldSamples(layers: readonly { wq: { layer: string }; perSample: number }[], batchSize: number, data: AdaroundData): number {
  const n = data.indices.length;
  if (n < batchSize) throw new Error(`AdaRound needs at least one batch of ${batchSize} calibration samples; the calibration split has ${n}`);
  const largest = layers.reduce((a, l) => (l.perSample > a.perSample ? l : a), layers[0] ?? { wq: { layer: '' }, perSample: 1 });
  const bytesPerSample = 2 * 4 * largest.perSample;
  const fits = Math.floor(data.budgetBytes / 4 / bytesPerSample);
  if (fits < batchSize) {
    throw new Error(`AdaRound holds the inputs of ${largest.wq.layer} for ${batchSize} samples (a batch): ${mib(batchSize * bytesPerSample)}, more than a quarter of the memory budget of ${mib(data.budgetBytes)}; raise the budget (--memory-budget) or lower the AdaRound batch size`);
  }
  return Math.min(n, ADAROUND_MAX_SAMPLES, fits);
}

/** The graph with the given kernels in place of its own. */
export function withKernels(graph: Graph, kernels: ReadonlyMap<string, Float32Array>): Graph {
  if (kernels.size === 0) return graph;
  const nodes = graph.nodes.map((n) => {
    const k = isWeighted(n) ? kernels.get(n.name) : undefined;
    if (!k) return n;
    const w = n as WeightedNode;
    return { ...w, weights: { ...w.weights, kernel: { shape: [...w.weights.kernel.shape], values: k } } } as WeightedNode;
  });
  return { ...graph, nodes };
}

interface Cache {
  xq: Float32Array;
  xf: Float32Array;
  perSample: number;
  n: number;
}

/** Successive batches of `size` sample positions, a fresh seeded shuffle of [0, n) each time the last one is used up. */
function batchOrder(n: number, size: number, seed: number): () => Int32Array {
  const rand = mulberry32(seed);
  let perm = new Int32Array(0);
  let at = n;
  return () => {
    if (at + size > n) {
      perm = Int32Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      at = 0;
    }
    const out = perm.subarray(at, at + size);
    at += size;
    return out;
  };
}

function gather(cache: Cache, positions: Int32Array): LayerBatch {
  const p = cache.perSample;
  const xq = new Float32Array(positions.length * p);
  const xf = cache.xq === cache.xf ? xq : new Float32Array(positions.length * p);
  positions.forEach((s, i) => {
    xq.set(cache.xq.subarray(s * p, (s + 1) * p), i * p);
    if (xf !== xq) xf.set(cache.xf.subarray(s * p, (s + 1) * p), i * p);
  });
  return { xq, xf, n: positions.length };
}

/** The reconstruction loss with V over all held samples (sample-weighted mean of the batches). */
async function meanReconstruction(session: AdaroundSession, cache: Cache, batchSize: number, V: Float32Array): Promise<number> {
  let sum = 0;
  for (let start = 0; start < cache.n; start += batchSize) {
    const n = Math.min(batchSize, cache.n - start);
    const p = cache.perSample;
    const batch = { xq: cache.xq.slice(start * p, (start + n) * p), xf: cache.xf.slice(start * p, (start + n) * p), n };
    sum += (await session.reconstruction(batch, V)) * n;
  }
  return sum / cache.n;
}
