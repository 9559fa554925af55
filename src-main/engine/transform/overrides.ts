/**
 * Per-layer overrides as the planner reads them: one merged override per
 * layer name, later entries in config.overrides winning field by field (so a
 * list edited by appending behaves as the user expects).
 */
import type { LayerOverride, QuantSpec, RunConfig } from '../../api/run-config.js';

export function overridesByLayer(config: Pick<RunConfig, 'overrides'>): Map<string, LayerOverride> {
  const out = new Map<string, LayerOverride>();
  for (const o of config.overrides) {
    const merged: LayerOverride = { ...out.get(o.layer), layer: o.layer };
    for (const [key, value] of Object.entries(o)) if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
    out.set(o.layer, merged);
  }
  return out;
}

/** A spec with its bits replaced when given (a fresh object, so plans never alias the config). */
export function withBits(spec: QuantSpec, bits: number | undefined): QuantSpec {
  return { ...spec, bits: bits ?? spec.bits };
}
