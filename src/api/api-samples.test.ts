/**
 * Records one exchange per endpoint (and its notable errors) through the in-process API, keeps
 * each as testdata/api-samples/<group>/<slug>.json, and renders docs/api.md from them. Both are
 * compared with the files in the repository; `npm run test:update-golden` rewrites them.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { it } from 'node:test';
import {
  makeTestApi,
  passwordAuth,
  type Exchange,
  type Reply,
  type TestApi,
} from '../testing/api.js';

const PATCH = { 'Content-Type': 'application/openstack-images-v2.1-json-patch' };
const MV = { 'OpenStack-API-Version': 'compute 2.61' };
const IMAGE = '00000000-0000-4000-8000-0000000000aa';
const PERF = '00000000-0000-4000-8000-0000000000bb';
const PLAIN = '00000000-0000-4000-8000-0000000000cc';
let SERVER = '';

/** Flavors and images the server samples use: vran (hw:pmu=false), vran-large, perf (hw_pmu=true), plain. */
async function serverFixtures(api: TestApi): Promise<void> {
  for (const [id, vcpus] of [
    ['vran', 1],
    ['vran-large', 2],
  ] as const) {
    await api.request('POST', '/compute/v2.1/flavors', {
      body: { flavor: { name: id === 'vran' ? 'vran-boot' : id, id, ram: 256, vcpus, disk: 1 } },
    });
    await api.request('POST', `/compute/v2.1/flavors/${id}/os-extra_specs`, {
      body: { extra_specs: { 'hw:pmu': 'false' } },
    });
  }
  for (const [id, name, props] of [
    [PERF, 'perf', { hw_pmu: 'true' }],
    [PLAIN, 'plain', {}],
  ] as const) {
    await api.request('POST', '/image/v2/images', {
      body: {
        id,
        name,
        disk_format: 'raw',
        container_format: 'bare',
        visibility: 'public',
        ...props,
      },
    });
    await api.request('PUT', `/image/v2/images/${id}/file`, { rawBody: 'raw disk bytes' });
  }
}

const act = (api: TestApi, body: unknown, as: 'member' | 'other' = 'member') =>
  api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { as, body });
/** Headers worth showing in samples; the rest (content-length, vary, …) is noise. */
const SHOWN_HEADERS = [
  'x-auth-token',
  'x-subject-token',
  'content-type',
  'openstack-api-version',
  'x-openstack-nova-api-version',
  'x-compute-error-code',
  'location',
  'content-md5',
];

interface Sample {
  readonly group: 'identity' | 'compute' | 'image' | 'servers';
  readonly slug: string;
  readonly title: string;
  readonly doc: string;
  readonly run: (api: TestApi) => Promise<Reply>;
}

