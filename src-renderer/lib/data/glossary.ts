/**
 * The quantization terms the studio shows, each in two or three sentences:
 * the tooltips of New run and Compare and the Glossary view read this one
 * table, so a term means the same everywhere. Formulas follow what the
 * engine computes (README: TF nudging, clip rate, SQNR).
 */
export interface GlossaryEntry {
  id: string;
  term: string;
  text: string;
}

export const GLOSSARY = [
  { id: 'bits', term: 'Bits', text: 'How many bits each quantized value has: 8 bits give 256 levels, 4 bits 16. Fewer bits make a smaller, faster model and a coarser grid, so more error.' },
  { id: 'granularity', term: 'Granularity', text: 'Per-tensor: one range (scale and zero point) for the whole tensor. Per-channel: one range per output channel (Dense units, Conv2D filters), so a channel with small weights is not quantized on the grid of the largest one.' },
  { id: 'symmetric', term: 'Symmetric', text: 'The range is centred on zero ([−a, a]) and the zero point is fixed; integer kernels are simpler. Asymmetric ranges follow the data ([min, max]), which suits activations after ReLU that are never negative.' },
  { id: 'narrow-range', term: 'Narrow range', text: 'Leaves out the lowest integer (−128 for int8) so the grid is symmetric around zero: [−127, 127]. TFLite asks for it on int8 weights.' },
  { id: 'scale', term: 'Scale and zero point', text: 'A real value x is stored as round(x / scale) + zero point, clamped to the integer range. The range is nudged (TensorFlow fake_quant) so that 0.0 is exactly representable.' },
  { id: 'estimator', term: 'Range estimator', text: 'How the range of an activation is chosen from the calibration batches. Weights use their exact min/max (the MSE estimator also searches weight clipping) unless “Weight ranges” picks min/max or MSE clipping for them apart.' },
  { id: 'minmax', term: 'min/max (AllValues)', text: 'The smallest and largest value seen over all calibration batches. Nothing is clipped, but one outlier stretches the grid for every other value.' },
  { id: 'lastvalue', term: 'Last value (LastValue)', text: 'The min and max of the last calibration batch only, as Keras LastValueQuantizer: cheap, and as noisy as one batch.' },
  { id: 'movingaverage', term: 'Moving average (MovingAverage)', text: 'An exponential moving average of each batch’s min and max (decay per batch, e.g. 0.999): smooths outliers out over batches.' },
  { id: 'percentile', term: 'Percentile', text: 'The range keeps the given two-sided percentile of a histogram of all calibration values (e.g. 99.99 %) and clips the rest: trades a few clipped outliers for a finer grid.' },
  { id: 'mse', term: 'MSE-optimal', text: 'Searches the histogram for the clipping range with the least mean squared quantization error (rounding plus clipping).' },
  { id: 'entropy', term: 'Entropy (KL)', text: 'TensorRT’s calibration: the range whose quantized distribution is closest to the float one in Kullback–Leibler divergence.' },
  { id: 'sqnr', term: 'SQNR', text: 'Signal-to-quantization-noise ratio in dB: 10·log10(Σx² / Σ(x − q(x))²) of a tensor against its quantized copy. Higher is better; each bit adds about 6 dB. The model input, quantized once on its own grid, often scores far above the rest.' },
  { id: 'clip-rate', term: 'Clip rate', text: 'The share of a tensor’s values that fall more than half a step outside its nudged range and are clamped to the edge of the grid.' },
  { id: 'ptq', term: 'PTQ', text: 'Post-training quantization: ranges are calibrated on a few batches of data and the trained weights are rounded, without training.' },
  { id: 'qat', term: 'QAT', text: 'Quantization-aware training: the model trains with fake quantization in its forward pass (straight-through gradients), so the weights adapt to the grid.' },
  { id: 'fake-quant', term: 'Fake quantization', text: 'Quantize then dequantize in float: the simulation computes the quantized model’s arithmetic with float ops, as TensorFlow’s fake_quant_with_min_max_vars does.' },
] as const satisfies readonly GlossaryEntry[];

export type GlossaryId = (typeof GLOSSARY)[number]['id'];

const BY_ID = new Map<string, GlossaryEntry>(GLOSSARY.map((e) => [e.id, e]));

export function glossaryEntry(id: GlossaryId): GlossaryEntry {
  return BY_ID.get(id)!;
}

/** The tooltip line: "Term — text". */
export function glossaryTip(id: GlossaryId): string {
  const e = glossaryEntry(id);
  return `${e.term} — ${e.text}`;
}

/** Entries whose term or text holds every word of `query`, case-insensitive. */
export function searchGlossary(query: string): GlossaryEntry[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return GLOSSARY.filter((e) => words.every((w) => `${e.term} ${e.text}`.toLowerCase().includes(w)));
}

/** The glossary entry explaining a config field (config-diff.ts keys such as "weights.bits"), if any. */
export function glossaryIdForField(key: string): GlossaryId | null {
  const field = key.split('.').pop() ?? key;
  const byField: Record<string, GlossaryId> = { bits: 'bits', granularity: 'granularity', symmetric: 'symmetric', narrowRange: 'narrow-range', kind: 'estimator', percentile: 'percentile', decay: 'movingaverage' };
  if (key === 'kind') return null;
  return byField[field] ?? null;
}
