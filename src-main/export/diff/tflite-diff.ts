/**
 * The layer-by-layer diff of a TFLite file (layer-diff.ts): a debug copy of
 * the file lists every activation tensor (int8, or int16 in a 16x8 file, named after its quantizer)
 * among the subgraph's outputs, and the interpreter hands their integers
 * back, one sample per Invoke (the file's batch is 1); the TFLite simulation
 * (tflite/simulate.ts, the graph the verification runs on onnxruntime) lists
 * its fake-quant value of the same quantizer. The simulation holds images
 * NCHW inside, the file NHWC: its values are moved to NHWC first.
 */
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { batchSizeFor, memoryBudget } from '../../engine/memory.js';
import { createSession } from '../../engine/native/session.js';
import { SIMULATION_OPTIMIZATION } from '../../engine/native/simulate-onnx.js';
import { ONNX_INPUT } from '../../engine/onnx/build.js';
import { roundHalfEven } from '../../engine/quant/int-tensors.js';
import { integerQParams } from '../../engine/quant/qparams.js';
import type { ActivationQuantizer } from '../../engine/transform/plan.js';
import { ExportError } from '../errors.js';
import { decodeTflite, encodeTflite } from '../tflite/build.js';
import type { TfliteQuant } from '../../engine/targets/tflite/quant.js';
import { TfliteInterpreter } from '../tflite/runtime.js';
import { tfliteSimulationGraph } from '../../engine/targets/tflite/simulation.js';
import { preprocessedSamples, type Int8Grid } from '../tflite/verify.js';
import type { EvalSamples } from '../../engine/eval-samples.js';
import type { AffineNode } from '../../engine/graph/types.js';
import { nchwToNhwc, withOutputs } from './debug-outputs.js';
import { firstDivergence, LAYER_DIFF_SAMPLES, LAYER_DIFF_TOLERANCE, StepTally, type LayerDiffReport } from './layer-diff.js';

export interface TfliteLayerDiffOptions {
  /** The first `samples` eval samples (default LAYER_DIFF_SAMPLES). */
  samples?: number;
  /** Bytes; default $STUDIO_MEMORY_BUDGET, else 1 GiB. */
  memoryBudget?: number;
  /** An integer-input file: the grid its input is quantized on, as the verification feeds it. */
  int8Input?: Int8Grid;
  /** The model's preprocessing, which the file's input has been through (tflite/index.ts preprocessingOf). */
  preprocessing?: readonly AffineNode[];
}

const DIFF_MEMORY = { copies: 3, cap: 32, what: 'the layer diff' } as const;

