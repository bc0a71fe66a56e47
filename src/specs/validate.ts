import type { Flavor, Image, PropertyValue } from '../domain/index.js';
import type { Issue } from '../errors/index.js';
import { BOOLEAN_GRAMMAR, parseBoolean } from './boolean.js';
import {
  findFlavorSpec,
  findImageSpec,
  SPECS,
  VALIDATED_NAMESPACES,
  type SpecEntry,
} from './registry.js';

/** A parsed setting value: booleans for boolean specs, numbers for integers, strings otherwise. */
export type SettingValue = boolean | number | string;

/** Where a value came from, for messages: `extra spec 'hw:pmu' of flavor 'vran'`. */
export interface ValueSite {
  readonly path: readonly string[];
  readonly label: string;
}

/** The site of a flavor extra spec. */
export function flavorSite(flavor: Flavor, key: string): ValueSite {
  return {
    path: ['flavor', 'extra_specs', key],
    label: `extra spec '${key}' of flavor '${flavor.name}'`,
  };
}

/** The site of an image property. */
export function imageSite(image: Image, key: string): ValueSite {
  return {
    path: ['image', 'properties', key],
    label: `property '${key}' of image '${image.name}'`,
  };
}

/**
 * Parses one raw value against its registry entry. Messages start with Nova's own sentence
 * (nova/api/validation/extra_specs/base.py), then name the key, the object and what is allowed.
 */
export function parseSettingValue(
  spec: SpecEntry,
  raw: PropertyValue,
  site: () => ValueSite,
): { ok: true; value: SettingValue } | { ok: false; issue: Issue } {
  const text = String(raw);
  // The site (and its message text) is built only for a refused value: valid ones are the rule.
  const invalid = (novaSentence: string, allowed: string) => {
    const { path, label } = site();
    return {
      ok: false as const,
      issue: {
        code: 'spec.invalid_value' as const,
        path,
        message: `Validation failed; ${novaSentence} The ${label} accepts ${allowed}.`,
      },
    };
  };
  switch (spec.value.kind) {
    case 'boolean': {
      const value = parseBoolean(raw);
      return value === undefined
        ? invalid(`'${text}' is not a valid boolean-like value.`, BOOLEAN_GRAMMAR)
        : { ok: true, value };
    }
    case 'integer': {
      const { min, max } = spec.value;
      const trimmed = text.trim();
      const value = /^[0-9]+$/u.test(trimmed) ? Number(trimmed) : Number.NaN;
      return Number.isInteger(value) && value >= min && value <= max
        ? { ok: true, value }
        : invalid(
            `'${text}' is not a valid integer value.`,
            `a whole number from ${min} to ${max}`,
          );
    }
    case 'enum': {
      const { values } = spec.value;
      return values.includes(text)
        ? { ok: true, value: text }
        : invalid(`'${text}' is not one of the allowed values.`, `one of: ${values.join(', ')}`);
    }
    case 'pattern': {
      return spec.value.pattern.test(text)
        ? { ok: true, value: text }
        : invalid(`'${text}' is not a valid value.`, spec.value.expected);
    }
  }
}

/**
 * Checks every extra spec of a flavor: known keys must hold valid values, and keys in a namespace
 * vpmu validates must be known (Nova's rule from microversion 2.86).
 */
export function validateFlavorExtraSpecs(flavor: Flavor): Issue[] {
  const issues: Issue[] = [];
  for (const [key, raw] of Object.entries(flavor.extraSpecs).sort(byKey)) {
    const spec = findFlavorSpec(key);
    if (spec !== undefined) {
      const parsed = parseSettingValue(spec, raw, () => flavorSite(flavor, key));
      if (!parsed.ok) issues.push(parsed.issue);
      continue;
    }
    const namespace = key.includes(':') ? key.slice(0, key.indexOf(':')) : undefined;
    if (namespace !== undefined && VALIDATED_NAMESPACES.includes(namespace)) {
      issues.push(unknownKeyIssue(flavor, key, namespace));
    }
  }
  return issues;
}

/**
 * Checks the image properties vpmu knows. Other properties are left alone: images are shared
 * artifacts whose properties also serve other services, as in Glance.
 */
export function validateImageProperties(image: Image): Issue[] {
  const issues: Issue[] = [];
  for (const [key, raw] of Object.entries(image.properties).sort(byKey)) {
    const spec = findImageSpec(key);
    if (spec === undefined) continue;
    const parsed = parseSettingValue(spec, raw, () => imageSite(image, key));
    if (!parsed.ok) issues.push(parsed.issue);
  }
  return issues;
}

function unknownKeyIssue(flavor: Flavor, key: string, namespace: string): Issue {
  const known = SPECS.flatMap((spec) => spec.flavorKeys).filter((k) => k.includes(':'));
  const inNamespace = known.filter((k) => k.startsWith(`${namespace}:`));
  const suggestion = closest(key, known);
  const hint = suggestion === undefined ? '' : ` Did you mean '${suggestion}'?`;
  const allowed =
    inNamespace.length > 0
      ? `may set these keys in that namespace: ${inNamespace.join(', ')}`
      : `may set no keys in that namespace that vpmu knows; it knows ${known.join(', ')}`;
  return {
    code: 'spec.unknown_key',
    path: ['flavor', 'extra_specs', key],
    // NOTE: Nova wording for the first sentence (nova/api/validation/extra_specs/validators.py)
    message:
      `Validation failed; extra spec '${key}' does not appear to be a valid extra spec.` +
      ` Flavor '${flavor.name}' ${allowed}.${hint}`,
  };
}

/** The candidate within edit distance 2 of `word`, if there is one: a likely typo. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= 2 && (best === undefined || distance < best.distance)) {
      best = { candidate, distance };
    }
  }
  return best?.candidate;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function byKey(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}
