/**
 * A model's architecture in words, derived from its layers as stored, so a
 * description can never disagree with the layer table beside it (widths,
 * order, how many layers).
 */
import type { LayerSummary } from '../../api/contract.js';

/** Up to this many layers the description names each one in order; above it, it counts them by class. */
export const CHAIN_MAX = 14;

const count = (n: number) => n.toLocaleString('en-US');

/** `Conv2D(32, 3×3, same)`, `Dense(10, softmax)`, `ReLU`, `MaxPooling2D`. */
export function layerLabel(l: LayerSummary): string {
  const cls = l.className ?? l.op;
  if (cls === 'Activation' && l.activation) return l.activation === 'relu' ? 'ReLU' : l.activation;
  const width = l.outputShape.at(-1);
  const act = l.activation && l.activation !== 'linear' ? l.activation : null;
  if (l.op === 'dense') return `${cls}(${[width, act].filter(Boolean).join(', ')})`;
  if (l.op === 'conv2d') return `${cls}(${[width, l.options, act].filter(Boolean).join(', ')})`;
  if (l.op === 'depthwiseConv2d') return `${cls}(${[l.options, act].filter(Boolean).join(', ')})`;
  return cls;
}

/**
 * `input 28x28x1 → Conv2D(32, 3×3, same) → … → Dense(10, softmax); 11
 * layers after the input, 422,026 parameters.` (the layer table lists the
 * input and these layers). Long models: the layers counted by class.
 */
export function describeArchitecture(layers: LayerSummary[]): string {
  const input = layers.find((l) => l.op === 'input');
  const rest = layers.filter((l) => l !== input);
  const params = layers.reduce((s, l) => s + l.params, 0);
  const inputText = `input ${(input?.outputShape ?? []).join('x')}`;
  const tail = `${rest.length} layers after the input, ${count(params)} parameters`;
  if (rest.length <= CHAIN_MAX) return `${[inputText, ...rest.map(layerLabel)].join(' → ')}; ${tail}.`;
  const byClass = new Map<string, number>();
  for (const l of rest) byClass.set(l.className ?? l.op, (byClass.get(l.className ?? l.op) ?? 0) + 1);
  return `${inputText}; ${tail}: ${[...byClass].map(([c, n]) => `${c} ×${n}`).join(', ')}.`;
}
