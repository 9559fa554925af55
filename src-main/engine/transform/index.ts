/**
 * Model transforms before quantization: BatchNormalization folding,
 * accuracy recovery (cross-layer equalization, bias correction), the
 * quantization plan (what gets a quantizer), and the lint that reports what a
 * run would meet before it starts.
 */
export { foldBatchNorm, type FoldRecord, type FoldResult, type KeptBatchNorm } from './fold-batchnorm.js';
export { bnFoldBlocker, type FoldBlocker, type FoldBlockReason } from './bn-foldability.js';
export { foldScale, scaleKernel, foldBias, type BnStatistics, type ChannelAffine } from './fold-scale.js';
export { kernelView, resolveKernelAxis, outputChannels, outputChannelAxis, type AxisResolution } from './kernel-axis.js';
export {
  planQuantization,
  groupOps,
  PlanError,
  PASS_THROUGH_OPS,
  FUSIBLE_ACTIVATIONS,
  type PlanOptions,
  type QuantPlan,
  type WeightQuantizer,
  type ActivationQuantizer,
  type ActivationRole,
  type FloatLayer,
  type FloatReason,
  type TensorRange,
  type TensorHow,
  type OpGroup,
  type UnsupportedLayer,
} from './plan.js';
export { findClePairs, type ClePair, type SkippedPair, type Relu6Handling, type FlattenHandling } from './cle-pairs.js';
export { equalizeLayers, pairRanges, type CleResult, type EqualizedPair } from './cle.js';
export { analyticBiasCorrection, applyBiasShifts, type BiasShift } from './bias-correction.js';
export type { RecoveryRecord } from './recovery.js';
export type { LintFinding } from '../../api/records.js';
