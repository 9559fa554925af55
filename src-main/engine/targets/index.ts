/**
 * The export targets a run can be planned and simulated for, by name
 * (config.target). One file per target; each profile is plain data
 * (profile.ts) that plan.ts, rules.ts and simulation.ts read.
 */
import type { TargetName } from '../../api/run-config.js';
import { onnxOrtCpu } from './onnx-ort-cpu.js';
import { onnxTensorrt } from './onnx-tensorrt.js';
import type { TargetProfile } from './profile.js';
import { tfliteInt8 } from './tflite-int8.js';

export type { FixedGrid, TargetProfile } from './profile.js';
export { profileRules } from './profile.js';

export const TARGETS: Readonly<Record<TargetName, TargetProfile>> = {
  'tflite-int8': tfliteInt8,
  'onnx-ort-cpu': onnxOrtCpu,
  'onnx-tensorrt': onnxTensorrt,
};

/** The profile of a run's target, or null when the run has none. */
export function targetOf(config: { target?: TargetName | undefined }): TargetProfile | null {
  return config.target ? TARGETS[config.target] : null;
}
