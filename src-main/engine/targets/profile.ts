/**
 * An export target's rules as plain data: what the runtime's integer kernels
 * hold (weight and activation types, zero points, granularity), which outputs
 * it puts on a fixed grid, which ops keep their input's scale, where
 * activations fuse, how it rounds. A run with `config.target` is planned by
 * them (targets/plan.ts), checked against them before it starts
 * (targets/rules.ts, lint and prepare) and simulated with the target's
 * arithmetic (targets/simulation.ts), so its reported accuracy is what the
 * exported file scores.
 */
import type { Granularity, TargetName } from '../../api/run-config.js';
import type { Activation, WeightedNode } from '../graph/types.js';
import type { RoundingMode } from '../quant/fake-quant.js';

/** An output the target puts on a grid of its own, whatever calibration saw. */
export interface FixedGrid {
  /** The activation whose output it is (a standalone node, or fused into the output layer before the split). */
  activation: Extract<Activation, 'softmax' | 'sigmoid' | 'tanh'>;
  /** The real range of the grid in TF's terms (computeQParams on it gives the grid). */
  min: number;
  max: number;
  /** 'own': the grid in the quantizer's spec (8-bit asymmetric: scale 1/256); 'int8': always TF's asymmetric 8-bit spec. */
  spec: 'own' | 'int8';
  /** With spec 'own' and symmetric activations: the grid's range then (onnxruntime: 1/128, zero point 0). */
  symmetricRange?: [number, number];
  why: string;
}

export interface TargetProfile {
  name: TargetName;
  label: string;
  /** One line: what the target is and how the run is then simulated. */
  summary: string;
  /** The export format that writes it. */
  format: 'tflite' | 'onnx';
  /** Where the exported file runs (the verification's runtime, or what it stands for). */
  runtime: string;
  weights: {
    /** Bit widths the target's kernels take. */
    bits: readonly number[];
    /** Zero point 0 required. */
    symmetric: boolean;
    /** [-(2^(b-1) - 1), 2^(b-1) - 1] required (int8: [-127, 127]). */
    narrowRange: boolean;
    /** Granularities per weighted op; per-channel always on the output channels. */
    granularity: Readonly<Record<WeightedNode['op'], readonly Granularity[]>>;
  };
  activations: {
    bits: readonly number[];
    /** 'any': an asymmetric grid (any zero point); 'zero': symmetric, zero point 0. */
    zeroPoint: 'any' | 'zero';
    /** Narrow-range activations cannot be stored (QuantizeLinear and int8 tensors saturate at the type's range). */
    narrowRange: false;
    granularity: 'per-tensor';
  };
  fixedGrids: readonly FixedGrid[];
  /** A softmax fused into the output layer is computed as that layer's quantized logits, then a quantized softmax. */
  splitFusedSoftmax: boolean;
  /** Every tensor is integer: no layer may stay float (overrides, unsupported layers, unfolded BatchNorms). */
  fullInteger: boolean;
  /** Ops whose output keeps its input's scale and zero point (the plan gives them no quantizer of their own). */
  sharedScales: readonly string[];
  /** Activations fused into the Conv / FullyConnected / Add before them (no tensor of their own). */
  fusedActivations: readonly Activation[];
  rounding: {
    /** float → int of the model input (and of the stored weights). */
    input: RoundingMode;
    /** Requantization of an op's output. */
    requantize: RoundingMode;
    text: string;
  };
  biases: string;
  /** The rules' sources, cited in `studio targets`. */
  sources: readonly string[];
}

/** What `studio targets` and the New run form print of a profile: one line per rule. */
export function profileRules(p: TargetProfile): string[] {
  const g = p.weights.granularity;
  const perOp = (Object.keys(g) as WeightedNode['op'][]).map((op) => `${op} ${g[op].join('/')}`).join(', ');
  return [
    `weights: ${p.weights.bits.join('/')}-bit, ${p.weights.symmetric ? 'symmetric (zero point 0)' : 'any zero point'}${p.weights.narrowRange ? ', narrow range' : ''}; ${perOp} (per-channel on output channels)`,
    `activations: ${p.activations.bits.join('/')}-bit, ${p.activations.zeroPoint === 'zero' ? 'symmetric (zero point 0)' : 'asymmetric (any zero point)'}, per-tensor, full range`,
    ...(p.fixedGrids.length ? [`fixed grids: ${p.fixedGrids.map((f) => `${f.activation} [${f.min}, ${f.max}]`).join(', ')}`] : []),
    ...(p.splitFusedSoftmax ? ['a softmax fused into the output layer: its logits quantized first'] : []),
    `shared scales: ${p.sharedScales.join(', ')}`,
    `fused activations: ${p.fusedActivations.join(', ')}`,
    `rounding: ${p.rounding.text}`,
    `biases: ${p.biases}`,
    ...(p.fullInteger ? ['full integer: no layer stays float'] : []),
  ];
}

/**
 * The int8 kernels' weights all three targets take: symmetric [-127, 127]
 * (zero point 0), per tensor or per output channel for every weighted op.
 */
export const INT8_SYMMETRIC_WEIGHTS: TargetProfile['weights'] = {
  bits: [8],
  symmetric: true,
  narrowRange: true,
  granularity: { conv2d: ['per-tensor', 'per-channel'], depthwiseConv2d: ['per-tensor', 'per-channel'], dense: ['per-tensor', 'per-channel'] },
};
