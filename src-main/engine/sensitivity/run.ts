/**
 * A sensitivity run: how much each layer's quantization costs, layer by layer.
 *
 *   prepare and calibrate exactly as a PTQ run (ptq/run.ts) → one switched
 *   simulation session (./switched-simulation.ts) on the first `subset`
 *   samples of the eval split → per layer, four cases:
 *     quantized alone   its kernel and output quantizers on, every other off
 *     float alone       every quantizer on but its own
 *     weights alone     only its kernel quantizer on
 *     activation alone  only its output quantizer on
 *   plus the two baselines (everything float, everything quantized).
 *
 * Each case is one pass of the same session: top-1 accuracy and the SQNR of
 * the model output against the float model's on the same samples. Progress
 * counts cases; cancel is checked before every batch, and nothing is
 * returned (so nothing stored) unless every case ran.
 */
import type { SensitivityCase, SensitivityLayer } from '../../api/records.js';
import { recoveryOn } from '../../api/run-config.js';
import { backendInfo } from '../backend.js';
import { GraphRuntime } from '../graph/runtime.js';
import { inputNode } from '../graph/types.js';
import type { JobContext } from '../job-context.js';
import { batchSizeFor } from '../memory.js';
import { EVALUATION_MEMORY } from '../ptq/evaluate-runtime.js';
import { calibrateOnBestRuntime, preparePtq, type PtqPayload } from '../ptq/run.js';
import type { QParams } from '../quant/qparams.js';
import type { RunResults } from '../results.js';
import { SwitchedSimulation, type CaseResult } from './switched-simulation.js';
import { sensitivityUnits, type SensitivityUnit } from './units.js';

export const DEFAULT_SUBSET = 500;

/** The subset's inputs are held between cases when they take at most this share of the memory budget. */
const HOLD_SHARE = 0.25;

export interface SensitivitySummary {
  subset: number;
  /** Output SQNR of the whole quantized model against float on the subset (null: exact). */
  quantizedSqnr: number | null;
  cases: number;
  seconds: number;
  secondsPerCase: number;
  batchSize: number;
  threads: number;
  provider: string;
}

export async function runSensitivity(payload: PtqPayload, ctx: JobContext): Promise<RunResults & { sensitivity: SensitivityLayer[] }> {
  const { config } = payload;
  if (recoveryOn(config.recovery)) throw new Error('accuracy recovery (CLE, bias correction) is not part of a sensitivity run; run it as a PTQ run');
  const prep = preparePtq(payload);
  const { graph, plan, data } = prep;
  const units = sensitivityUnits(graph, plan);
  if (units.length === 0) throw new Error(`model ${payload.modelName} has no quantized layer under this config: nothing to analyse`);
  const runtime = new GraphRuntime(graph, { trainable: false });
  const backend = backendInfo();
  try {
    const calibTotal = prep.calibIdx.length;
    const { calibration, how } = await calibrateOnBestRuntime(payload, prep, runtime, backend.name, {
      onBatch(pass, passes, done) {
        ctx.checkCancelled();
        ctx.progress('calibrate', pass * calibTotal + done, passes * calibTotal, passes > 1 ? `pass ${pass + 1} of ${passes}` : undefined);
      },
    });
    const subsetSize = Math.min(config.sensitivity?.subset ?? DEFAULT_SUBSET, prep.evalIdx.length);
    const notes = [...prep.notes];
    if ((config.sensitivity?.subset ?? DEFAULT_SUBSET) > prep.evalIdx.length) notes.push(`the subset asked for ${config.sensitivity?.subset ?? DEFAULT_SUBSET} samples; the eval split has ${prep.evalIdx.length}, all used`);
    const indices = prep.evalIdx.subarray(0, subsetSize);
    const inputShape = inputNode(graph).outputShape;
    const batchSize = batchSizeFor(graph, prep.batches.budget, { ...EVALUATION_MEMORY, what: 'the sensitivity analysis' }).batchSize;
    const inputBytes = subsetSize * inputShape.reduce((a, b) => a * b, 1) * 4;
    const sim = await SwitchedSimulation.open({ graph, plan, qparams: calibration.qparams, part: data.parts.test, indices, inputShape, batchSize, holdInputs: inputBytes <= prep.batches.budget.bytes * HOLD_SHARE });
    try {
      const started = performance.now();
      const { baseline, layers, cases } = await analyse(sim, units, ctx);
      const seconds = (performance.now() - started) / 1000;
      const summary: SensitivitySummary = {
        subset: subsetSize,
        quantizedSqnr: baseline.quantized.sqnr,
        cases,
        seconds,
        secondsPerCase: seconds / cases,
        batchSize,
        threads: sim.placement.threads,
        provider: sim.placement.provider,
      };
      return {
        floatAccuracy: baseline.float.accuracy,
        floatLoss: baseline.float.loss,
        quantAccuracy: baseline.quantized.accuracy,
        quantLoss: baseline.quantized.loss,
        tensors: [],
        sensitivity: layers,
        summary: {
          backend: backend.name,
          calibration: { count: calibration.samples, seconds: calibration.seconds, estimator: config.estimator.kind, ...how },
          eval: { count: subsetSize },
          sensitivity: summary,
          folded: prep.folded,
          float: plan.float,
          notes,
          ...(sim.placement.fallback ? { providerFallback: sim.placement.fallback } : {}),
        },
      };
    } finally {
      await sim.release();
    }
  } finally {
    runtime.dispose();
  }
}

/** The two baselines, then every layer's cases, in graph order. */
async function analyse(
  sim: SwitchedSimulation,
  units: SensitivityUnit[],
  ctx: JobContext,
): Promise<{ baseline: { float: CaseResult; quantized: CaseResult }; layers: SensitivityLayer[]; cases: number }> {
  const all = sim.allOn();
  const plannedCases = (u: SensitivityUnit) => 2 + (u.weight && u.activation ? 2 : 0);
  const total = 2 + units.reduce((n, u) => n + plannedCases(u), 0);
  let done = 0;
  // Counts only (no per-case message): a piped CLI prints a step as complete whenever its message changes.
  const run = async (choices: Map<string, QParams | null>): Promise<CaseResult> => {
    ctx.progress('sensitivity', done, total);
    const r = await sim.evaluate(choices, () => ctx.checkCancelled());
    done++;
    return r;
  };
  const float = await run(new Map());
  const quantized = await run(all);
  const only = (names: (string | null)[]) => new Map(names.filter((n): n is string => n !== null).map((n) => [n, all.get(n)!]));
  const layers: SensitivityLayer[] = [];
  for (const u of units) {
    const mine = [u.weight, u.activation];
    const alone = await run(only(mine));
    const except = new Map(all);
    for (const n of mine) if (n) except.delete(n);
    const floatAlone = await run(except);
    const both = u.weight !== null && u.activation !== null;
    const weights = !u.weight ? null : both ? await run(only([u.weight])) : alone;
    const activation = !u.activation ? null : both ? await run(only([u.activation])) : alone;
    layers.push({
      layer: u.layer,
      op: u.op,
      position: u.position,
      weight: u.weight,
      activation: u.activation,
      quantizedAlone: caseOf(alone),
      floatAlone: caseOf(floatAlone),
      weightsAlone: weights && caseOf(weights),
      activationAlone: activation && caseOf(activation),
    });
  }
  ctx.progress('sensitivity', total, total);
  return { baseline: { float, quantized }, layers, cases: total };
}

function caseOf(r: CaseResult): SensitivityCase {
  return { accuracy: r.accuracy, sqnr: r.sqnr };
}
