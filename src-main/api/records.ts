/**
 * The records the engine produces and the API carries as they are (layer
 * summaries, tensor records, lint findings, the TF.js backend in use): their
 * schemas live here, apart from the contract, so the engine can name their
 * types without importing the contract (which imports the export formats,
 * and through them the store).
 */
import { z } from 'zod';

const ShapeSchema = z.array(z.number().int());

export const BackendName = z.enum(['tensorflow', 'wasm', 'cpu']);

export const BackendInfo = z.object({
  name: BackendName,
  /** Why each better backend was not used, e.g. "tfjs-node: Cannot find module". */
  fallbacks: z.array(z.object({ name: BackendName, reason: z.string() })),
  threads: z.number().int(),
});
export type BackendInfo = z.infer<typeof BackendInfo>;

export const LayerSummary = z.object({
  name: z.string(),
  op: z.string(),
  /** The Keras class (Rescaling for an affine from one, ZeroPadding2D…); absent in models stored before it was kept. */
  className: z.string().optional(),
  /** The options telling layers of the class apart (keepdims, padding, scale and offset…). */
  options: z.string().optional(),
  inputs: z.array(z.string()),
  outputShape: ShapeSchema,
  params: z.number().int(),
  weightShapes: z.record(z.string(), ShapeSchema),
  activation: z.string().optional(),
});
export type LayerSummary = z.infer<typeof LayerSummary>;

export const TensorRecord = z.object({
  layer: z.string(),
  /** weight | activation | input | bias */
  role: z.string(),
  granularity: z.enum(['per-tensor', 'per-channel']),
  axis: z.number().int().nullable(),
  bits: z.number().int(),
  symmetric: z.boolean(),
  narrowRange: z.boolean(),
  channels: z.number().int(),
  min: z.number(),
  max: z.number(),
  scale: z.number(),
  zeroPoint: z.number(),
  sqnr: z.number().nullable(),
  clipRate: z.number().nullable(),
});
export type TensorRecord = z.infer<typeof TensorRecord>;

export const LintFinding = z.object({
  severity: z.enum(['error', 'warning', 'info']),
  layer: z.string().nullable(),
  code: z.string(),
  message: z.string(),
  fix: z.string(),
});
export type LintFinding = z.infer<typeof LintFinding>;

/** One case of a sensitivity analysis on its subset: top-1 accuracy, and the model output's SQNR against float in dB (null: equal to it exactly). */
export const SensitivityCase = z.object({ accuracy: z.number(), sqnr: z.number().nullable() });
export type SensitivityCase = z.infer<typeof SensitivityCase>;

/**
 * One layer of a sensitivity analysis (engine/sensitivity): its quantizers
 * (the kernel's and the output's, as the plan names them) and four cases.
 * A case the layer has no quantizer for is null; a layer with one quantizer
 * has its weights-alone or activation-alone case equal to quantized-alone.
 */
export const SensitivityLayer = z.object({
  layer: z.string(),
  op: z.string(),
  /** Graph order. */
  position: z.number().int(),
  weight: z.string().nullable(),
  activation: z.string().nullable(),
  /** Only this layer quantized (weights and output), everything else float. */
  quantizedAlone: SensitivityCase,
  /** Everything quantized but this layer, which stays float. */
  floatAlone: SensitivityCase,
  /** Only this layer's weights quantized. */
  weightsAlone: SensitivityCase.nullable(),
  /** Only this layer's output (activation) quantized. */
  activationAlone: SensitivityCase.nullable(),
});
export type SensitivityLayer = z.infer<typeof SensitivityLayer>;