// prettier-ignore
const SAMPLES: readonly Sample[] = [
  { group: 'identity', slug: 'versions', title: 'Version discovery', doc: 'No token needed. `/identity/v3` (with or without a trailing slash) answers 200 with the v3 document alone.', run: (api) => api.request('GET', '/identity', { as: null }) },
  { group: 'identity', slug: 'token-create', title: 'Issue a token (password, project scope)', doc: 'The token is in `X-Subject-Token`. The catalog URLs start with the `publicEndpoint` setting (default: the listening address), never with the `Host` the client sent. Bad credentials, an unknown project or no role on it: 401. No project scope: 400. After `lockoutFailureAttempts` failed logins in a row (default 10) within `lockoutDurationSeconds` (default 300), the account is locked until that long after the last failure, without the password being checked: 401 `auth.account_locked`, "The account is locked for user: NAME.", NAME as the client gave it; an unknown user name is locked out the same way. A successful login resets the count.', run: (api) => api.request('POST', '/identity/v3/auth/tokens', { as: null, body: passwordAuth('member', 'member-secret', 'demo') }) },
  { group: 'identity', slug: 'token-create-unauthorized', title: 'Issue a token: wrong password', doc: 'Keystone\'s error shape.', run: (api) => api.request('POST', '/identity/v3/auth/tokens', { as: null, body: passwordAuth('member', 'wrong', 'demo') }) },
  { group: 'identity', slug: 'token-validate', title: 'Validate a token', doc: '`X-Auth-Token` is the caller, `X-Subject-Token` the token to check. Users validate their own tokens; admins any. Unknown or expired subject: 404. When the identity records cannot be read: 503 `auth.unavailable`, never 401 or 404.', run: async (api) => api.request('GET', '/identity/v3/auth/tokens', { as: 'member', headers: { 'X-Subject-Token': await api.token('member') } }) },
  { group: 'identity', slug: 'token-revoke', title: 'Revoke a token', doc: 'Users revoke their own tokens; admins any. The token stops working at once. Unknown subject: 404.', run: async (api) => api.request('DELETE', '/identity/v3/auth/tokens', { as: 'reader', headers: { 'X-Subject-Token': await api.token('reader') } }) },
  { group: 'compute', slug: 'versions', title: 'Version list', doc: 'No token needed.', run: (api) => api.request('GET', '/compute/', { as: null }) },
  { group: 'compute', slug: 'version', title: 'Version document', doc: 'No token needed; the `openstack` client fails without it. `/compute/v2.1/` answers the same.', run: (api) => api.request('GET', '/compute/v2.1', { as: null }) },
  { group: 'compute', slug: 'microversion-not-acceptable', title: 'Microversion out of range', doc: 'Both `OpenStack-API-Version: compute X.Y` and `X-OpenStack-Nova-API-Version: X.Y` are read (the first wins); `latest` means 2.96; none means 2.1. Both headers are echoed on every response.', run: (api) => api.request('GET', '/compute/v2.1/flavors', { headers: { 'OpenStack-API-Version': 'compute 2.97' } }) },
  { group: 'compute', slug: 'flavor-create', title: 'Create a flavor (admin)', doc: 'The body `openstack flavor create` sends. `id` null or `"auto"` makes a UUID. A private flavor (`os-flavor-access:is_public: false`) is shared with the creating project at once. Duplicate id or name: 409.', run: (api) => api.request('POST', '/compute/v2.1/flavors', { headers: MV, body: { flavor: { name: 'vran', ram: 64, vcpus: 1, disk: 0, id: 'vran', swap: 0, 'OS-FLV-EXT-DATA:ephemeral': 0, rxtx_factor: 1.0, 'os-flavor-access:is_public': true } } }) },
  { group: 'compute', slug: 'flavor-create-forbidden', title: 'Create a flavor as a member', doc: 'Only admins write flavors, flavor access and extra specs.', run: (api) => api.request('POST', '/compute/v2.1/flavors', { as: 'member', body: { flavor: { name: 'x', ram: 64, vcpus: 1, disk: 0 } } }) },
  { group: 'compute', slug: 'extra-specs-create', title: 'Set extra specs (admin)', doc: 'Merges into the flavor\'s extra specs. Keys vpmu knows are validated at every microversion; unknown keys in `hw:`, `hw_rng:`, `hw_video:` are refused from 2.86; other namespaces pass. One bad key: nothing is stored.', run: (api) => api.request('POST', '/compute/v2.1/flavors/vran/os-extra_specs', { headers: MV, body: { extra_specs: { 'hw:pmu': 'false' } } }) },
  { group: 'compute', slug: 'extra-specs-create-invalid', title: 'Set an invalid hw:pmu', doc: 'Nova\'s first sentence, then the key, the flavor and what is accepted.', run: (api) => api.request('POST', '/compute/v2.1/flavors/vran/os-extra_specs', { headers: MV, body: { extra_specs: { 'hw:pmu': 'maybe' } } }) },
  { group: 'compute', slug: 'extra-specs-create-unknown', title: 'Set an unknown hw: key (2.86+)', doc: 'Below 2.86 the key is stored, as in Nova.', run: (api) => api.request('POST', '/compute/v2.1/flavors/vran/os-extra_specs', { headers: { 'OpenStack-API-Version': 'compute 2.86' }, body: { extra_specs: { 'hw:pmuu': 'true' } } }) },
  { group: 'compute', slug: 'extra-specs-list', title: 'List extra specs', doc: 'Anyone who can see the flavor.', run: (api) => api.request('GET', '/compute/v2.1/flavors/vran/os-extra_specs', { as: 'member' }) },
  { group: 'compute', slug: 'extra-spec-show', title: 'Show one extra spec', doc: 'The colon in the key is not percent-encoded. A missing key: 404.', run: (api) => api.request('GET', '/compute/v2.1/flavors/vran/os-extra_specs/hw:pmu', { as: 'member' }) },
  { group: 'compute', slug: 'extra-spec-update', title: 'Update one extra spec (admin)', doc: 'The body must hold exactly the key in the URL.', run: (api) => api.request('PUT', '/compute/v2.1/flavors/vran/os-extra_specs/hw:pmu', { body: { 'hw:pmu': 'off' } }) },
  { group: 'compute', slug: 'flavor-show', title: 'Show a flavor', doc: '`extra_specs` from 2.61, `description` from 2.55, `swap` 0 instead of "" from 2.75. A private flavor the caller has no access to: 404.', run: (api) => api.request('GET', '/compute/v2.1/flavors/vran', { as: 'member', headers: MV }) },
  { group: 'compute', slug: 'flavor-show-not-found', title: 'Show a missing flavor', doc: 'The `openstack` client looks a name up as an id first, then lists.', run: (api) => api.request('GET', '/compute/v2.1/flavors/m1.tiny', { as: 'member' }) },
  { group: 'compute', slug: 'flavors-list', title: 'List flavors', doc: 'Filters, sorting and paging as Nova: `is_public` (admins only: `true` (default: public flavors plus private ones shared with the admin\'s project), `false`, or `none` for all; ignored for others, who see public flavors and private ones shared with their project), `minRam`, `minDisk`, `sort_key` (Nova\'s keys, default `flavorid`), `sort_dir`, `limit` (at most 1000) and `marker`; a full page has a `flavors_links` `next` link. Unknown parameters are ignored before 2.75 and a 400 from it.', run: (api) => api.request('GET', '/compute/v2.1/flavors', { as: 'member' }) },
  { group: 'compute', slug: 'flavors-detail', title: 'List flavors with details', doc: 'Same filters as the list.', run: (api) => api.request('GET', '/compute/v2.1/flavors/detail?is_public=True', { as: 'member', headers: MV }) },
  { group: 'compute', slug: 'flavor-create-private', title: 'Create a private flavor (admin)', doc: '', run: (api) => api.request('POST', '/compute/v2.1/flavors', { body: { flavor: { name: 'private', ram: 64, vcpus: 1, disk: 0, id: 'private', 'os-flavor-access:is_public': false } } }) },
  { group: 'compute', slug: 'flavor-access-add', title: 'Share a private flavor with a project (admin)', doc: 'Already shared: 409. A public flavor: 409.', run: async (api) => api.request('POST', '/compute/v2.1/flavors/private/action', { body: { addTenantAccess: { tenant: (await api.store.findProject('demo', 'default'))?.id ?? '' } } }) },
  { group: 'compute', slug: 'flavor-access-list', title: 'List the projects sharing a private flavor (admin)', doc: '', run: (api) => api.request('GET', '/compute/v2.1/flavors/private/os-flavor-access') },
  { group: 'compute', slug: 'extra-spec-delete', title: 'Delete one extra spec (admin)', doc: 'A missing key: 404.', run: (api) => api.request('DELETE', '/compute/v2.1/flavors/vran/os-extra_specs/hw:pmu') },
  { group: 'compute', slug: 'flavor-delete', title: 'Delete a flavor (admin)', doc: '', run: (api) => api.request('DELETE', '/compute/v2.1/flavors/private') },
  { group: 'image', slug: 'versions', title: 'Version discovery', doc: 'No token needed; 300 Multiple Choices, as Glance answers.', run: (api) => api.request('GET', '/image/', { as: null }) },
  { group: 'image', slug: 'versions-list', title: 'Version list', doc: 'The same list with 200.', run: (api) => api.request('GET', '/image/versions', { as: null }) },
  { group: 'image', slug: 'image-create', title: 'Create an image', doc: 'The image is queued and owned by the caller\'s project. Default visibility `shared` (owner only, as vpmu has no image members); only admins may create `public` images. Extra keys are string properties; known ones such as `hw_pmu` are validated. Read-only attributes (`status`, `size`, …): 403.', run: (api) => api.request('POST', '/image/v2/images', { as: 'member', body: { id: IMAGE, name: 'profiling', disk_format: 'raw', container_format: 'bare', visibility: 'private', os_distro: 'fedora' } }) },
  { group: 'image', slug: 'image-update', title: 'Update an image (JSON patch)', doc: 'Content type `application/openstack-images-v2.1-json-patch` (any other: 415). `add` sets (or overwrites), `replace` needs an existing property (else 409), `remove` needs one too (else 409). Core attributes (`name`, `visibility`, `protected`, `min_disk`, `min_ram`, `tags`, formats) are replaced the same way. All operations apply, or none.', run: (api) => api.request('PATCH', `/image/v2/images/${IMAGE}`, { as: 'member', headers: PATCH, rawBody: JSON.stringify([{ op: 'add', path: '/hw_pmu', value: 'true' }, { op: 'remove', path: '/os_distro' }]) }) },
  { group: 'image', slug: 'image-update-invalid', title: 'Set an invalid hw_pmu', doc: 'Names the value, the property and the image; nothing changes.', run: (api) => api.request('PATCH', `/image/v2/images/${IMAGE}`, { as: 'member', headers: PATCH, rawBody: JSON.stringify([{ op: 'replace', path: '/hw_pmu', value: 'maybe' }]) }) },
  { group: 'image', slug: 'image-upload-unsafe', title: 'Upload image data that names a host file', doc: 'Data is inspected with `qemu-img` against its `disk_format` before it is kept (OSSA-2024-001): a qcow2 with a backing or data file, a VMDK descriptor or a VMDK whose extents are other files, data of another format than declared, or a virtual size above `imageVirtualSizeCap` is a 400 `image.invalid_data`; the image stays `queued` with no data. Over `image_size_cap` or `user_storage_quota`, or a full image store: 413. A read-only image store: 503.', run: (api) => api.request('PUT', `/image/v2/images/${IMAGE}/file`, { as: 'member', headers: { 'Content-Type': 'application/octet-stream' }, rawBody: '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/passwd" 0' }) },
  { group: 'image', slug: 'image-upload', title: 'Upload image data', doc: 'Once, while the image is queued (again: 409). The data is stored under the state directory; size, MD5 `checksum` and SHA-512 `os_hash_value` are recorded and the image becomes active.', run: (api) => api.request('PUT', `/image/v2/images/${IMAGE}/file`, { as: 'member', headers: { 'Content-Type': 'application/octet-stream' }, rawBody: 'fake disk bytes' }) },
  { group: 'image', slug: 'image-download', title: 'Download image data', doc: 'An image without data: 204; so is data that has gone missing from the image store, as in Glance (and the service logs it).', run: (api) => api.request('GET', `/image/v2/images/${IMAGE}/file`, { as: 'member' }) },
  { group: 'image', slug: 'image-show', title: 'Show an image', doc: 'Properties sit beside the core attributes, as in Glance.', run: (api) => api.request('GET', `/image/v2/images/${IMAGE}`, { as: 'member' }) },
  { group: 'image', slug: 'image-show-other-project', title: 'Show another project\'s private image', doc: 'Invisible: 404, as for an image that does not exist. The same holds for update, delete, upload and download.', run: (api) => api.request('GET', `/image/v2/images/${IMAGE}`, { as: 'other' }) },
  { group: 'image', slug: 'images-list', title: 'List images', doc: 'Filters, sorting and paging as Glance: `name`, `id`, `status`, `disk_format`, `container_format` (each also as `in:a,b`), `owner`, `visibility` (`public`, `private`, `shared`, `community`, `all`), `size_min`, `size_max`, `tag` (repeatable), `protected`, `os_hidden`, `member_status`, any other parameter as an image property; `sort=key:dir,…` or `sort_key`/`sort_dir`; `limit` (default 25, at most 1000) and `marker`, with `first` and `next` links. Lists only what the caller may see.', run: (api) => api.request('GET', '/image/v2/images?name=profiling', { as: 'member' }) },
  { group: 'image', slug: 'metadefs-namespaces', title: 'List metadata definition namespaces', doc: 'Generated from the specs registry. `?resource_types=OS::Glance::Image` (comma-separated, as Horizon asks) keeps the namespaces associated with any of those resource types.', run: (api) => api.request('GET', '/image/v2/metadefs/namespaces', { as: 'member' }) },
  { group: 'image', slug: 'metadefs-namespace', title: 'Show a metadata definition namespace', doc: '`OS::Compute::LibvirtImage` documents the image properties (hw_pmu as Glance documents it); `VPMU::Compute::Flavor` documents the flavor extra specs such as `hw:pmu`.', run: (api) => api.request('GET', '/image/v2/metadefs/namespaces/OS::Compute::LibvirtImage', { as: 'member' }) },
  { group: 'image', slug: 'image-delete', title: 'Delete an image', doc: 'Deletes its data too. A protected image: 403.', run: (api) => api.request('DELETE', `/image/v2/images/${IMAGE}`, { as: 'member' }) },
  { group: 'servers', slug: 'server-create-conflict', title: 'Create a server: flavor and image disagree on the vPMU', doc: 'Create checks everything before recording anything: flavor and image visible to the caller (else 400 naming the ref), the image active (data uploaded), every extra spec and image property valid, and the vPMU resolvable. A `hw:pmu` / `hw_pmu` conflict is a 400 with Nova\'s exact message; no server, claim, disk or domain is created. Rebuild and resize check the same way.', run: async (api) => { await serverFixtures(api); return api.request('POST', '/compute/v2.1/servers', { as: 'member', headers: MV, body: { server: { name: 'clash', flavorRef: 'vran', imageRef: PERF } } }); } },
  { group: 'servers', slug: 'server-create', title: 'Create a server', doc: 'The body `openstack server create` sends (`networks` `auto`/`none` or a list is accepted and ignored: vpmu plugs no networks). `min_count`/`max_count` must be 1. Answers 202 at once with the id, which is also the libvirt domain\'s uuid; the server is `BUILD` while it is scheduled (an atomic claim on the chosen host; a lost race tries the next host), its root disk made (a qcow2 overlay on the image data), its domain defined, started and read back. Then `ACTIVE`, or `ERROR` with a `fault` (for example "No valid host was found. …"), with its claim released and no disk or domain left.', run: async (api) => { const res = await api.request('POST', '/compute/v2.1/servers', { as: 'member', headers: MV, body: { server: { name: 'ran1', flavorRef: 'vran', imageRef: PLAIN, networks: 'none' } } }); SERVER = (res.body as { server: { id: string } }).server.id; await api.servers.idle(); return res; } },
  { group: 'servers', slug: 'server-show', title: 'Show a server', doc: 'Nova\'s server view. `flavor` is `{id, links}` before 2.47 and the embedded flavor (`original_name`, `extra_specs`, …) from 2.47. Admins also see `OS-EXT-SRV-ATTR:host`, `…:hypervisor_hostname`, `…:instance_name` and `vpmu:domain_xml` (the domain XML libvirt read back after the last start). `fault` appears in `ERROR`. The extension attribute **`vpmu:pmu`** shows the vPMU decision: `requested` (the raw `hw:pmu` of the flavor and `hw_pmu` of the image, or null), `resolved` (true/false/null), `source` (`flavor`, `image`, `both` or `unset`), `effective` (`on`/`off` on the host it runs on; null before it is built) and `reason`.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'server-show-admin', title: 'Show a server as an admin (2.47+)', doc: '', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { headers: { 'OpenStack-API-Version': 'compute 2.47' } }) },
  { group: 'servers', slug: 'server-show-other-project', title: 'Show another project\'s server', doc: 'Invisible: 404, as for a server that does not exist. The same holds for delete and every action.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'other' }) },
  { group: 'servers', slug: 'servers-list', title: 'List servers', doc: 'The caller\'s project only; `all_tenants` lists every project for admins (403 for others), narrowed by `project_id`/`tenant_id`. Filters as Nova: `name` (a Python regular expression, searched, matched in linear time), `status`, `flavor`, `image`, `changes-since`, `changes-before` (2.66), `ip`/`ip6` (no vpmu server has an address, so nothing matches); for admins also `host`, `node`, `uuid`, `user_id`, `vm_state`, `task_state` (members may use the last three from 2.83). Filters a member may not use are ignored. Sorting by `sort_key`/`sort_dir` (default `created_at` newest first), `limit` (at most 1000) and `marker`; a full page has a `servers_links` `next` link. Unknown parameters are ignored before 2.75 and a 400 from it.', run: (api) => api.request('GET', '/compute/v2.1/servers', { as: 'member' }) },
  { group: 'servers', slug: 'servers-detail', title: 'List servers with details', doc: 'Same filters as the list.', run: (api) => api.request('GET', '/compute/v2.1/servers/detail?status=ACTIVE', { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'server-stop', title: 'Stop a server (os-stop)', doc: 'Graceful shutdown, then destroy after the configured timeout; `SHUTOFF`. Actions run to completion before the 202, so a following GET sees the result. Actions on one server run one at a time.', run: (api) => act(api, { 'os-stop': null }) },
  { group: 'servers', slug: 'server-stop-conflict', title: 'Stop a stopped server', doc: 'An action the state does not allow: 409 with Nova\'s wording.', run: (api) => act(api, { 'os-stop': null }) },
  { group: 'servers', slug: 'server-start', title: 'Start a server (os-start)', doc: 'From `SHUTOFF` only.', run: (api) => act(api, { 'os-start': null }) },
  { group: 'servers', slug: 'server-reboot', title: 'Reboot a server', doc: '`SOFT` (graceful stop, start; `ACTIVE` only) or `HARD` (destroy, start; also from `SHUTOFF` and `ERROR`).', run: (api) => act(api, { reboot: { type: 'HARD' } }) },
  { group: 'servers', slug: 'server-rebuild-conflict', title: 'Rebuild on an image that conflicts with the flavor', doc: 'Nothing changes: the server keeps its image and its guest.', run: (api) => act(api, { rebuild: { imageRef: PERF } }) },
  { group: 'servers', slug: 'server-rebuild', title: 'Rebuild a server', doc: 'Same id (domain uuid), host and flavor; a new root disk on the new image; the vPMU resolved again. Answers 202 with the server.', run: (api) => act(api, { rebuild: { imageRef: PLAIN } }) },
  { group: 'servers', slug: 'server-resize', title: 'Resize a server', doc: 'A different flavor (same flavor: 400). The new flavor\'s resources are claimed on the host next to the old ones (no room: 400 `server.no_room_to_resize` and nothing changes); the domain is redefined with the same uuid and restarted; the server waits in `VERIFY_RESIZE`.', run: (api) => act(api, { resize: { flavorRef: 'vran-large' } }) },
  { group: 'servers', slug: 'server-confirm-resize', title: 'Confirm a resize', doc: 'Releases the old claim. `revertResize` instead restores the old flavor, domain and claim and releases the new one.', run: (api) => act(api, { confirmResize: null }) },
  { group: 'servers', slug: 'server-resize-back', title: 'Resize a server again, to be reverted', doc: '', run: (api) => act(api, { resize: { flavorRef: 'vran' } }) },
  { group: 'servers', slug: 'server-revert-resize', title: 'Revert a resize', doc: 'From `VERIFY_RESIZE`: the old flavor, its claim and its domain definition come back (the domain is restarted if it was running); the new claim is released.', run: (api) => act(api, { revertResize: null }) },
  { group: 'servers', slug: 'hypervisors-list', title: 'List hypervisors (admin)', doc: 'Every registered compute host. Members: 403.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors') },
  { group: 'servers', slug: 'hypervisors-detail', title: 'List hypervisors with details (admin)', doc: '`hypervisor_type` and `hypervisor_version` as libvirt reports them (`virsh version`, version encoded as major × 1,000,000 + minor × 1,000 + release), `host_ip` from the `hostIp` setting, `cpu_info` from the host probe. Capacity (`vcpus`, `memory_mb`, `local_gb`) and what claims hold (`…_used`), plus vpmu\'s extension attributes: `vpmu:uri`, `vpmu:inventory` (total, reserved, allocation ratio per resource class) and `vpmu:traits` (`CUSTOM_HW_VPMU` when guests can get a working vPMU there). `GET /os-hypervisors/{id or name}` shows one.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/detail') },
  { group: 'servers', slug: 'hypervisor-show', title: 'Show one hypervisor (admin)', doc: 'By id or host name; the same view as in the detailed list. Unknown: 404. Members: 403.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/1') },
  { group: 'servers', slug: 'notifier-counters', title: 'Notifier counters (admin, vpmu extension)', doc: 'How many versioned notifications reached their transport (`published`), wait for it (`buffered`), were given up on (`dropped`: buffer full, broker down past the bound, or still buffered at shutdown; each one is also logged), and how often the RabbitMQ connection was made again (`reconnects`). Members: 403.', run: (api) => api.request('GET', '/compute/v2.1/vpmu/notifier') },
  { group: 'servers', slug: 'server-delete', title: 'Delete a server', doc: 'Powers the domain off at once (no graceful shutdown, as in Nova) and undefines it, removes its instance directory, releases its claims and forgets the server (a later GET: 404). 204.', run: (api) => api.request('DELETE', `/compute/v2.1/servers/${SERVER}`, { as: 'member' }) },
];

function pick(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers)
      .map(([k, v]) => [k.toLowerCase(), v] as const)
      .filter(([k]) => SHOWN_HEADERS.includes(k))
      .sort(([a], [b]) => SHOWN_HEADERS.indexOf(a) - SHOWN_HEADERS.indexOf(b)),
  );
}

