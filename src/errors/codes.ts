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
  'host.unregistered': {
    status: 503,
    summary:
      'A compute host is known by name only: its process has not registered its guest settings in the store yet.',
  },
  'disk.operation_failed': {
    status: 500,
    summary:
      'An instance disk could not be created or removed (missing or unreadable image file, file system refused).',
  },
  'request.invalid': {
    status: 400,
    summary:
      'An HTTP request is malformed: bad JSON, a missing or mistyped field, an unknown query value.',
  },
  'request.not_acceptable': {
    status: 406,
    summary: 'The requested compute API microversion is outside the supported range.',
  },
  'request.unsupported_media_type': {
    status: 415,
    summary: 'The request body has a content type the endpoint does not accept.',
  },
  'request.too_large': {
    status: 413,
    summary: 'The request body is larger than the endpoint accepts (1 MiB for JSON documents).',
  },
  'auth.unauthorized': {
    status: 401,
    summary:
      'The request carries no token, or an unknown or expired one, or the credentials are wrong.',
  },
  'auth.forbidden': {
    status: 403,
    summary: 'The caller is authenticated but its roles do not allow the action.',
  },
  'auth.account_locked': {
    status: 401,
    summary:
      'Too many failed password logins in a row: the account is locked for a while (lockoutFailureAttempts, lockoutDurationSeconds).',
  },
  'auth.unavailable': {
    status: 503,
    summary:
      'Tokens or credentials cannot be checked right now because the identity records cannot be read; retry later.',
  },
  'auth.token_not_found': {
    status: 404,
    summary: 'The token to validate (X-Subject-Token) is unknown or expired.',
  },
  'route.not_found': {
    status: 404,
    summary: 'No API endpoint answers this path.',
  },
  'placement.not_found': {
    status: 404,
    summary: 'The Placement API has no such resource provider, inventory, resource class or trait.',
  },
  'placement.method_not_allowed': {
    status: 405,
    summary:
      "The Placement API is read-only: providers, inventories, traits and allocations follow the compute hosts and the servers' claims.",
  },
  'flavor.not_found': {
    status: 404,
    summary: 'No flavor with this id is visible to the caller.',
  },
  'flavor.extra_spec_not_found': {
    status: 404,
    summary: 'The flavor has no extra spec with this key.',
  },
  'flavor.exists': {
    status: 409,
    summary: 'A flavor with this id or name already exists.',
  },
  'flavor.access_exists': {
    status: 409,
    summary: 'The project already has access to the private flavor.',
  },
  'flavor.is_public': {
    status: 409,
    summary: 'Access lists apply only to private flavors; the flavor is public.',
  },
  'image.not_found': {
    status: 404,
    summary: 'No image with this id is visible to the caller.',
  },
  'image.exists': {
    status: 409,
    summary: 'An image with this id already exists.',
  },
  'image.read_only': {
    status: 403,
    summary: 'The image attribute cannot be changed by a patch (id, status, size, checksums, …).',
  },
  'image.protected': {
    status: 403,
    summary: 'The image is protected and cannot be deleted; clear protected first.',
  },
  'image.conflict': {
    status: 409,
    summary:
      'The image is not in a state that allows the change (data already uploaded, property missing for replace or remove).',
  },
  'server.metadata_limit': {
    status: 403,
    summary:
      "A server would hold more metadata items than the project's metadata_items quota (Nova's default 128).",
  },
  'server.metadata_not_found': {
    status: 404,
    summary: 'The server has no metadata item with this key.',
  },
  'internal.unexpected': {
    status: 500,
    summary: 'An unexpected error; the detail is in the service log under the request id.',
  },
  'notifier.invalid_transport_url': {
    status: 400,
    summary:
      'The notification transport URL is not rabbit://USER:PASS@HOST:PORT/VHOST (bad scheme, host, port or encoding).',
  },
  'server.not_found': {
    status: 404,
    summary: 'No server with this id is visible to the caller.',
  },
  'server.exists': {
    status: 409,
    summary: 'A server with this id already exists.',
  },
  'server.conflict': {
    status: 409,
    summary:
      'The server changed while the request ran (another request or process saved it first), so the change was not made; retry it.',
  },
  'server.group_not_found': {
    status: 404,
    summary: 'No server group with this id is visible to the caller.',
  },
  'server.group_exists': {
    status: 409,
    summary: 'A server group with this id already exists.',
  },
  'service.not_found': {
    status: 404,
    summary: 'No compute service has this id, or this host has no service of this binary.',
  },
  'service.in_use': {
    status: 409,
    summary: 'A compute service cannot be deleted while servers are on its host.',
  },
  'aggregate.not_found': {
    status: 404,
    summary: 'No host aggregate has this id.',
  },
  'aggregate.exists': {
    status: 409,
    summary: 'A host aggregate with this name already exists.',
  },
  'aggregate.host_exists': {
    status: 409,
    summary:
      'The host is in the aggregate already, or adding it would put it in two availability zones.',
  },
  'aggregate.invalid_action': {
    status: 400,
    summary:
      'An aggregate change Nova refuses: deleting an aggregate that still has hosts, or an availability zone that would put a host in two zones or is empty.',
  },
  'keypair.not_found': {
    status: 404,
    summary: 'The user has no key pair of this name.',
  },
  'keypair.exists': {
    status: 409,
    summary: 'The user already has a key pair of this name.',
  },
  'keypair.invalid': {
    status: 400,
    summary:
      'A key pair cannot be created: its public key or certificate does not parse, or its name has characters Nova refuses.',
  },
  'keypair.quota_exceeded': {
    status: 403,
    summary:
      "The user already holds as many key pairs as its key_pairs quota allows (Nova's default 100).",
  },
  'server.invalid_state': {
    status: 409,
    summary:
      'The server is not in a state that allows the action (for example os-start on an ACTIVE server).',
  },
  'server.not_ready': {
    status: 409,
    summary:
      'The server has no guest to read from yet (it is not placed on a host, or it is being deleted): no console output.',
  },
  'server.build_failed': {
    status: 500,
    summary:
      'Building, starting or changing the guest failed after the server was recorded; the server is in ERROR with this fault.',
  },
  'hypervisor.host_not_found': {
    status: 404,
    summary: 'No compute host (hypervisor) with this id or name.',
  },
  'server.no_room_to_resize': {
    status: 400,
    summary:
      "The server's host has no room for the new flavor next to the current one (a resize stays on its host); nothing changed.",
  },
  'server.no_room_to_rebuild': {
    status: 400,
    summary:
      'A server in ERROR gave up its resources when it failed, and its host has no room to take them again for the rebuild; nothing changed.',
  },
  'image.invalid_data': {
    status: 400,
    summary:
      'Image data is not its declared disk_format, refers to other files (a backing file, an external data file, VMDK extents) or has a virtual size above the limit; an upload leaves the image queued with no data, a boot fails with this fault.',
  },
  'image.over_limit': {
    status: 413,
    summary:
      'An image limit is reached: image_size_cap, user_storage_quota, image_property_quota, or the image storage is full; nothing was stored.',
  },
  'image.storage_unavailable': {
    status: 503,
    summary:
      'Image data cannot be written, read or checked right now (read-only or unreadable storage, missing data file, qemu-img not installed); nothing was stored.',
  },
  'server.no_room_to_start': {
    status: 400,
    summary:
      'A server in ERROR gave up its resources when it failed, and its host has no room to take them again for a start or hard reboot; nothing changed.',
  },
  'storage.unavailable': {
    status: 503,
    summary:
      'A change could not be recorded: the state directory is full, read-only or failing; nothing changed, and requests that only read keep working.',
  },
  'server.locked': {
    status: 409,
    summary:
      'The server is locked (os-lock-server): only an administrator may act on it or delete it until it is unlocked.',
  },
  'server.tag_not_found': {
    status: 404,
    summary: 'The server has no tag with this name.',
  },
  'server.network_not_found': {
    status: 404,
    summary:
      'The server is not a member of the named network (vpmu plugs no networks, so a server has none).',
  },
  'hypervisor.service_unavailable': {
    status: 400,
    summary:
      "The compute host's service is not reachable from this API (Nova's ComputeServiceUnavailable), so it cannot be asked (for example for its uptime).",
  },
  'feature.not_supported': {
    status: 501,
    summary:
      "The compute host's agent cannot answer this (for example a host with no `uptime` to report).",
  },
  'image.member_exists': {
    status: 409,
    summary: 'The project is a member of the image already.',
  },
  'image.member_not_found': {
    status: 404,
    summary: 'The project is not a member of the image (or the caller may not see its membership).',
  },
  'image.tag_not_found': {
    status: 404,
    summary: 'The image has no such tag.',
  },
  'image.status_forbidden': {
    status: 403,
    summary:
      "The image's status does not allow the action: only an active image can be deactivated and only a deactivated one reactivated; a deactivated image's data can be downloaded by administrators only.",
  },
  'metadef.not_found': {
    status: 404,
    summary:
      'No metadata definition namespace (or object, property, tag, resource-type association in it) of this name is visible to the caller.',
  },
  'metadef.exists': {
    status: 409,
    summary:
      'A metadata definition namespace, or an object, property, tag or resource-type association in it, of this name exists already.',
  },
  'metadef.protected': {
    status: 403,
    summary:
      "The metadata definition namespace cannot be changed that way: it is protected (clear `protected` first), or it is one of vpmu's own namespaces, generated from its specs registry, which no one may change or delete.",
  },
  'identity.not_found': {
    status: 404,
    summary:
      'No Keystone project, user, role, domain, role assignment, application credential, service, endpoint or region with this id.',
  },
  'identity.conflict': {
    status: 409,
    summary:
      'A Keystone project, user, role or application credential with this name already exists (in its domain, or for its user).',
  },
  'project.in_use': {
    status: 409,
    summary:
      'The project still has servers: delete them before deleting the project (its images stay, as in Keystone and Glance).',
  },
  'quota.exceeded': {
    status: 403,
    summary:
      'A create, resize or server group change would exceed a quota (instances, cores, ram, server_groups, server_group_members): Nova\'s "Quota exceeded for …".',
  },
  'quota.invalid_limit': {
    status: 400,
    summary:
      "A quota limit is below what is already used, or a user's limit above the project's (use force to set it anyway).",
  },
  'server.action_not_found': {
    status: 404,
    summary: 'The server has no instance action with this request id (os-instance-actions).',
  },
  'migration.host_not_found': {
    status: 400,
    summary: "A migrate names a host that has no compute service (Nova's ComputeHostNotFound).",
  },
  'migration.same_host': {
    status: 400,
    summary: 'A migrate names the host the server is on already.',
  },
  'migration.no_valid_host': {
    status: 400,
    summary:
      'No other compute host can take a migrated or evacuated server (capacity, disabled or down hosts, or the CUSTOM_HW_VPMU trait its vPMU needs); nothing changed.',
  },
  'migration.source_down': {
    status: 409,
    summary:
      'A migrate of a server whose compute service is down (forced down, or no heartbeat for longer than service_down_time): its host must hand the guest over. Evacuate it instead.',
  },
  'evacuate.host_not_found': {
    status: 404,
    summary: 'An evacuate names a host that has no compute service.',
  },
  'evacuate.same_host': {
    status: 400,
    summary: 'An evacuate names the host the server is on already.',
  },
  'evacuate.source_up': {
    status: 400,
    summary:
      'The server\'s compute service is still up (not forced down, and its last heartbeat within service_down_time): Nova\'s "Compute service of <host> is still in use."',
  },
  'host.image_download_failed': {
    status: 503,
    summary:
      "A compute with an image cache could not fetch an image's data from the image API (unreachable, its credentials refused, the image or its data gone); the build fails with this fault and nothing is cached.",
  },
  'image.checksum_mismatch': {
    status: 500,
    summary:
      "Image data a compute downloaded into its image cache does not match the image's record (os_hash_value, else checksum, and size), or the record has no checksum; the build fails with this fault, naming both hashes, and the download is discarded.",
  },
} as const satisfies Record<string, { status: number; summary: string }>;

/** One of the registered error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Whether an error's message speaks of the host (paths, libvirt's own words, a probe) rather
 * than of the request: a tenant is told what failed, not those words; operators find them in the
 * log, and administrators in a server fault's details.
 */
export function speaksOfHost(code: ErrorCode): boolean {
  return /^(hypervisor|disk|host|internal)\./u.test(code);
}
