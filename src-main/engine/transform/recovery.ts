/**
 * The data-free accuracy-recovery steps a run's config asks for, in the order
 * prepare.ts calls them: cross-layer equalization on the folded graph, with
 * high-bias absorption after it (before the plan), then analytic bias
 * correction (after it: it quantizes each kernel as planned). Empirical bias
 * correction needs the calibration split and runs in the PTQ job
 * (ptq/run.ts); its record is filled in there.
 */
import type { Recovery, RunConfig } from '../../api/run-config.js';
import type { Graph } from '../graph/types.js';
import type { FoldRecord } from './fold-batchnorm.js';
import type { QuantPlan } from './plan.js';
import type { SkippedPair } from './cle-pairs.js';
import { equalizeLayers, type EqualizedPair } from './cle.js';
import type { AdaroundRecord } from './adaround.js';
import { absorbHighBiases, type AbsorbedPair } from './high-bias-absorption.js';
import { analyticBiasCorrection, foldedBnStatistics, type BiasShift, type ChannelGaussian, type SkippedLayer } from './bias-correction.js';

/** What the recovery steps did, as the run summary stores it. */
export interface RecoveryRecord {
  cle: {
    relu6: Recovery['relu6'];
    /** Absent in runs stored before it existed (those crossed every Flatten). */
    flatten?: Recovery['flatten'];
    equalized: EqualizedPair[];
    skipped: SkippedPair[];
    relu6Replaced: string[];
    sweeps: number;
    converged: boolean;
  } | null;
  highBiasAbsorption: { absorbed: AbsorbedPair[]; skipped: SkippedPair[] } | null;
  biasCorrection: {
    kind: 'empirical' | 'empirical-float' | 'analytic';
    layers: BiasShift[];
    skipped: SkippedLayer[];
  } | null;
  /** AdaRound on the calibration split (ptq/run.ts fills it in); absent in runs stored before it existed. */
  adaround?: AdaroundRecord | null;
}

/** The folded graph after CLE (and high-bias absorption), what they did, and each BN'd layer's pre-activation statistics after them. */
export interface EqualizeStep {
  graph: Graph;
  record: Pick<RecoveryRecord, 'cle' | 'highBiasAbsorption'>;
  stats: Map<string, ChannelGaussian>;
}

export function equalizeStep(source: Graph, folded: readonly FoldRecord[], graph: Graph, recovery: Recovery): EqualizeStep {
  if (!recovery.cle) return { graph, record: { cle: null, highBiasAbsorption: null }, stats: foldedBnStatistics(source, folded) };
  const r = equalizeLayers(graph, { relu6: recovery.relu6, flatten: recovery.flatten });
  const cle = { relu6: recovery.relu6, flatten: recovery.flatten, equalized: r.equalized, skipped: r.skipped, relu6Replaced: r.relu6Replaced, sweeps: r.sweeps, converged: r.converged };
  const stats = foldedBnStatistics(source, folded, r.outputScales);
  if (!recovery.highBiasAbsorption) return { graph: r.graph, record: { cle, highBiasAbsorption: null }, stats };
  const h = absorbHighBiases(r.graph, r.pairs, stats);
  return { graph: h.graph, record: { cle, highBiasAbsorption: { absorbed: h.absorbed, skipped: h.skipped } }, stats };
}

export function biasCorrectionStep(graph: Graph, plan: QuantPlan, config: RunConfig, equalized: EqualizeStep): { graph: Graph; record: RecoveryRecord } {
  if (config.recovery?.biasCorrection !== 'analytic') return { graph, record: { ...equalized.record, biasCorrection: null } };
  const corrected = analyticBiasCorrection(graph, plan, config.estimator, equalized.stats);
  return { graph: corrected.graph, record: { ...equalized.record, biasCorrection: { kind: 'analytic', layers: corrected.shifts, skipped: corrected.skipped } } };
}