function toSample(exchange: Exchange): Record<string, unknown> {
  return {
    request: {
      method: exchange.method,
      path: exchange.path,
      headers: pick(exchange.requestHeaders),
      body: exchange.requestBody,
    },
    response: {
      status: exchange.status,
      headers: pick(exchange.responseHeaders),
      body: exchange.responseBody,
    },
  };
}

function renderHttp(sample: Record<string, unknown>): string {
  const { request, response } = sample as {
    request: { method: string; path: string; headers: Record<string, string>; body: unknown };
    response: { status: number; headers: Record<string, string>; body: unknown };
  };
  const show = (body: unknown) =>
    body === null ? '' : `\n\n${typeof body === 'string' ? body : JSON.stringify(body, null, 2)}`;
  const headers = (h: Record<string, string>) =>
    Object.entries(h)
      .map(([k, v]) => `\n${k}: ${v}`)
      .join('');
  return [
    '```http',
    `${request.method} ${request.path}${headers(request.headers)}${show(request.body)}`,
    '```',
    '',
    '```http',
    `HTTP/1.1 ${response.status}${headers(response.headers)}${show(response.body)}`,
    '```',
  ].join('\n');
}

const INTRO = `# HTTP API

<!-- Generated by src/api/api-samples.test.ts from testdata/api-samples/; run \`npm run test:update-golden\`. -->

\`vpmu serve\` answers three OpenStack APIs on one port, with devstack-style prefixes:

| API | prefix | what the catalog calls it |
|---|---|---|
| Identity (Keystone v3 subset) | \`/identity/v3\` | \`identity\` / keystone |
| Compute (Nova v2.1 subset) | \`/compute/v2.1\` | \`compute\` / nova |
| Image (Glance v2 subset) | \`/image\` (v2 under \`/image/v2\`) | \`image\` / glance |

**Authentication.** Get a token with \`POST /identity/v3/auth/tokens\` (password, project scope) and
send it as \`X-Auth-Token\`. Version documents need no token; everything else does (401 without
one, or with an unknown or expired one). Roles: \`admin\` (everything, every project), \`member\`
(acts within its project), \`reader\` (reads only).

**Errors.** Compute and image errors use Nova's fault body, \`{"<name>": {"code": <status>,
"message": "..."}}\` with \`badRequest\` 400, \`unauthorized\` 401, \`forbidden\` 403, \`itemNotFound\`
404, \`conflictingRequest\` 409, \`badMediaType\` 415 and \`computeFault\` for anything else (406, 500).
Identity errors use Keystone's \`{"error": {"code", "title", "message"}}\`. Every error response
carries the stable code in \`X-Compute-Error-Code\` (see [errors.md](errors.md)); every response
carries \`X-OpenStack-Request-ID\`, which the service log repeats. An unexpected error is a 500 whose
message names only the request id; the log has the detail. A JSON body with a lone UTF-16
surrogate in any string or key (\`"\\ud800"\`: valid JSON, not Unicode) is a 400 naming the field.
Links, \`Location\` headers and the catalog start with the \`publicEndpoint\` setting, not the
client's \`Host\`.

**Microversions (compute).** 2.1 to 2.96, from \`OpenStack-API-Version: compute X.Y\` or
\`X-OpenStack-Nova-API-Version: X.Y\`. What changes with them here: 2.55 flavor \`description\`,
2.47 the embedded flavor in server bodies, 2.61 \`extra_specs\` in flavor bodies, 2.75 \`swap\` 0 instead of "", 2.86 unknown extra-spec keys in
validated namespaces refused. Bad values for keys vpmu knows (\`hw:pmu=maybe\`) are refused at
every microversion, unlike Nova (see DESIGN §2.4).

**Not (yet) served, and known differences.** Servers have no networks, volumes, metadata, tags,
key pairs, console or migration APIs; one server per create request; actions finish before their
202. Identity has only password authentication with project scope, token
validation and revocation: no \`/v3/projects\`, \`/v3/users\` or role APIs (users and projects come
from the configuration file). Flavor and image lists are not paged (\`limit\`/\`marker\` are
ignored), and flavors have no \`minRam\`/\`minDisk\` filters. Images have no members (so
\`shared\` means owner-only), no locations, no import API and no \`/v2/schemas\`. Image faults use
Nova's JSON body rather than Glance's text body.

The samples below were recorded in order by the test, as users \`admin\` (project admin),
\`member\` (project demo) and \`other\` (project other); tokens are shortened to fixed strings.
`;

