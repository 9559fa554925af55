/**
 * "Find the culprit": the same config again with one layer fixed a given way,
 * as a per-layer override. Pure, no DOM.
 */
import type { RunSummary } from '../../../src-main/api/contract.js';
import type { LayerOverride, RunConfig } from '../../../src-main/api/run-config.js';

export type CulpritFix = 'float' | '8' | '16';

export const CULPRIT_FIXES: readonly { fix: CulpritFix; label: string; hint: string }[] = [
  { fix: 'float', label: 'Float', hint: 'Re-run with this layer kept in float' },
  { fix: '8', label: '8-bit', hint: 'Re-run with this layer at 8-bit weights and activations' },
  { fix: '16', label: '16-bit', hint: 'Re-run with this layer at 16-bit weights and activations' },
];

export function overrideFor(layer: string, fix: CulpritFix): LayerOverride {
  if (fix === 'float') return { layer, float: true };
  const bits = fix === '8' ? 8 : 16;
  return { layer, weightBits: bits, activationBits: bits };
}

/** The config with `layer` fixed; an existing override of that layer is replaced, others are kept. */
export function withOverride(config: RunConfig, layer: string, fix: CulpritFix): RunConfig {
  const overrides = config.overrides.filter((o) => o.layer !== layer);
  overrides.push(overrideFor(layer, fix));
  return { ...config, overrides };
}

/** Whether the config already fixes `layer` this way (its button then says so). */
export function hasOverride(config: RunConfig, layer: string, fix: CulpritFix): boolean {
  const want = overrideFor(layer, fix);
  return config.overrides.some(
    (o) => o.layer === layer && !!o.float === !!want.float && o.weightBits === want.weightBits && o.activationBits === want.activationBits,
  );
}

/**
 * The run that tests a fix: the same kind and config with `layer` fixed, but
 * a sensitivity run's fix is a PTQ run (its config without the subset), so
 * the loop goes sensitivity → PTQ child with that layer float or wider.
 */
export function culpritRun(from: Pick<RunSummary, 'kind' | 'config'>, layer: string, fix: CulpritFix): { kind: RunSummary['kind']; config: RunConfig } {
  const config = withOverride(from.config, layer, fix);
  if (from.kind !== 'sensitivity') return { kind: from.kind, config };
  const { sensitivity: _subset, ...ptq } = config;
  return { kind: 'ptq', config: ptq };
}