/** `samples`: the run's raw eval samples (the simulation's input; the file gets them preprocessed). */
export async function tfliteLayerDiff(file: string, quant: TfliteQuant, samples: EvalSamples, opts: TfliteLayerDiffOptions = {}): Promise<LayerDiffReport> {
  const started = performance.now();
  const fail = (what: string, e?: unknown) => new ExportError(`layer diff of ${file}: ${what}`, 'verify', { path: file, format: 'tflite' }, e ? { cause: e } : undefined);

  // The simulation's side, and its quantizers in the model's order.
  const sim = tfliteSimulationGraph(quant.model, quant.softmax, quant.logits);
  const at = new Map(sim.plan.activations.map((a) => [a.at, a]));
  const ordered: ActivationQuantizer[] = sim.graph.nodes.flatMap((n) => (at.has(n.name) ? [at.get(n.name)!] : []));

  // The file's side: a debug copy listing each quantizer's tensor as an output.
  let model;
  try {
    model = decodeTflite(await readFile(file));
  } catch (e) {
    throw fail(`it does not read as TFLite (${(e as Error).message})`, e);
  }
  const sub = model.subgraphs[0]!;
  const indexOf = new Map(sub.tensors.map((t, i) => [String(t.name), i]));
  // Every planned activation is an int8 tensor of the file under its quantizer's name; the audit checks it, so a missing one is the file's fault.
  const quantizers = ordered.filter((a) => indexOf.has(a.name));
  const missing = ordered.filter((a) => !indexOf.has(a.name) && a.sharedWith === undefined).map((a) => a.name);
  if (quantizers.length === 0) throw fail(`none of the activation tensors ${ordered.map((a) => a.name).join(', ')} is in the file`);
  sub.outputs = [...sub.outputs, ...quantizers.map((a) => indexOf.get(a.name)!).filter((i) => !sub.outputs.includes(i))];

  const tallies = quantizers.map((a) => {
    const q = sim.qparams.get(a.sharedWith ?? a.name) ?? quant.act.get(a.name);
    if (!q) throw fail(`no qparams for activation ${a.name}`);
    const iq = integerQParams(q, 'signed');
    return new StepTally(a.at, a.name, { scale: q.scale, zeroPoint: iq.zeroPoint, channelsFirst: false });
  });
  const simOutputs = quantizers.map((a) => sim.values.get(a.at)!);

  const n = Math.min(opts.samples ?? LAYER_DIFF_SAMPLES, samples.labels.length);
  const { batchSize } = batchSizeFor(sim.graph, memoryBudget(opts.memoryBudget), DIFF_MEMORY);
  const fileSamples = preprocessedSamples(samples, opts.preprocessing ?? []);
  const per = samples.inputShape.reduce((a, b) => a * b, 1);
  let interp: TfliteInterpreter;
  try {
    interp = await TfliteInterpreter.create(encodeTflite(model));
  } catch (e) {
    throw fail(`the TFLite interpreter could not load its debug copy: ${(e as Error).message}`, e);
  }
  const { session } = await createSession(withOutputs(sim.model, simOutputs.map((v) => v.name)), { provider: 'cpu', optimization: SIMULATION_OPTIMIZATION });
  try {
    const [input] = interp.inputs();
    const outputs = new Map(interp.outputs().map((t) => [t.name, t]));
    const fromFile = quantizers.map((a) => {
      const t = outputs.get(a.name);
      if (!t) throw fail(`the interpreter does not give back tensor ${a.name}`);
      return t;
    });
    for (let start = 0; start < n; start += batchSize) {
      const size = Math.min(batchSize, n - start);
      const x = samples.batch(start, size).slice();
      const simOut = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [size, ...samples.inputShape]) });
      // The file, one sample per Invoke; its tensors are views on the interpreter's memory, copied out after each.
      const ints = fromFile.map((t) => (t.dataType === 'int16' ? new Int16Array(size * t.data().length) : new Int8Array(size * t.data().length)));
      const fx = fileSamples.batch(start, size);
      for (let i = 0; i < size; i++) {
        const xi = fx.subarray(i * per, (i + 1) * per);
        const buf = input!.data();
        if (opts.int8Input) {
          const inv = Math.fround(1 / opts.int8Input.scale);
          for (let k = 0; k < per; k++) buf[k] = Math.min(127, Math.max(-128, roundHalfEven(Math.fround(xi[k]! * inv)) + opts.int8Input.zeroPoint));
        } else buf.set(xi);
        interp.invoke();
        fromFile.forEach((t, j) => {
          const d = t.data();
          ints[j]!.set(d, i * d.length);
        });
      }
      tallies.forEach((t, j) => {
        const v = simOutputs[j]!;
        const y = simOut[v.name]!.data as Float32Array;
        t.add(ints[j]!, v.nchw ? nchwToNhwc(y, v.shape, size) : y, size);
      });
      samples.onBatch?.('layer diff', start + size, n);
    }
  } finally {
    interp.close();
    await session.release();
  }
  const layers = tallies.map((t) => t.result());
  return {
    format: 'tflite',
    samples: n,
    batchSize,
    tolerance: LAYER_DIFF_TOLERANCE,
    layers,
    firstDivergence: firstDivergence(layers),
    seconds: (performance.now() - started) / 1000,
    ...(missing.length ? { notInFile: missing } : {}),
  };
}
