/**
 * Domain values → the plain inputs of src/notifications/. This is where raw image properties get
 * their types, with the project's one boolean grammar (specs/parseBoolean): notifications/ may not
 * import specs/, so the servers and images use cases convert here before building events.
 */
import type { Flavor, Image, PropertyValue } from '../domain/index.js';
import type {
  FlavorInput,
  ImageInput,
  ImagePropsInput,
  PmuProvenance,
} from '../notifications/index.js';
import { parseBoolean, type PmuResolution } from '../specs/index.js';

type Writable<T> = { -readonly [K in keyof T]: T[K] };

const STRING_PROPS = [
  'hw_architecture',
  'hw_disk_bus',
  'hw_machine_type',
  'hw_video_model',
  'hw_vif_model',
  'os_type',
] as const;
const INTEGER_PROPS = ['hw_cpu_cores', 'hw_cpu_sockets', 'hw_cpu_threads'] as const;
const BOOLEAN_PROPS = ['hw_pmu', 'img_hide_hypervisor_id'] as const;

/**
 * Types the image properties the payload knows. An unset property stays out of the payload; so
 * does a value outside its grammar (`hw_pmu=maybe`), which the image API refuses before storing
 * and a boot refuses before building, so it can only be met in data written by something else.
 * Unlike Nova, such a value is never reported as false.
 */
export function toImagePropsInput(
  properties: Readonly<Record<string, PropertyValue>>,
): ImagePropsInput {
  const out: Writable<ImagePropsInput> = {};
  for (const key of STRING_PROPS) {
    const raw = properties[key];
    if (raw !== undefined) out[key] = String(raw);
  }
  for (const key of INTEGER_PROPS) {
    const raw = properties[key];
    const value = typeof raw === 'number' ? raw : Number(String(raw ?? '').trim() || NaN);
    if (Number.isInteger(value)) out[key] = value;
  }
  for (const key of BOOLEAN_PROPS) {
    const raw = properties[key];
    const value = raw === undefined ? undefined : parseBoolean(raw);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The notification view of a flavor; `id` falls back to the name for flavors read from files. */
export function toFlavorInput(flavor: Flavor): FlavorInput {
  return {
    flavorId: flavor.id ?? flavor.name,
    name: flavor.name,
    vcpus: flavor.vcpus,
    memoryMiB: flavor.memoryMiB,
    diskGiB: flavor.diskGiB,
    extraSpecs: flavor.extraSpecs,
  };
}

/** The notification view of an image; Glance fields the domain Image lacks may be added. */
export function toImageInput(
  image: Image & { readonly id: string },
  extra: Omit<ImageInput, 'id' | 'name' | 'properties'> = {},
): ImageInput {
  return {
    ...extra,
    id: image.id,
    name: image.name,
    owner: extra.owner ?? image.owner ?? null,
    properties: toImagePropsInput(image.properties),
  };
}

/** The vPMU provenance from a resolution and, once the guest is designed, its effect. */
export function toPmuProvenance(
  pmu: PmuResolution,
  explanation?: { readonly effective: 'on' | 'off'; readonly reason: string },
): PmuProvenance {
  return {
    flavor: pmu.requested.flavor,
    image: pmu.requested.image,
    resolved: pmu.resolved,
    source: pmu.source,
    effective: explanation?.effective ?? null,
    reason: explanation?.reason ?? null,
  };
}
