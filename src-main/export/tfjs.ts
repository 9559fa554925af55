/**
 * TensorFlow.js layers model with quantized weights (model.json + one shard),
 * loadable by tf.loadLayersModel.
 *
 * The tfjs weights manifest stores a weight as uint8 or uint16 with ONE
 * affine pair per weight (`real = q·scale + min`), and tfjs computes with
 * float activations, so this format carries the run's WEIGHT quantization only:
 *  - per-tensor kernels of ≤ 8 bits (≤ 16 bits): uint8 (uint16) holding
 *    q − qmin of the run's grid, scale = s, min = nudged_min — tfjs's decoding
 *    gives back exactly r·s, the simulation's fake-quantized kernel;
 *  - per-channel kernels: the manifest has no per-channel form, so the
 *    fake-quantized kernel (each channel on its own grid) is stored as uint16
 *    affine over its whole range: within (max − min)/131070 of the studio's
 *    values (reported as `maxWeightError` in the audit);
 *  - biases, BatchNorm statistics and float layers' weights stay float32.
 * Verification compares tf.loadLayersModel's outputs with the studio's
 * weight-only simulation (half-even rounding, activations float), run on
 * onnxruntime (weightOnlySimulation) unless the graph has a layer without
 * an ONNX form (an opaque Keras layer, which tfjs runs and the lowering
 * refuses): then on TensorFlow.js, the reason in the record.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { tf } from '../engine/tfjs.js';
import { layersModelFromGraph } from '../engine/graph/from-layers.js';
import type { ForwardHooks } from '../engine/graph/runtime.js';
import type { Graph, GraphNode, WeightedNode } from '../engine/graph/types.js';
import { isWeighted } from '../engine/graph/types.js';
import { fakeQuantKernel } from '../engine/ptq/sim-hooks.js';
import type { QParams } from '../engine/quant/qparams.js';
import type { QuantPlan } from '../engine/transform/plan.js';
import { WEIGHTS_FILE } from '../io/models/tfjs-layers.js';
import { ExportError } from './errors.js';
import { quantizeToInts } from '../engine/quant/int-tensors.js';
import type { ExportInput, ExportOptions, ExportResult } from './types.js';
import { compareOutputs, joinBatches, type EvalSamples } from '../engine/eval-samples.js';
import { runSimulation, simulate, simulationChoice, type SimulationPlan } from './verify.js';
import { simulatedKernels } from '../engine/native/evaluate-onnx.js';
import { buildOnnxGraph, encodeOnnx } from '../engine/onnx/build.js';
import { fileDigest, writeFolderAtomic } from './write-file.js';

interface StoredWeight {
  data: Uint8Array;
  quantization?: { dtype: 'uint8' | 'uint16'; min: number; scale: number };
  /** Largest |stored − simulated| after tfjs decodes it. */
  maxError: number;
  how: 'grid' | 'affine16' | 'float32';
}

/** Integer grid of a per-tensor kernel as uint8/uint16 q − qmin (exact, see module comment). */
function gridWeight(values: Float32Array, view: number[], qp: QParams): StoredWeight {
  const { ints } = quantizeToInts(values, view, undefined, qp, 'unsigned');
  const u = qp.bits <= 8 ? new Uint8Array(ints.length) : new Uint16Array(ints.length);
  for (let i = 0; i < ints.length; i++) u[i] = ints[i]! - qp.qmin;
  return { data: new Uint8Array(u.buffer), quantization: { dtype: qp.bits <= 8 ? 'uint8' : 'uint16', min: qp.nudgedMin[0]!, scale: qp.scale[0]! }, maxError: 0, how: 'grid' };
}

/** uint16 affine over the range of already fake-quantized values. */
function affine16(values: Float32Array): StoredWeight {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const scale = hi > lo ? (hi - lo) / 65535 : 1;
  const u = new Uint16Array(values.length);
  let maxError = 0;
  for (let i = 0; i < values.length; i++) {
    const q = Math.min(65535, Math.max(0, Math.round((values[i]! - lo) / scale)));
    u[i] = q;
    maxError = Math.max(maxError, Math.abs(Math.fround(q * scale + lo) - values[i]!));
  }
  return { data: new Uint8Array(u.buffer), quantization: { dtype: 'uint16', min: lo, scale }, maxError, how: 'affine16' };
}

