import {
  fail,
  ok,
  failIfAny,
  type CpuTopology,
  type Flavor,
  type Image,
  type Result,
} from '../domain/index.js';
import type { Issue } from '../errors/index.js';
import { HW_CPU_CORES, HW_CPU_SOCKETS, HW_CPU_THREADS, type SpecEntry } from './registry.js';
import {
  flavorSite,
  imageSite,
  parseSettingValue,
  type SettingValue,
  type ValueSite,
} from './validate.js';

/** One side's value of a setting: the key it was found under, its raw text and parsed value. */
export interface SideValue {
  readonly key: string;
  readonly raw: string;
  readonly value: SettingValue;
}

/** Both sides of a setting as the flavor and the image carry them, parsed. */
export interface SettingSides {
  readonly flavor: SideValue | undefined;
  readonly image: SideValue | undefined;
}

/** Where a resolved value came from. */
export type Source = 'flavor' | 'image' | 'both' | 'unset';

/** A setting resolved from both sides, keeping what was asked for. */
export interface Resolved {
  readonly sides: SettingSides;
  readonly value: SettingValue | undefined;
  readonly source: Source;
}

/** Shared by every read of an unset setting; never mutated (Result is read-only). */
const NEITHER_SIDE: Result<SettingSides> = ok({ flavor: undefined, image: undefined });

/**
 * Reads and parses a setting from the flavor (the first of its keys that is present) and from the
 * image. An unparsable value on either side is an issue; both sides are checked.
 */
export function readSetting(spec: SpecEntry, flavor: Flavor, image: Image): Result<SettingSides> {
  const flavorKey = spec.flavorKeys.find((key) => flavor.extraSpecs[key] !== undefined);
  const imageKey = spec.imageKey;
  // Most settings are unset on most guests, and a guest's design reads a dozen of them.
  if (
    flavorKey === undefined &&
    (imageKey === undefined || image.properties[imageKey] === undefined)
  )
    return NEITHER_SIDE;
  const issues: Issue[] = [];
  const readSide = (
    key: string | undefined,
    raw: string | number | boolean | undefined,
    site: (key: string) => ValueSite,
  ): SideValue | undefined => {
    if (key === undefined || raw === undefined) return undefined;
    const parsed = parseSettingValue(spec, raw, () => site(key));
    if (!parsed.ok) {
      issues.push(parsed.issue);
      return undefined;
    }
    return { key, raw: String(raw), value: parsed.value };
  };
  const sides = {
    flavor: readSide(flavorKey, flavorKey && flavor.extraSpecs[flavorKey], (key) =>
      flavorSite(flavor, key),
    ),
    image: readSide(imageKey, imageKey && image.properties[imageKey], (key) =>
      imageSite(image, key),
    ),
  };
  return failIfAny(issues) ?? ok(sides);
}

/**
 * Resolves a setting both sides may set (`combine: 'conflict'`): the flavor's value if set, else
 * the image's, else unset. Different values on the two sides are a FlavorImageConflict.
 */
export function resolveConflicting(
  spec: SpecEntry,
  flavor: Flavor,
  image: Image,
): Result<Resolved> {
  const read = readSetting(spec, flavor, image);
  if (!read.ok) return read;
  const { flavor: f, image: i } = read.value;
  if (f !== undefined && i !== undefined && f.value !== i.value) {
    return fail({
      code: 'spec.flavor_image_conflict',
      path: ['flavor', 'extra_specs', f.key],
      // NOTE: Nova wording (nova/virt/hardware.py get_pmu_constraint), booleans as Python prints them
      message:
        `Flavor ${flavor.name} has ${f.key} extra spec explicitly set to ${pythonic(f.value)}, ` +
        `conflicting with image ${image.name} which has ${i.key} explicitly set to ` +
        `${pythonic(i.value)}.`,
    });
  }
  const source: Source =
    f !== undefined && i !== undefined ? 'both' : f ? 'flavor' : i ? 'image' : 'unset';
  return ok({ sides: read.value, value: (f ?? i)?.value, source });
}

/** Resolves a boolean setting that is on when either side turns it on (`combine: 'either'`). */
export function resolveEither(spec: SpecEntry, flavor: Flavor, image: Image): Result<boolean> {
  const read = readSetting(spec, flavor, image);
  if (!read.ok) return read;
  return ok(read.value.flavor?.value === true || read.value.image?.value === true);
}

/**
 * Resolves the guest CPU topology. As in Nova, an image that sets any of sockets/cores/threads
 * replaces the flavor's preference. Parts left unset are derived so that the product equals the
 * vCPU count, sockets first; a preference that cannot reach it is an issue.
 */
export function resolveTopology(flavor: Flavor, image: Image): Result<CpuTopology> {
  const reads = [HW_CPU_SOCKETS, HW_CPU_CORES, HW_CPU_THREADS].map((spec) =>
    readSetting(spec, flavor, image),
  );
  const issues = reads.flatMap((read) => (read.ok ? [] : read.issues));
  const failed = failIfAny(issues);
  if (failed) return failed;

  const sides = reads.map((read) => (read.ok ? read.value : undefined));
  const fromImage = sides.some((side) => side?.image !== undefined);
  const preferred = sides.map((side) => {
    const chosen = fromImage ? side?.image : side?.flavor;
    return chosen === undefined ? undefined : Number(chosen.value);
  });
  const fixedProduct = preferred.reduce<number>((product, n) => product * (n ?? 1), 1);
  let remaining = flavor.vcpus % fixedProduct === 0 ? flavor.vcpus / fixedProduct : 0;
  const [sockets = 1, cores = 1, threads = 1] = preferred.map((n) => {
    if (n !== undefined) return n;
    const share = remaining;
    remaining = 1;
    return share;
  });
  if (sockets * cores * threads === flavor.vcpus) return ok({ sockets, cores, threads });

  const shown = preferred.map((n) => (n === undefined ? 'unset' : String(n)));
  return fail({
    code: 'spec.invalid_topology',
    path: fromImage ? ['image', 'properties'] : ['flavor', 'extra_specs'],
    message:
      `Cannot lay out the ${flavor.vcpus} vCPUs of flavor '${flavor.name}' as requested by ` +
      `${fromImage ? `image '${image.name}'` : `flavor '${flavor.name}'`}: sockets=${shown[0]}, ` +
      `cores=${shown[1]}, threads=${shown[2]} cannot multiply to ${flavor.vcpus}`,
  });
}

/** Formats a value as Nova's messages print it (Python's str of a bool is True/False). */
function pythonic(value: SettingValue): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  return String(value);
}