it('docs/api.md and testdata/api-samples match what the API answers', async () => {
  const api = await makeTestApi();
  const update = process.env.UPDATE_GOLDEN === '1';
  const sections: string[] = [INTRO];
  let group = '';
  const titles = {
    identity: 'Identity',
    compute: 'Compute',
    image: 'Image',
    servers: 'Compute: servers and hypervisors',
  } as const;
  for (const sample of SAMPLES) {
    api.take();
    await sample.run(api);
    const [exchange] = api.take().slice(-1);
    assert.ok(exchange !== undefined, sample.slug);
    const recorded = toSample(exchange);
    const file = path.join('testdata', 'api-samples', sample.group, `${sample.slug}.json`);
    const text = `${JSON.stringify(recorded, null, 2)}\n`;
    if (update) {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
    } else {
      assert.equal(
        text,
        await readFile(file, 'utf8').catch(() => ''),
        `${file} is stale: run npm run test:update-golden`,
      );
    }
    if (sample.group !== group) {
      group = sample.group;
      sections.push(`## ${titles[sample.group]}\n`);
    }
    const doc = sample.doc === '' ? '' : `${sample.doc}\n\n`;
    sections.push(`### ${sample.title}\n\n${doc}${renderHttp(recorded)}\n`);
  }
  const rendered = sections.join('\n');
  if (update) await writeFile('docs/api.md', rendered);
  else
    assert.equal(
      rendered,
      await readFile('docs/api.md', 'utf8').catch(() => ''),
      'docs/api.md is stale: run npm run test:update-golden',
    );
});
