/**
 * The Model view's "every quantization variable explained" panel: the small
 * config controls as a partial RunConfig for `models.explain`, variables
 * grouped by layer, shapes in words. Pure, no DOM.
 */
import type { LayerQuantization, QuantVariable, VariableExplanation } from '../../../src-main/api/contract.js';
import type { Granularity, RunConfigInput } from '../../../src-main/api/run-config.js';

/** The few choices the panel offers; everything else takes the run-config defaults. */
export interface ExplainControls {
  weightGranularity: Granularity;
  weightBits: number;
  activationGranularity: Granularity;
  activationBits: number;
}

export const DEFAULT_EXPLAIN_CONTROLS: ExplainControls = {
  weightGranularity: 'per-channel',
  weightBits: 8,
  activationGranularity: 'per-tensor',
  activationBits: 8,
};

function clampBits(bits: number): number {
  return Number.isFinite(bits) ? Math.min(16, Math.max(2, Math.round(bits))) : 8;
}

/** The partial config `models.explain` takes (weights symmetric narrow, activations asymmetric: the run defaults). */
export function explainConfig(c: ExplainControls): Pick<RunConfigInput, 'weights' | 'activations'> {
  return {
    weights: { bits: clampBits(c.weightBits), symmetric: true, narrowRange: true, granularity: c.weightGranularity },
    activations: { bits: clampBits(c.activationBits), symmetric: false, narrowRange: false, granularity: c.activationGranularity },
  };
}

/** [] -> "scalar", [32] -> "[32]", [3, 4] -> "[3×4]". */
export function formatVariableShape(shape: readonly number[]): string {
  return shape.length === 0 ? 'scalar' : `[${shape.join('×')}]`;
}

/** How many numbers a variable holds: 1 for a scalar, C for [C]. */
export function variableSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export interface VariableGroup {
  layer: string;
  variables: QuantVariable[];
  /** Numbers the layer's variables hold together. */
  values: number;
  /** Some variable of the layer is a per-channel vector. */
  perChannel: boolean;
}

/** Variables grouped by layer, groups in order of first appearance, variables in their order. */
export function groupVariables(variables: readonly QuantVariable[]): VariableGroup[] {
  const groups = new Map<string, VariableGroup>();
  for (const v of variables) {
    let g = groups.get(v.layer);
    if (!g) {
      g = { layer: v.layer, variables: [], values: 0, perChannel: false };
      groups.set(v.layer, g);
    }
    g.variables.push(v);
    g.values += variableSize(v.shape);
    if (v.shape.length > 0) g.perChannel = true;
  }
  return [...groups.values()];
}

export interface ExplainTotalsRow {
  key: 'float' | 'keras' | 'studio';
  label: string;
  trainable: number;
  nonTrainable: number;
  total: number;
  /** Numbers added to the float model (0 for the float row). */
  added: number;
  /** Variables (not numbers) behind `added`. */
  variables: number;
}

/** Float, Keras QAT and studio totals side by side. */
export function explainTotals(e: VariableExplanation): ExplainTotalsRow[] {
  return [
    { key: 'float', label: 'Float model', ...e.float, added: 0, variables: 0 },
    { key: 'keras', label: 'Keras / tfmot QAT', ...e.keras.totals, added: e.keras.totals.total - e.float.total, variables: e.keras.variables.length },
    { key: 'studio', label: 'This studio', ...e.studio.totals, added: e.studio.totals.total - e.float.total, variables: e.studio.variables.length },
  ];
}

/**
 * "3 for the input quantizer, 5 per quantized Dense"-style counts: how many
 * variables each layer adds, folded into runs of equal counts in words.
 * E.g. [quantize_layer: 3, quant_dense: 5, quant_dense_1: 5] ->
 * "3 for quantize_layer, 5 each for quant_dense, quant_dense_1".
 */
export function describeAdded(variables: readonly QuantVariable[]): string {
  const groups = groupVariables(variables);
  const parts: string[] = [];
  let i = 0;
  while (i < groups.length) {
    let j = i + 1;
    while (j < groups.length && groups[j]!.values === groups[i]!.values) j++;
    const same = groups.slice(i, j);
    const names = same.map((g) => g.layer).join(', ');
    parts.push(same.length === 1 ? `${same[0]!.values} for ${names}` : `${same[0]!.values} each for ${names}`);
    i = j;
  }
  return parts.join('; ');
}

/** Short words for each kind of layer quantization (the Model view's Quantization column). */
export const QUANT_KIND_LABEL: Record<LayerQuantization['kind'], string> = {
  input: 'input range',
  preprocessing: 'preprocessing (float)',
  'own-range': 'own range',
  'shared-range': 'shares range',
  fused: 'fused',
  folded: 'folded',
  float: 'float',
};

/** What the Model view says when a layer is explained: its quantization line and the variables that hold its ranges. */
export interface LayerExplanation {
  layer: string;
  quantization: LayerQuantization | null;
  /** The studio's variables of this layer: its kernel range and its own output range. */
  own: QuantVariable[];
  /** The variables of the range its output carries when another layer holds them (a shared, fused or folded range). */
  carried: QuantVariable[];
  /** The layer holding `carried`. */
  carriedBy: string | null;
  /** tfmot's variables for the layer (its QuantizeWrapper, or the input's QuantizeLayer). */
  keras: QuantVariable[];
}

/** The explanation of one layer from a models.explain answer. */
export function explainLayer(e: VariableExplanation, layer: string): LayerExplanation {
  const quantization = e.studio.layers.find((l) => l.layer === layer) ?? null;
  const own = e.studio.variables.filter((v) => v.layer === layer);
  const range = quantization?.range;
  const carried = range ? e.studio.variables.filter((v) => v.layer !== layer && (v.name === `${range}/min` || v.name === `${range}/max`)) : [];
  const keras = quantization?.kind === 'input' ? e.keras.variables.filter((v) => v.layer === 'quantize_layer') : e.keras.variables.filter((v) => v.layer === `quant_${layer}`);
  return { layer, quantization, own, carried, carriedBy: carried[0]?.layer ?? null, keras };
}
