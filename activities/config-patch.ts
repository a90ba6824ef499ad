/**
 * Applies a run's `configPatch` (workflows/messages) to a resolved RunConfig: objects merge
 * key by key, every other value replaces. A key the config does not have, or a value of a
 * different JSON type, is rejected so a typo cannot silently train with the default.
 * Returns a new object; the input config is never modified.
 */
import type { ConfigPatch, ConfigPatchValue } from '../contract/run-contract';
import { invalidConfig } from './errors';

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function mergeValue(base: unknown, patch: ConfigPatchValue, path: string): unknown {
  const baseKind = kindOf(base);
  const patchKind = kindOf(patch);
  // null ↔ number is allowed: nullable numeric fields (e.g. ppo.missingEosPenalty).
  const nullableNumber = (baseKind === 'null' && patchKind === 'number') || (baseKind === 'number' && patchKind === 'null');
  if (baseKind !== patchKind && !nullableNumber) {
    throw invalidConfig(`configPatch.${path}: expected ${baseKind}, got ${patchKind}`);
  }
  if (patchKind === 'object') return mergeObject(base as Record<string, unknown>, patch as ConfigPatch, path);
  return structuredClone(patch);
}

function mergeObject(base: Record<string, unknown>, patch: ConfigPatch, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const at = path ? `${path}.${key}` : key;
    if (!Object.prototype.hasOwnProperty.call(base, key)) throw invalidConfig(`configPatch.${at}: no such config field`);
    out[key] = mergeValue(base[key], value, at);
  }
  return out;
}

/** The config with `patch` deep-merged in (see the module comment for the rules). */
export function applyConfigPatch<T extends object>(config: T, patch: ConfigPatch | undefined): T {
  if (!patch) return structuredClone(config);
  return structuredClone(mergeObject(config as Record<string, unknown>, patch, '')) as T;
}