/** The kernel the studio's simulation uses (half-even rounding), as floats. */
function fakeQuantized(node: WeightedNode, plan: QuantPlan, qp: QParams): Float32Array {
  const wq = plan.weights.find((w) => w.layer === node.name)!;
  return tf.tidy(() => {
    const k = tf.tensor(node.weights.kernel.values, node.weights.kernel.shape, 'float32');
    return new Float32Array(fakeQuantKernel(k, wq, qp, 'half-even').dataSync() as Float32Array);
  });
}

/** tfjs weight name → [node, IR weight key]. */
function irWeight(graph: Graph, specName: string): [GraphNode, string] | null {
  const slash = specName.lastIndexOf('/');
  const layer = specName.slice(0, slash);
  const base = specName.slice(slash + 1);
  const node = graph.nodes.find((n) => n.name === layer);
  if (!node) return null;
  const key: Record<string, string> = { kernel: 'kernel', depthwise_kernel: 'kernel', bias: 'bias', gamma: 'gamma', beta: 'beta', moving_mean: 'movingMean', moving_variance: 'movingVariance' };
  return key[base] ? [node, key[base]] : null;
}

/** The hooks of the weight-only simulation tfjs is compared against. */
export function weightOnlyHooks(plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): ForwardHooks {
  const byLayer = new Map(plan.weights.map((w) => [w.layer, w]));
  return {
    weight(node, name, w) {
      const wq = name === 'kernel' ? byLayer.get(node.name) : undefined;
      return wq ? fakeQuantKernel(w, wq, qparams.get(wq.name)!, 'half-even') : w;
    },
  };
}

/**
 * The weight-only simulation tfjs is compared against, on either runtime
 * (export/verify.ts runSimulation): on onnxruntime, the float graph with the
 * planned kernels fake-quantized half to even (the same values as
 * weightOnlyHooks gives) and no activation quantizer.
 */
export function weightOnlySimulation(graph: Graph, plan: QuantPlan, qparams: ReadonlyMap<string, QParams>): SimulationPlan {
  return {
    description: 'studio weight-only fake-quant, rounding half-even, float activations (tfjs layers models compute in float)',
    native: () => {
      const built = buildOnnxGraph({ graph, plan: { ...plan, activations: [] }, qparams, simulate: { kernels: simulatedKernels(graph, plan, qparams, 'half-even') } });
      return { model: encodeOnnx(built.model), graph };
    },
    tfjs: (samples) => simulate(graph, weightOnlyHooks(plan, qparams), samples),
  };
}

export async function buildTfjsFiles(input: ExportInput): Promise<{ files: Record<string, Uint8Array | string>; weights: { name: string; how: string; dtype: string; maxError: number }[] }> {
  const { graph, plan, qparams } = input;
  const model = layersModelFromGraph(graph);
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    await model.save({
      save: async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      },
    });
  } finally {
    model.dispose();
  }
  const specs = artifacts!.weightSpecs ?? [];
  const chunks: Uint8Array[] = [];
  const manifest: tf.io.WeightsManifestEntry[] = [];
  const report: { name: string; how: string; dtype: string; maxError: number }[] = [];
  const floatData = new Float32Array(tf.io.CompositeArrayBuffer.join(artifacts!.weightData!));
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const floats = floatData.slice(offset, offset + n);
    offset += n;
    const ir = irWeight(graph, spec.name);
    let stored: StoredWeight = { data: new Uint8Array(floats.buffer), maxError: 0, how: 'float32' };
    if (ir && isWeighted(ir[0]) && ir[1] === 'kernel') {
      const wq = plan.weights.find((w) => w.layer === ir[0].name);
      if (wq) {
        const qp = qparams.get(wq.name)!;
        if (qp.bits > 16) throw new ExportError(`weight ${wq.name}: ${qp.bits} bits do not fit tfjs's uint16`, 'unsupported', { tensor: wq.name, format: 'tfjs' });
        stored = wq.axis === null ? gridWeight(ir[0].weights.kernel.values, wq.view, qp) : affine16(fakeQuantized(ir[0], plan, qp));
      }
    }
    chunks.push(stored.data);
    manifest.push({ name: spec.name, shape: spec.shape, dtype: 'float32', ...(stored.quantization ? { quantization: { ...stored.quantization, original_dtype: 'float32' } } : {}) } as tf.io.WeightsManifestEntry);
    report.push({ name: spec.name, how: stored.how, dtype: stored.quantization?.dtype ?? 'float32', maxError: stored.maxError });
  }
  const total = chunks.reduce((s, c) => s + c.byteLength, 0);
  const shard = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    shard.set(c, at);
    at += c.byteLength;
  }
  const modelJson = {
    modelTopology: artifacts!.modelTopology,
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: 'Quantization Calibration Studio (quantized weights)',
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: manifest }],
    userDefinedMetadata: { studio: { model: input.modelName, runId: input.runId ?? null, config: input.config } },
  };
  return { files: { 'model.json': JSON.stringify(modelJson), [WEIGHTS_FILE]: shard }, weights: report };
}

