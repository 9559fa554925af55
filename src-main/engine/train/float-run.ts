/**
 * A float-training run: train the model on the dataset's train part (a
 * validationSplit fraction held out for choosing the best checkpoint), then
 * evaluate the best checkpoint on the test part (config.eval.count samples,
 * config.eval.seed). The trained model comes back serialized, for the library.
 */
import { emitBestCheckpoint } from './checkpoint.js';
import { Training, type RunConfig } from '../../api/run-config.js';
import { checkFitsModel, loadDataset, sampleSplit } from '../../io/data/dataset.js';
import { DatasetError } from '../../io/data/errors.js';
import type { JobContext } from '../job-context.js';
import { backendInfo } from '../backend.js';
import { GraphRuntime } from '../graph/runtime.js';
import { deserializeGraph, serializeGraph } from '../graph/serialize.js';
import { inputNode } from '../graph/types.js';
import { outputClasses } from './evaluate.js';
import { evaluateModel } from './evaluate-model.js';
import { memoryBudget } from '../memory.js';
import type { RuntimeChoice } from '../native/session.js';
import { trainLoop } from './loop.js';
import { chooseStepEngine } from '../native/train/native-trainer.js';

export interface FloatTrainingPayload {
  config: RunConfig;
  modelName: string;
  /** Serialized Graph (graph/serialize.ts). */
  model: Uint8Array;
  dataset: { name?: string; path: string; format: string; preprocessing: Record<string, unknown> };
  /** Seed of the train/validation split and the shuffling; default 0. */
  seed?: number;
  /** As a PTQ run's (engine/ptq/run.ts): where the final evaluation runs, and the memory budget. */
  evaluationRuntime?: RuntimeChoice;
  memoryBudget?: number;
}

export interface FloatTrainingResult {
  floatAccuracy: number;
  floatLoss: number;
  quantAccuracy: null;
  quantLoss: null;
  tensors: [];
  summary: Record<string, unknown>;
  /** Serialized graph of the best checkpoint. */
  trainedModel: Uint8Array;
}

/** Splits n training samples into (train, validation) index sets, seeded. */
export function holdOut(n: number, validationSplit: number, seed: number, source: string): { trainIdx: Int32Array; valIdx: Int32Array } {
  const order = sampleSplit(n, n, seed, source);
  const valCount = validationSplit > 0 ? Math.max(1, Math.round(n * validationSplit)) : 0;
  const trainIdx = order.slice(valCount);
  if (trainIdx.length === 0) throw new DatasetError(source, `the training part has ${n} samples; after holding out ${valCount} for validation (validationSplit ${validationSplit}) none is left to train on`);
  return { trainIdx, valIdx: order.slice(0, valCount) };
}

export async function runFloatTraining(payload: FloatTrainingPayload, ctx: JobContext): Promise<FloatTrainingResult> {
  const { config } = payload;
  const training = config.training ?? Training.parse({});
  const seed = payload.seed ?? 0;
  const graph = deserializeGraph(payload.model, payload.modelName);
  const data = loadDataset(payload.dataset);
  const runtime = new GraphRuntime(graph, { trainable: true });
  try {
    const fit = checkFitsModel(data, inputNode(graph).outputShape, outputClasses(runtime));
    const notes = [...data.notes];
    if (fit.reshape) notes.push(`images [${fit.from.join(',')}] are reshaped to the model input [${fit.to.join(',')}]`);
    const train = data.parts.train;
    const { trainIdx, valIdx } = holdOut(train.count, training.validationSplit, seed, train.imagesFile);
    const test = data.parts.test;
    const evalIdx = sampleSplit(config.eval.count, test.count, config.eval.seed, test.imagesFile);
    if (evalIdx.clipped) notes.push(`eval split asked for ${config.eval.count} samples; the test part has ${test.count}, all used`);

    const budget = memoryBudget(payload.memoryBudget);
    const { engine, info: trainedOn } = await chooseStepEngine({ graph, runtime, qat: null, training, inputShape: inputNode(graph).outputShape, seed, memoryBudget: budget });
    const loop = await trainLoop({ runtime, data, trainIdx, valIdx, training, ctx, seed, ...(engine ? { engine } : {}) })
      .catch((e: unknown) => {
        throw emitBestCheckpoint(e, runtime, ctx);
      })
      .finally(() => engine?.dispose());
    const final = await evaluateModel(runtime, test, evalIdx, { requested: payload.evaluationRuntime, budget, maxBatch: Math.max(training.batchSize, 256), ctx, phase: 'evaluate' });
    ctx.progress('evaluate', final.count, final.count);
    return {
      floatAccuracy: final.accuracy,
      floatLoss: final.loss,
      quantAccuracy: null,
      quantLoss: null,
      tensors: [],
      summary: {
        backend: backendInfo().name,
        training: { ...training, seed },
        train: {
          count: trainIdx.length,
          validationCount: valIdx.length,
          steps: loop.steps,
          stepsPerEpoch: loop.stepsPerEpoch,
          seconds: loop.seconds,
          samplesPerSecond: loop.samplesPerSecond,
          ...trainedOn,
          finalTrainLoss: loop.finalTrainLoss,
          bestStep: loop.bestStep,
          bestValAccuracy: loop.bestValAccuracy,
          bestValLoss: loop.bestValLoss,
        },
        eval: { count: final.count, ...final.how },
        notes,
      },
      trainedModel: serializeGraph(runtime.toGraph()),
    };
  } finally {
    runtime.dispose();
  }
}
