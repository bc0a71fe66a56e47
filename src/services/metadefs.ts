/**
 * Glance metadata-definition namespaces generated from the specs registry, so dashboards can offer
 * `hw_pmu` (and vpmu's flavor-side `hw:pmu`). `OS::Compute::LibvirtImage` keeps Glance's own title,
 * description and enum for hw_pmu (glance etc/metadefs/compute-libvirt-image.json); other texts come
 * from the registry.
 */
import { SPECS, type SpecEntry } from '../specs/index.js';

/** A metadef property: a JSON-schema fragment with a title. */
// A type alias (not an interface), so it is also a MetadefPropertyRecord (an index signature).
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions -- see above
export type MetadefProperty = {
  readonly title: string;
  readonly description: string;
  readonly type: 'string' | 'integer';
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly pattern?: string;
};

/** A metadef namespace, in Glance's wire shape. */
export interface MetadefNamespace {
  readonly namespace: string;
  readonly display_name: string;
  readonly description: string;
  readonly visibility: 'public';
  readonly protected: true;
  readonly owner: string;
  readonly resource_type_associations: readonly {
    readonly name: string;
    readonly prefix?: string;
  }[];
  readonly properties: Readonly<Record<string, MetadefProperty>>;
}

/** Glance's own texts for the properties its metadefs document. */
const GLANCE_TEXTS: Readonly<Record<string, { title: string; description: string }>> = {
  hw_pmu: {
    title: 'Virtual Performance Monitoring Unit',
    description:
      'Controls emulation of a vPMU in the guest. To reduce latency in realtime workloads disable the vPMU by setting hw_pmu=false',
  },
};

const FLAVOR_PREFIX = 'hw:';

/** Every namespace vpmu serves, by name. */
export function listMetadefNamespaces(): MetadefNamespace[] {
  const imageProperties = Object.fromEntries(
    SPECS.filter((spec) => spec.imageKey !== undefined).map((spec) => {
      const key = spec.imageKey ?? '';
      const texts = GLANCE_TEXTS[key] ?? { title: titleOf(key), description: spec.description };
      return [key, { ...texts, ...schemaOf(spec) }];
    }),
  );
  const flavorProperties = Object.fromEntries(
    SPECS.flatMap((spec) => {
      const key = spec.flavorKeys.find((k) => k.startsWith(FLAVOR_PREFIX));
      if (key === undefined) return [];
      const name = key.slice(FLAVOR_PREFIX.length);
      return [[name, { title: titleOf(key), description: spec.description, ...schemaOf(spec) }]];
    }),
  );
  const namespaces: MetadefNamespace[] = [
    {
      namespace: 'OS::Compute::LibvirtImage',
      display_name: 'libvirt Driver Options for Images',
      description:
        'The libvirt compute driver options. These are properties specific to compute drivers. ' +
        'vpmu validates the values of the properties listed here when they are set on an image.',
      visibility: 'public',
      protected: true,
      owner: 'admin',
      resource_type_associations: [{ name: 'OS::Glance::Image' }],
      properties: imageProperties,
    },
    {
      namespace: 'VPMU::Compute::Flavor',
      display_name: 'vpmu Flavor Extra Specs',
      description:
        'Flavor extra specs vpmu understands (Glance ships no hw:pmu metadef). Values are ' +
        'validated when set through os-extra_specs at every microversion.',
      visibility: 'public',
      protected: true,
      owner: 'admin',
      resource_type_associations: [{ name: 'OS::Nova::Flavor', prefix: FLAVOR_PREFIX }],
      properties: flavorProperties,
    },
  ];
  return namespaces.sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
}

/** One namespace, or undefined. */
export function findMetadefNamespace(name: string): MetadefNamespace | undefined {
  return listMetadefNamespaces().find((ns) => ns.namespace === name);
}

function schemaOf(spec: SpecEntry): Omit<MetadefProperty, 'title' | 'description'> {
  switch (spec.value.kind) {
    case 'boolean':
      // NOTE: Glance documents hw_pmu as a string enum; the API accepts the whole boolean grammar.
      return { type: 'string', enum: ['true', 'false'] };
    case 'enum':
      return { type: 'string', enum: spec.value.values };
    case 'integer':
      return { type: 'integer', minimum: spec.value.min, maximum: spec.value.max };
    case 'pattern':
      return { type: 'string', pattern: spec.value.pattern.source };
  }
}

function titleOf(key: string): string {
  const words = key.replace(/^(hw[:_]|img_|os_)/u, '').split(/[_:]/u);
  return words
    .map((w) =>
      w === 'cpu' || w === 'pmu' ? w.toUpperCase() : w.charAt(0).toUpperCase() + w.slice(1),
    )
    .join(' ');
}