/** Loads a written folder with tf.loadLayersModel through an IOHandler over node:fs. */
export async function loadTfjsExport(dir: string): Promise<tf.LayersModel> {
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const group = json.weightsManifest[0]!;
  const shard = await readFile(path.join(dir, group.paths[0]!));
  return tf.loadLayersModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: group.weights,
      weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
      format: json.format,
    }),
  });
}

export function predictAll(model: tf.LayersModel, samples: EvalSamples, batchSize = 100): Float32Array {
  const n = samples.labels.length;
  const parts: Float32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const y = tf.tidy(() => model.predict(tf.tensor(samples.batch(start, size), [size, ...samples.inputShape])) as tf.Tensor);
    parts.push(new Float32Array(y.dataSync() as Float32Array));
    y.dispose();
    samples.onBatch?.('tf.loadLayersModel', start + size, n);
  }
  return joinBatches(parts);
}

export async function exportTfjs(input: ExportInput, dest: string, opts: ExportOptions = {}): Promise<ExportResult> {
  opts.onPhase?.('write');
  const { files, weights } = await buildTfjsFiles(input);
  await writeFolderAtomic(dest, files, opts);
  opts.onPhase?.('audit');
  // Audit: read the manifest back; every planned kernel stored quantized.
  const json = JSON.parse(await readFile(path.join(dest, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const entries = json.weightsManifest.flatMap((g) => g.weights);
  const problems: string[] = [];
  for (const wq of input.plan.weights) {
    const e = entries.find((x) => {
      const ir = irWeight(input.graph, x.name);
      return ir && ir[0].name === wq.layer && ir[1] === 'kernel';
    });
    if (!e) problems.push(`${wq.name}: not in the weights manifest`);
    else if (!e.quantization) problems.push(`${wq.name}: stayed float32 in the weights manifest`);
    else if (wq.axis === null && e.quantization.dtype !== (input.qparams.get(wq.name)!.bits <= 8 ? 'uint8' : 'uint16')) problems.push(`${wq.name}: stored as ${e.quantization.dtype}`);
  }
  if (problems.length) throw new ExportError(`audit of ${dest} failed: ${problems.join('; ')}`, 'audit', { path: dest, tensor: problems[0]!.split(':')[0]!, format: 'tfjs' });
  let verification: Record<string, unknown> | null = null;
  if ((opts.verify ?? true) && input.samples) {
    opts.onPhase?.('verify');
    const started = performance.now();
    let model: tf.LayersModel;
    try {
      model = await loadTfjsExport(dest);
    } catch (e) {
      throw new ExportError(`tf.loadLayersModel could not load ${dest}: ${(e as Error).message}`, 'verify', { path: dest, format: 'tfjs' }, { cause: e });
    }
    let out: Float32Array;
    try {
      out = predictAll(model, input.samples);
    } finally {
      model.dispose();
    }
    const sim = await runSimulation(weightOnlySimulation(input.graph, input.plan, input.qparams), input.samples, simulationChoice(opts));
    const classes = out.length / input.samples.labels.length;
    verification = {
      runtime: `tf.loadLayersModel (@tensorflow/tfjs ${tf.version_core}, backend ${tf.getBackend()})`,
      settings: { backend: tf.getBackend() },
      simulation: sim.record,
      ...compareOutputs(out, sim.outputs, input.samples.labels, classes),
      seconds: (performance.now() - started) / 1000,
    };
  }
  const digest = await fileDigest(dest);
  return {
    format: 'tfjs',
    path: dest,
    extraPaths: [],
    ...digest,
    audit: { ok: true, weights, maxWeightError: Math.max(0, ...weights.map((w) => w.maxError)), problems: [] },
    verification,
  };
}
