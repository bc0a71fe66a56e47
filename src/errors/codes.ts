/**
 * Stable error codes. Append only: a code, once released, is never renamed, reused or given a
 * different HTTP status. docs/errors.md lists every code; a test keeps the two in agreement.
 */
export const ERROR_CODES = {
  'spec.invalid_value': {
    status: 400,
    summary: 'A flavor extra spec or image property has a value outside its allowed set.',
  },
  'spec.unknown_key': {
    status: 400,
    summary:
      'A flavor extra spec in a namespace vpmu validates (hw:, hw_rng:, hw_video:) is unknown.',
  },
  'spec.flavor_image_conflict': {
    status: 400,
    summary: 'The flavor and the image both set a setting, to different values.',
  },
  'spec.unsupported_for_guest': {
    status: 400,
    summary:
      'A valid setting cannot be honoured for this guest (for example hw:pmu=false on ppc64).',
  },
  'spec.invalid_topology': {
    status: 400,
    summary: 'The requested CPU sockets, cores and threads do not multiply to the vCPU count.',
  },
  'input.invalid': {
    status: 400,
    summary: 'An input document or argument is malformed (bad JSON, wrong type, missing field).',
  },
  'cli.usage': {
    status: 400,
    summary: 'The command line is malformed: unknown command or option, or a bad option value.',
  },
  'scheduler.no_valid_host': {
    status: 500,
    summary: 'No compute host passed the scheduler filters (Nova\'s "No valid host was found.").',
  },
  'hypervisor.operation_failed': {
    status: 500,
    summary:
      "libvirt refused or failed an operation (define, start, stop, read-back); the message names the operation, the domain and libvirt's reason.",
  },
  'hypervisor.not_found': {
    status: 404,
    summary: 'No domain with that name or UUID is defined on the hypervisor.',
  },
  'hypervisor.unavailable': {
    status: 503,
    summary:
      'The hypervisor cannot be reached (daemon down, connection lost) or its client library is not installed.',
  },
  'hypervisor.readback_mismatch': {
    status: 500,
    summary:
      'The domain libvirt holds differs from the guest vpmu designed (name, UUID or vPMU state).',
  },
  'host.probe_failed': {
    status: 500,
    summary: "The host probe could not read the host's capabilities, CPU flags or KVM parameters.",
  },
  'disk.operation_failed': {
    status: 500,
    summary:
      'An instance disk could not be created or removed (qemu-img failed, missing image file).',
  },
  'notifier.invalid_transport_url': {
    status: 400,
    summary:
      'The notification transport URL is not rabbit://USER:PASS@HOST:PORT/VHOST (bad scheme, host, port or encoding).',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

/** One of the registered error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;
