/**
 * The layer-by-layer diff of an ONNX QDQ file (layer-diff.ts): a debug copy
 * of the file lists every activation's QuantizeLinear output (the integers
 * the file computes, cast to int32) as a graph output, the export's half-even simulation
 * (export/simulate.ts, the graph the verification runs) lists its fake-quant
 * value of the same quantizer, and both run on onnxruntime-node over the
 * first samples, batch by batch. Both graphs come from the same lowering, so
 * the tensors share their layout (NCHW inside).
 */
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { buildOnnxGraph, decodeOnnx, EXPORT_FORMAT, ONNX_INPUT } from '../../engine/onnx/build.js';
import { activationQdqType } from '../../engine/onnx/qdq-types.js';
import { DT, node as protoNode, type ModelProto } from '../../engine/onnx/proto.js';
import { batchSizeFor, memoryBudget } from '../../engine/memory.js';
import { createSession } from '../../engine/native/session.js';
import { SIMULATION_OPTIMIZATION } from '../../engine/native/simulate-onnx.js';
import { integerQParams } from '../../engine/quant/qparams.js';
import type { ActivationQuantizer } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { onnxSessionOptions } from '../onnx/verify.js';
import { exportSimulationLowering, QDQ_ROUNDING } from '../../engine/targets/qdq-simulation.js';
import type { ExportInput } from '../types.js';
import { withOutputs } from './debug-outputs.js';
import { firstDivergence, LAYER_DIFF_SAMPLES, LAYER_DIFF_TOLERANCE, StepTally, type LayerDiffReport } from './layer-diff.js';

export interface LayerDiffOptions {
  /** The first `samples` eval samples (default LAYER_DIFF_SAMPLES). */
  samples?: number;
  /** Bytes; default $STUDIO_MEMORY_BUDGET, else 1 GiB. */
  memoryBudget?: number;
  /** onnxruntime's optimization level for the file (the verification's). */
  onnxOptimization?: 'disabled' | 'basic';
}

/** Batches of a diff: every activation of both graphs once per sample; small, since the tallies gain nothing from large ones. */
const DIFF_MEMORY = { copies: 3, cap: 32, what: 'the layer diff' } as const;

/** The activation quantizers of the plan in the model's order. */
export function quantizersInOrder(input: Pick<ExportInput, 'graph' | 'plan'>): ActivationQuantizer[] {
  const at = new Map(input.plan.activations.map((a) => [a.at, a]));
  return input.graph.nodes.flatMap((n) => (at.has(n.name) ? [at.get(n.name)!] : []));
}

export async function onnxLayerDiff(file: string, input: ExportInput, opts: LayerDiffOptions = {}): Promise<LayerDiffReport> {
  const started = performance.now();
  const samples = input.samples;
  if (!samples) throw new ExportError(`layer diff of ${file}: no eval samples to run`, 'verify', { path: file, format: 'onnx' });
  const quantizers = quantizersInOrder(input);

  // The file's side: each activation's QuantizeLinear output.
  let fileModel: ModelProto;
  try {
    fileModel = decodeOnnx(await readFile(file));
  } catch (e) {
    throw new ExportError(`layer diff: cannot read ${file} as ONNX: ${(e as Error).message}`, 'verify', { path: file, format: 'onnx' }, { cause: e });
  }
  // Cast to int32: one typed array for every storage type (onnxruntime-node cannot hand back INT4 / UINT4 outputs).
  const fileOutputs = quantizers.map((a) => {
    const node = fileModel.graph?.node.find((n) => n.name === `${a.name}/QuantizeLinear`);
    if (!node) throw new ExportError(`layer diff: ${file} has no QuantizeLinear of activation ${a.name} (layer ${a.at})`, 'verify', { path: file, format: 'onnx', tensor: a.name });
    const ints = `${node.output[0]!}/layer_diff_int32`;
    fileModel.graph!.node.push(protoNode('Cast', `${ints}/Cast`, [node.output[0]!], [ints], { to: DT.INT32 }));
    return ints;
  });

  // The simulation's side: the fake-quant value after each activation quantizer.
  const lowering = exportSimulationLowering(input.graph, input.plan, input.qparams, { rounding: QDQ_ROUNDING });
  const sim = buildOnnxGraph({ graph: input.graph, plan: input.plan, qparams: input.qparams, simulate: lowering });
  const simOutputs = quantizers.map((a) => sim.values.get(a.at)!.name);
  const channelsFirst = quantizers.map((a) => sim.values.get(a.at)!.nchw);

  const tallies = quantizers.map((a, i) => {
    const q = input.qparams.get(a.sharedWith ?? a.name)!;
    // The studio's zero point in the domain of the type the file stores (signed for symmetric specs).
    const iq = integerQParams(q, activationQdqType(a.name, q, EXPORT_FORMAT.opset).domain);
    return new StepTally(a.at, a.name, { scale: q.scale, zeroPoint: iq.zeroPoint, channelsFirst: channelsFirst[i]! });
  });

  const n = Math.min(opts.samples ?? LAYER_DIFF_SAMPLES, samples.labels.length);
  const { batchSize } = batchSizeFor(input.graph, memoryBudget(opts.memoryBudget), DIFF_MEMORY);
  let fileSession: ort.InferenceSession;
  try {
    fileSession = await ort.InferenceSession.create(withOutputs(fileModel, fileOutputs), onnxSessionOptions(opts.onnxOptimization ?? 'disabled'));
  } catch (e) {
    throw new ExportError(`layer diff: onnxruntime could not load the debug copy of ${file}: ${(e as Error).message}`, 'verify', { path: file, format: 'onnx' }, { cause: e });
  }
  const { session: simSession } = await createSession(withOutputs(sim.model, simOutputs), { provider: 'cpu', optimization: SIMULATION_OPTIMIZATION });
  try {
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const x = new ort.Tensor('float32', samples.batch(start, size).slice(), [size, ...samples.inputShape]);
      const fromFile = await fileSession.run({ [ONNX_INPUT]: x }, fileOutputs);
      const fromSim = await simSession.run({ [ONNX_INPUT]: x }, simOutputs);
      tallies.forEach((t, i) => t.add(fromFile[fileOutputs[i]!]!.data as ArrayLike<number>, fromSim[simOutputs[i]!]!.data as ArrayLike<number>, size));
      samples.onBatch?.('layer diff', start + size, n);
    }
  } finally {
    await fileSession.release();
    await simSession.release();
  }
  const layers = tallies.map((t) => t.result());
  return { format: 'onnx', samples: n, batchSize, tolerance: LAYER_DIFF_TOLERANCE, layers, firstDivergence: firstDivergence(layers), seconds: (performance.now() - started) / 1000 };
}
