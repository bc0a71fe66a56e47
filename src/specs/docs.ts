/** Renders docs/extra-specs.md from the registry, so the docs cannot drift from the code. */
import { BOOLEAN_GRAMMAR } from './boolean.js';
import { SPECS, VALIDATED_NAMESPACES, type SpecEntry } from './registry.js';

const COMBINE_TEXT: Readonly<Record<SpecEntry['combine'], string>> = {
  conflict: 'flavor or image; different values on both are a conflict (400)',
  either: 'on when either the flavor or the image turns it on',
  'image-topology': 'the image’s preference, when it sets any part, replaces the flavor’s',
  'image-only': 'image only',
};

/** The Markdown text of docs/extra-specs.md. */
export function renderSpecsMarkdown(): string {
  const rows = SPECS.map((spec) => {
    const flavor = spec.flavorKeys.map((key) => `\`${key}\``).join(', ') || '—';
    const image = spec.imageKey === undefined ? '—' : `\`${spec.imageKey}\``;
    const cells = [
      flavor,
      image,
      describeValue(spec),
      COMBINE_TEXT[spec.combine],
      spec.description,
    ];
    return `| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  });
  return [
    '# Flavor extra specs and image properties',
    '',
    '<!-- Generated from src/specs/registry.ts by `npm run test:update-golden`; do not edit. -->',
    '',
    'Every setting vpmu reads from a flavor (extra spec, set by an operator) or an image',
    '(property, set by its owner). Values are checked when they are set through the API and again',
    'when a guest is built; a value outside the allowed set is refused with an error that names the',
    'key, the value and the flavor or image, never silently replaced by a default.',
    '',
    '| Flavor extra spec | Image property | Values | When both are set | What it does |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Boolean values accept ${BOOLEAN_GRAMMAR}; surrounding whitespace is ignored.`,
    '',
    `Unknown keys in the ${VALIDATED_NAMESPACES.map((ns) => `\`${ns}:\``).join(', ')} flavor`,
    'namespaces are refused; keys in other namespaces (`trait:`, `resources:`, …) are stored and',
    'passed through. Image properties vpmu does not know are left alone, as Glance does.',
    '',
  ].join('\n');
}

function describeValue(spec: SpecEntry): string {
  switch (spec.value.kind) {
    case 'boolean':
      return 'boolean';
    case 'integer':
      return `integer ${spec.value.min}–${spec.value.max}`;
    case 'enum':
      return spec.value.values.map((value) => `\`${value}\``).join(', ');
    case 'pattern':
      return spec.value.expected;
  }
}
