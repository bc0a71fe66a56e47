/** Minimal domain XML for hypervisor tests. */

/** A tiny domain in the shape the fake (and libvirt's test driver) accepts. */
export function tinyDomainXml(
  type: string,
  d: { name: string; uuid?: string; pmu?: boolean },
): string {
  const uuid = d.uuid === undefined ? '' : `\n  <uuid>${d.uuid}</uuid>`;
  const pmu = d.pmu === undefined ? '' : `\n    <pmu state="${d.pmu ? 'on' : 'off'}"/>`;
  return `<domain type="${type}">
  <name>${d.name}</name>${uuid}
  <memory unit="MiB">64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch="x86_64">hvm</type>
  </os>
  <features>
    <acpi/>${pmu}
  </features>
</domain>
`;
}
