/**
 * Flavor + image + resolved vPMU → what the scheduler must find: resources, required and forbidden
 * traits. Request filters run here, in Nova's spirit (nova/scheduler/request_filter.py): each adds
 * traits to the request before any host is looked at.
 */
import { failIfAny, ok, type Flavor, type Image, type Result } from '../domain/index.js';
import type { Issue } from '../errors/index.js';
import type { PmuResolution } from '../specs/index.js';
import type { ResourceClass } from './host-state.js';

/** The trait a host reports when it can give a guest a working vPMU. */
export const VPMU_TRAIT = 'CUSTOM_HW_VPMU';

export interface RequestSpec {
  readonly resources: Readonly<Record<ResourceClass, number>>;
  readonly requiredTraits: ReadonlySet<string>;
  readonly forbiddenTraits: ReadonlySet<string>;
}

export interface SchedulerOptions {
  /**
   * Require VPMU_TRAIT when the vPMU resolves to on (DESIGN §2.7). Off by default, as Nova's
   * image-metadata prefilter is.
   */
  readonly vpmuPrefilter: boolean;
}

const TRAIT_NAME = /^[A-Z][A-Z0-9_]{0,254}$/u;

/**
 * Builds the request: the flavor's resources, `trait:NAME=required|forbidden` from the flavor's
 * extra specs and the image's properties (Placement's syntax, as Nova reads it), then the vPMU
 * prefilter.
 */
export function buildRequestSpec(
  flavor: Flavor,
  image: Image,
  pmu: PmuResolution,
  options: SchedulerOptions,
): Result<RequestSpec> {
  const required = new Set<string>();
  const forbidden = new Set<string>();
  const issues: Issue[] = [];
  const sources = [
    {
      entries: Object.entries(flavor.extraSpecs),
      path: ['flavor', 'extra_specs'],
      owner: `flavor '${flavor.name}'`,
    },
    {
      entries: Object.entries(image.properties),
      path: ['image', 'properties'],
      owner: `image '${image.name}'`,
    },
  ];
  for (const { entries, path, owner } of sources) {
    for (const [key, raw] of entries) {
      if (!key.startsWith('trait:')) continue;
      const trait = key.slice('trait:'.length);
      const value = String(raw);
      if (TRAIT_NAME.test(trait) && (value === 'required' || value === 'forbidden')) {
        (value === 'required' ? required : forbidden).add(trait);
        continue;
      }
      issues.push({
        code: 'spec.invalid_value',
        path: [...path, key],
        message: `Cannot read '${key}=${value}' of ${owner}: a trait key is trait:NAME with NAME in upper case (A-Z, 0-9, _), and its value is required or forbidden`,
      });
    }
  }
  if (options.vpmuPrefilter && pmu.resolved === true) required.add(VPMU_TRAIT);
  for (const trait of required) {
    if (forbidden.has(trait)) {
      issues.push({
        code: 'spec.flavor_image_conflict',
        path: ['trait:' + trait],
        message: `Cannot both require and forbid trait ${trait} (flavor '${flavor.name}', image '${image.name}'${trait === VPMU_TRAIT ? ', vPMU requested on' : ''})`,
      });
    }
  }
  return (
    failIfAny(issues) ??
    ok({
      resources: { VCPU: flavor.vcpus, MEMORY_MB: flavor.memoryMiB, DISK_GB: flavor.diskGiB },
      requiredTraits: required,
      forbiddenTraits: forbidden,
    })
  );
}
