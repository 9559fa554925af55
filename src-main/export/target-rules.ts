/**
 * A run planned for an export target (config.target) is exported to that
 * target's format only if it keeps the target's rules (engine/targets/rules.ts):
 * checked before anything is written, the refusal naming the layer and the
 * target's limit. A run stored by prepare already keeps them (it refuses
 * otherwise); this guards inputs built any other way.
 */
import { targetOf } from '../engine/targets/index.js';
import { targetViolations } from '../engine/targets/rules.js';
import { ExportError } from './errors.js';
import type { ExportInput } from './types.js';

export function assertTargetRules(input: Pick<ExportInput, 'config' | 'graph' | 'plan'>, format: 'onnx' | 'tflite'): void {
  const profile = targetOf(input.config);
  if (!profile || profile.format !== format) return;
  const v = targetViolations(profile, input.graph, input.plan, input.config)[0];
  if (v) throw new ExportError(`the run's target ${profile.name} cannot hold it: ${v.message} ${v.change}`, 'unsupported', { tensor: v.layer, format });
}
