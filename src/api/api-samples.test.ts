/**
 * Records one exchange per endpoint (and its notable errors) through the in-process API, keeps
 * each as testdata/api-samples/<group>/<slug>.json, and renders docs/api.md from them. Both are
 * compared with the files in the repository; `npm run test:update-golden` rewrites them.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { it } from 'node:test';
import { makeTestApi, passwordAuth, type Exchange, type TestApi } from '../testing/api.js';
import { hostUuid } from '../services/index.js';

const PATCH = { 'Content-Type': 'application/openstack-images-v2.1-json-patch' };
const MV = { 'OpenStack-API-Version': 'compute 2.61' };
const IMAGE = '00000000-0000-4000-8000-0000000000aa';
const PERF = '00000000-0000-4000-8000-0000000000bb';
const PLAIN = '00000000-0000-4000-8000-0000000000cc';
const KEY = `ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString('base64')} me@laptop`;
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

/** A project's id by name (the test API's ids are sequential, so known only once made). */
async function projectIdOf(api: TestApi, name: string): Promise<string> {
  return (await api.store.listProjects()).find((p) => p.name === name)?.id ?? '';
}

const PLACEMENT = { 'OpenStack-API-Version': 'placement 1.39' };
let PROVIDER = '';
let PLACEMENT_SERVER = '';

/** A server of the member's on compute1 for the placement samples, and compute1's provider. */
async function placementFixtures(api: TestApi): Promise<void> {
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as: 'member',
    body: { server: { name: 'counted', flavorRef: 'vran', imageRef: PLAIN, networks: 'none' } },
  });
  PLACEMENT_SERVER = (res.body as { server: { id: string } }).server.id;
  await api.servers.idle();
  const list = await api.request('GET', '/placement/resource_providers', { headers: PLACEMENT });
  PROVIDER =
    (list.body as { resource_providers: { uuid: string }[] }).resource_providers[0]?.uuid ?? '';
}

async function demoProject(api: TestApi): Promise<string> {
  return (await api.store.findProject('demo', 'default'))?.id ?? '';
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
  'allow',
];

interface Sample {
  readonly group: 'identity' | 'compute' | 'image' | 'servers' | 'placement' | 'glance';
  readonly slug: string;
  readonly title: string;
  readonly doc: string;
  readonly run: (api: TestApi) => Promise<unknown>;
}

// prettier-ignore
const SAMPLES: readonly Sample[] = [
  { group: 'identity', slug: 'versions', title: 'Version discovery', doc: 'No token needed. `/identity/v3` (with or without a trailing slash) answers 200 with the v3 document alone.', run: (api) => api.request('GET', '/identity', { as: null }) },
  { group: 'identity', slug: 'token-create', title: 'Issue a token (password, project scope)', doc: 'The token is in `X-Subject-Token`. The catalog URLs start with the `publicEndpoint` setting (default: the listening address), never with the `Host` the client sent. Bad credentials, an unknown project or no role on it: 401. No project scope: 400. After `lockoutFailureAttempts` failed logins in a row (default 10) within `lockoutDurationSeconds` (default 300), the account is locked until that long after the last failure, without the password being checked: 401 `auth.account_locked`, "The account is locked for user: NAME.", NAME as the client gave it; an unknown user name is locked out the same way. A successful login resets the count.', run: (api) => api.request('POST', '/identity/v3/auth/tokens', { as: null, body: passwordAuth('member', 'member-secret', 'demo') }) },
  { group: 'identity', slug: 'token-create-unauthorized', title: 'Issue a token: wrong password', doc: 'Keystone\'s error shape.', run: (api) => api.request('POST', '/identity/v3/auth/tokens', { as: null, body: passwordAuth('member', 'wrong', 'demo') }) },
  { group: 'identity', slug: 'token-validate', title: 'Validate a token', doc: '`X-Auth-Token` is the caller, `X-Subject-Token` the token to check. Users validate their own tokens; admins any. Unknown or expired subject: 404. When the identity records cannot be read: 503 `auth.unavailable`, never 401 or 404.', run: async (api) => api.request('GET', '/identity/v3/auth/tokens', { as: 'member', headers: { 'X-Subject-Token': await api.token('member') } }) },
  { group: 'identity', slug: 'token-revoke', title: 'Revoke a token', doc: 'Users revoke their own tokens; admins any. The token stops working at once. Unknown subject: 404.', run: async (api) => api.request('DELETE', '/identity/v3/auth/tokens', { as: 'reader', headers: { 'X-Subject-Token': await api.token('reader') } }) },
  { group: 'compute', slug: 'versions', title: 'Version list', doc: 'No token needed.', run: (api) => api.request('GET', '/compute/', { as: null }) },
  { group: 'compute', slug: 'version-v2', title: 'Version document of v2.0', doc: 'No token needed; `/compute/v2/` answers the same. Nova serves its legacy v2.0 API there; vpmu serves this document only (the API itself is under v2.1).', run: (api) => api.request('GET', '/compute/v2/', { as: null }) },
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
  { group: 'compute', slug: 'keypair-import', title: 'Import a key pair', doc: 'The body `openstack keypair create --public-key FILE` sends. Key pairs belong to the user, not the project; names are unique per user (again: 409 "Key pair \'NAME\' already exists."). `public_key` is an OpenSSH public key (`ssh-rsa`, `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, `ssh-dss`) whose fingerprint is the MD5 of its key blob, as `ssh-keygen -l -E md5` shows it; from 2.2 `type: x509` imports a PEM certificate, fingerprinted by the SHA-1 of its DER. A key that does not parse: 400 "Keypair data is invalid: failed to generate fingerprint". Names: 1-255 of letters, digits, space, `_` and `-` (from 2.92 also `@` and `.`). Without `public_key` (before 2.92; from 2.92 a 400) vpmu generates an RSA 2048 key pair and answers its `private_key` (PKCS#1 PEM) once, never storing it; the public key\'s comment is `Generated-by-vpmu`; with `type: x509` it makes a self-signed client certificate (`CN=<user id>`, ten years, as Nova) and answers a PKCS#8 PEM `private_key` (Nova: a base64 PKCS#12 archive). An admin acts for another user with `user_id` (2.10+; an unknown user: 400); others: 403. Readers only read. At most the user\'s `key_pairs` quota (Nova\'s default 100): 403 "Quota exceeded, too many key pairs.". 200 before 2.2, 201 from 2.2 (with `type`).', run: (api) => api.request('POST', '/compute/v2.1/os-keypairs', { as: 'member', headers: MV, body: { keypair: { name: 'laptop', public_key: KEY } } }) },
  { group: 'compute', slug: 'keypair-import-invalid', title: 'Import an invalid public key', doc: '', run: (api) => api.request('POST', '/compute/v2.1/os-keypairs', { as: 'member', headers: MV, body: { keypair: { name: 'broken', public_key: 'ssh-rsa not-a-key' } } }) },
  { group: 'compute', slug: 'keypairs-list', title: 'List key pairs', doc: 'The caller\'s own key pairs, by name; an admin lists another user\'s with `user_id` (2.10+). From 2.35 `limit` and `marker` (a name) page the list, and a full page has a `keypairs_links` `next` link; an unknown marker: 400.', run: (api) => api.request('GET', '/compute/v2.1/os-keypairs', { as: 'member', headers: MV }) },
  { group: 'compute', slug: 'keypair-show', title: 'Show a key pair', doc: 'Another user\'s key pair (without an admin\'s `user_id`) or none: 404 "Keypair NAME not found for user USER". `id` is a number, and `deleted`, `updated_at` and `deleted_at` are always false and null, as Nova shows a live key pair.', run: (api) => api.request('GET', '/compute/v2.1/os-keypairs/laptop', { as: 'member', headers: MV }) },
  { group: 'compute', slug: 'keypair-delete', title: 'Delete a key pair', doc: '202 before 2.2, 204 from 2.2. Servers are not affected: vpmu does not deliver keys to guests yet (`key_name` on server create is refused until the config drive of issue 16).', run: (api) => api.request('DELETE', '/compute/v2.1/os-keypairs/laptop', { as: 'member', headers: MV }) },
  { group: 'image', slug: 'versions', title: 'Version discovery', doc: 'No token needed; 300 Multiple Choices, as Glance answers.', run: (api) => api.request('GET', '/image/', { as: null }) },
  { group: 'image', slug: 'versions-list', title: 'Version list', doc: 'The same list with 200.', run: (api) => api.request('GET', '/image/versions', { as: null }) },
  { group: 'image', slug: 'image-create', title: 'Create an image', doc: 'The image is queued and owned by the caller\'s project; an admin may name another project as its `owner` (anyone else: 403, as in Glance). Default visibility `shared` (the owner and the projects it shares the image with); only admins may create `public` images. Extra keys are string properties; known ones such as `hw_pmu` are validated. Read-only attributes (`status`, `size`, …): 403.', run: (api) => api.request('POST', '/image/v2/images', { as: 'member', body: { id: IMAGE, name: 'profiling', disk_format: 'raw', container_format: 'bare', visibility: 'private', os_distro: 'fedora' } }) },
  { group: 'image', slug: 'image-update', title: 'Update an image (JSON patch)', doc: 'Content type `application/openstack-images-v2.1-json-patch` (RFC 6902), or Glance\'s older `application/openstack-images-v2.0-json-patch`, whose operations name the op as the key holding the path (`{"replace": "/name", "value": "x"}`) and whose `add` of something that exists is a 409 (any other type: 415). Only an admin may change `owner`. `add` sets (or overwrites), `replace` needs an existing property (else 409), `remove` needs one too (else 409). Core attributes (`name`, `visibility`, `protected`, `min_disk`, `min_ram`, `tags`, formats) are replaced the same way. All operations apply, or none.', run: (api) => api.request('PATCH', `/image/v2/images/${IMAGE}`, { as: 'member', headers: PATCH, rawBody: JSON.stringify([{ op: 'add', path: '/hw_pmu', value: 'true' }, { op: 'remove', path: '/os_distro' }]) }) },
  { group: 'image', slug: 'image-update-v2.0', title: 'Update an image (v2.0 JSON patch)', doc: 'The same update in Glance\'s v2.0 patch form, as Tempest sends it.', run: (api) => api.request('PATCH', `/image/v2/images/${IMAGE}`, { as: 'member', headers: { 'Content-Type': 'application/openstack-images-v2.0-json-patch' }, rawBody: JSON.stringify([{ replace: '/name', value: 'profiling' }]) }) },
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
  { group: 'servers', slug: 'server-create-conflict', title: 'Create a server: flavor and image disagree on the vPMU', doc: 'Create checks everything before recording anything: flavor and image visible to the caller (else 400 naming the ref), the image active (data uploaded), every extra spec and image property valid, and the vPMU resolvable. A `hw:pmu` / `hw_pmu` conflict is a 400 with Nova\'s exact message; no server, claim, disk or domain is created. Rebuild and resize check the same way.', run: async (api) => { await serverFixtures(api); return api.request('POST', '/compute/v2.1/servers', { as: 'member', headers: MV, body: { server: { name: 'clash', flavorRef: 'vran', imageRef: PERF, networks: 'none' } } }); } },
  { group: 'servers', slug: 'server-create', title: 'Create a server', doc: 'The body `openstack server create` sends. Honoured: `metadata` (at most the project\'s `metadata_items` quota, 128 by default; keys 1-255 characters, values up to 255), `accessIPv4`/`accessIPv6`, `description` (2.19+), `OS-DCF:diskConfig` (`AUTO`/`MANUAL`, stored and shown; vpmu resizes no partitions either way), `availability_zone` (a zone with an enabled host, else 400 "The requested availability zone is not available"; the scheduler then places only on that zone\'s hosts, No valid host when none has room; admins may force a host with `zone:host`, `zone::node` or `:host`, which must exist and still passes the filters; members: 403), `networks` `none` (required from 2.37, as in Nova; `auto` or a list of networks is a 400: vpmu has no networking service), `min_count`/`max_count` (Nova\'s multiple create: servers named `<name>-<n>`, one reservation, placed all or nothing) and `return_reservation_id` (answers `{"reservation_id": "r-…"}`). `key_name` (one of the caller\'s key pairs, else 400 "Keypair … not found for user …"), `user_data` (base64, at most 65535 characters, else 400) and `config_drive` (a boolean): a server with a config drive (asked for, required by the image\'s `img_config_drive=mandatory`, or forced by the operator) gets an ISO 9660 `config-2` cdrom with Nova\'s `openstack/` and `ec2/` trees, its key, its user data and its vPMU (docs/pmu.md). An image with `kernel_id` (and `ramdisk_id`, `os_command_line`) boots that kernel directly. `adminPass` (a non-empty string) goes on the config drive as `meta_data.json`\'s `admin_pass`, so a server given one gets a config drive; it is never stored nor shown, and no body carries it back (Nova\'s behaviour with `enable_instance_password` false; vpmu makes up no password). Refused with a 400 naming the field: `security_groups`, `block_device_mapping(_v2)`, `personality`, `trusted_image_certificates`, `host`, `hypervisor_hostname` and `hostname`. Tags (2.52) are kept as the tags API keeps them. Scheduler hints (`os:scheduler_hints`): `group` (a server group id), `same_host` and `different_host` (server ids) are honoured; any other hint is refused by name. The image\'s `min_ram`/`min_disk` (and data size) must fit the flavor, with Nova\'s 400s. Answers 202 at once with the id, which is also the libvirt domain\'s uuid; the server is `BUILD` while it is scheduled (an atomic claim on the chosen host; a lost race tries the next host), its root disk made (a qcow2 overlay on the image data), its domain defined, started and read back. Then `ACTIVE`, or `ERROR` with a `fault` (for example "No valid host was found. …"), with its claim released and no disk or domain left.', run: async (api) => { const res = await api.request('POST', '/compute/v2.1/servers', { as: 'member', headers: MV, body: { server: { name: 'ran1', flavorRef: 'vran', imageRef: PLAIN, networks: 'none' } } }); SERVER = (res.body as { server: { id: string } }).server.id; await api.servers.idle(); return res; } },
  { group: 'servers', slug: 'server-show', title: 'Show a server', doc: 'Nova\'s server view, with exactly Nova\'s keys for the microversion (Tempest checks them against Nova\'s strict schemas). `flavor` is `{id, links}` before 2.47 and the embedded flavor (`original_name`, `extra_specs`, …) from 2.47. Admins also see `OS-EXT-SRV-ATTR:host`, `…:hypervisor_hostname` and `…:instance_name`. `fault` appears in `ERROR`. The vPMU decision is not in this body: see `os-vpmu` below.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'server-vpmu', title: 'Show a server\'s vPMU (vpmu extension)', doc: '`GET /servers/{id}/os-vpmu`, visible to whoever may see the server (another project: 404). `requested` holds the raw `hw:pmu` of the flavor and `hw_pmu` of the image (or null), `resolved` the request (true/false/null), `source` where it came from (`flavor`, `image`, `both` or `unset`), `effective` what the guest got on its host (`on`/`off`; null before it is built) and `reason` why. Admins also get `domain_xml`, the domain XML libvirt read back after the last start. `openstack server vpmu show SERVER` (the plugin in `clients/osc-vpmu`) prints it.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/os-vpmu`, { as: 'member' }) },
  { group: 'servers', slug: 'server-show-vpmu-include', title: 'Show a server with the vPMU block (X-Vpmu-Include)', doc: 'A client that wants the vPMU inside the server view asks for it: `X-Vpmu-Include: pmu` adds `vpmu:pmu` (the same block as `os-vpmu`) to `GET /servers/{id}` and `/servers/detail`; `domain_xml` adds `vpmu:domain_xml` (admins only, else 403). Values are comma-separated; an unknown one is a 400. Without the header the body has Nova\'s keys only.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'member', headers: { ...MV, 'X-Vpmu-Include': 'pmu' } }) },
  { group: 'servers', slug: 'server-show-admin', title: 'Show a server as an admin (2.47+)', doc: '', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { headers: { 'OpenStack-API-Version': 'compute 2.47' } }) },
  { group: 'servers', slug: 'server-update', title: 'Update a server', doc: '`PUT /servers/{id}`: `name`, `description` (2.19+), `accessIPv4`/`accessIPv6`, `OS-DCF:diskConfig`. Answers 200 with Nova\'s update body (before 2.75 without the `OS-EXT-*`, availability zone, config drive, key name and usage attributes).', run: (api) => api.request('PUT', `/compute/v2.1/servers/${SERVER}`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.19' }, body: { server: { description: 'vRAN node 1', accessIPv4: '192.0.2.10' } } }) },
  { group: 'servers', slug: 'server-metadata-set', title: 'Add or change server metadata', doc: '`POST /servers/{id}/metadata` merges items into the metadata; `PUT` replaces all of it. Both answer the whole metadata. More items than the project\'s `metadata_items` quota (128 by default): 403 "Maximum number of metadata items exceeds 128". `GET /servers/{id}/metadata` lists it; `GET`/`PUT`/`DELETE /servers/{id}/metadata/{key}` handle one item (`{"meta": {key: value}}`; a body key other than the URL\'s: 400 "Request body and URI mismatch"; an unknown key: 404 "Metadata item was not found").', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/metadata`, { as: 'member', body: { metadata: { role: 'du' } } }) },
  { group: 'servers', slug: 'server-metadata-item', title: 'Show one server metadata item', doc: '', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/metadata/role`, { as: 'member' }) },
  { group: 'servers', slug: 'server-show-other-project', title: 'Show another project\'s server', doc: 'Invisible: 404, as for a server that does not exist. The same holds for delete and every action.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'other' }) },
  { group: 'servers', slug: 'servers-list', title: 'List servers', doc: 'The caller\'s project only; `all_tenants` lists every project for admins (403 for others), narrowed by `project_id`/`tenant_id`. Filters as Nova: `name` (a Python regular expression, searched, matched in linear time), `status`, `flavor`, `image`, `changes-since`, `changes-before` (2.66), `ip`/`ip6` (no vpmu server has an address, so nothing matches); for admins also `host`, `node`, `uuid`, `user_id`, `vm_state`, `task_state` (members may use the last three from 2.83). Filters a member may not use are ignored. Sorting by `sort_key`/`sort_dir` (default `created_at` newest first), `limit` (at most 1000) and `marker`; a full page has a `servers_links` `next` link. Unknown parameters are ignored before 2.75 and a 400 from it.', run: (api) => api.request('GET', '/compute/v2.1/servers', { as: 'member' }) },
  { group: 'servers', slug: 'servers-detail', title: 'List servers with details', doc: 'Same filters as the list.', run: (api) => api.request('GET', '/compute/v2.1/servers/detail?status=ACTIVE', { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'server-stop', title: 'Stop a server (os-stop)', doc: 'Graceful shutdown, then destroy after the configured timeout; `SHUTOFF`. Actions run to completion before the 202, so a following GET sees the result. Actions on one server run one at a time.', run: (api) => act(api, { 'os-stop': null }) },
  { group: 'servers', slug: 'server-stop-conflict', title: 'Stop a stopped server', doc: 'An action the state does not allow: 409 with Nova\'s wording.', run: (api) => act(api, { 'os-stop': null }) },
  { group: 'servers', slug: 'server-start', title: 'Start a server (os-start)', doc: 'From `SHUTOFF` only.', run: (api) => act(api, { 'os-start': null }) },
  { group: 'servers', slug: 'server-reboot', title: 'Reboot a server', doc: '`SOFT` (graceful stop, start; `ACTIVE` only) or `HARD` (destroy, start; also from `SHUTOFF` and `ERROR`).', run: (api) => act(api, { reboot: { type: 'HARD' } }) },
  { group: 'servers', slug: 'server-rebuild-conflict', title: 'Rebuild on an image that conflicts with the flavor', doc: 'Nothing changes: the server keeps its image and its guest.', run: (api) => act(api, { rebuild: { imageRef: PERF } }) },
  { group: 'servers', slug: 'server-rebuild', title: 'Rebuild a server', doc: 'Same id (domain uuid), host and flavor; a new root disk on the new image; the vPMU resolved again. `name`, `metadata` (replaces it), `accessIPv4`/`accessIPv6`, `description` (2.19+) and `OS-DCF:diskConfig` change with it; `preserve_ephemeral` may only be false (no ephemeral disks); `key_name` (2.54+) and `user_data` (2.57+) replace the server\'s (null removes them), and `adminPass` goes on the rebuilt guest\'s config drive as on create. Answers 202 with Nova\'s rebuild body: before 2.75 without the `OS-EXT-*`, availability zone, config drive and usage attributes (`key_name` from 2.54, `user_data` from 2.57), the whole view from 2.75.', run: (api) => act(api, { rebuild: { imageRef: PLAIN } }) },
  { group: 'servers', slug: 'server-resize', title: 'Resize a server', doc: 'A different flavor (same flavor: 400). The new flavor\'s resources are claimed on the host next to the old ones (no room: 400 `server.no_room_to_resize` and nothing changes); the domain is redefined with the same uuid and restarted; the server waits in `VERIFY_RESIZE`.', run: (api) => act(api, { resize: { flavorRef: 'vran-large' } }) },
  { group: 'servers', slug: 'server-confirm-resize', title: 'Confirm a resize', doc: 'Releases the old claim. `revertResize` instead restores the old flavor, domain and claim and releases the new one.', run: (api) => act(api, { confirmResize: null }) },
  { group: 'servers', slug: 'server-resize-back', title: 'Resize a server again, to be reverted', doc: '', run: (api) => act(api, { resize: { flavorRef: 'vran' } }) },
  { group: 'servers', slug: 'server-revert-resize', title: 'Revert a resize', doc: 'From `VERIFY_RESIZE`: the old flavor, its claim and its domain definition come back (the domain is restarted if it was running); the new claim is released.', run: (api) => act(api, { revertResize: null }) },
  { group: 'servers', slug: 'server-migrate', title: 'Cold migrate a server (admin)', doc: '`{"migrate": null}`, or from 2.56 `{"migrate": {"host": "<host>"}}` (an unknown host: 400 "Compute host … could not be found."; the server\'s own host: 400 "Cannot migrate to the host where the server exists."). From `ACTIVE` or `SHUTOFF`: a resize to the same flavor on another host. The scheduler picks the host (never the current one; disabled hosts and down ones, forced down or silent longer than `serviceDownTime`, are left out; a source that is down: 409 "Service is unavailable at this time.") and claims the flavor there; the source hands the guest\'s instance directory (root disk, config drive) over, the destination designs the guest afresh on its own settings (the vPMU resolved again there) and starts it if it ran; the server waits in `VERIFY_RESIZE` on the destination, its stopped guest and old claim kept on the source. `confirmResize` removes the source guest and releases the old claim; `revertResize` removes the destination guest, releases the new claim and starts the source guest again. The vPMU promise: a server whose vPMU resolved to on and that runs on a `CUSTOM_HW_VPMU` host moves only to hosts with that trait, whatever the prefilter setting. No host: 400 "No valid host was found. …" and nothing changes, as here, where compute1 is the only host. Members: 403.', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { body: { migrate: null } }) },
  { group: 'servers', slug: 'server-evacuate-in-use', title: 'Evacuate a server whose host is up (admin)', doc: '`{"evacuate": {"host": …}}` (before 2.14 with `onSharedStorage`, which must be false: vpmu hosts share no storage; `force` from 2.29 to 2.67; `adminPass` goes on the rebuilt guest\'s config drive, as on rebuild). Refused while the server\'s compute service is up, as here; a host is down when an operator forces it down (`os-services`, `forced_down`) or when its last heartbeat is older than `serviceDownTime` (60 s by default; a compute reports every `reportInterval`, 10 s). Then the server is built again from its image on another host (the scheduler\'s pick or the named one, with the same vPMU rule as `migrate`), answering 200 with no body; an `evacuation` migration keeps the claim on the old host until that host is up again, when its guest is removed and the claim released.', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { headers: { 'OpenStack-API-Version': 'compute 2.14' }, body: { evacuate: {} } }) },
  { group: 'servers', slug: 'migrations-list', title: 'List migrations (admin, os-migrations)', doc: 'Every resize, cold migration and evacuation, newest first: `migration_type` from 2.23 (`resize`, `migration`, `evacuation`), `uuid` from 2.59, `user_id` and `project_id` from 2.80. `dest_host` (Nova: the destination\'s IP address) and the integer flavor ids `old_instance_type_id`/`new_instance_type_id` are null: vpmu knows neither. Filters: `host`, `source_compute`, `status`, `instance_uuid`, `migration_type` (2.23+); paging and other filters are refused (400). `GET /servers/{id}/migrations` (2.23+) is always empty: it lists live migrations in progress, and vpmu does no live migration.', run: (api) => api.request('GET', '/compute/v2.1/os-migrations', { headers: { 'OpenStack-API-Version': 'compute 2.80' } }) },
  { group: 'servers', slug: 'server-lock', title: 'Lock a server', doc: 'Any member of the server\'s project (or an admin) locks it; from 2.73 with an optional `locked_reason` (1 to 255 characters), shown in the server view from 2.73 (`locked` from 2.9). While locked, every action and delete by a non-admin is a 409 `server.locked` ("Instance <id> is locked"); admins still act. `unlock` (202) clears it; a lock set by an admin of another project needs an admin to unlock (`os_compute_api:os-lock-server:unlock:unlock_override`, else 403).', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.73' }, body: { lock: { locked_reason: 'kernel profiling run' } } }) },
  { group: 'servers', slug: 'server-locked-stop', title: 'Stop a locked server (non-admin)', doc: '', run: (api) => act(api, { 'os-stop': null }) },
  { group: 'servers', slug: 'server-show-locked', title: 'Show a locked server (2.73)', doc: '', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.73' } }) },
  { group: 'servers', slug: 'server-unlock', title: 'Unlock a server', doc: '', run: (api) => act(api, { unlock: null }) },
  { group: 'servers', slug: 'server-pause', title: 'Pause a server', doc: 'From `ACTIVE`: the guest\'s vCPUs are frozen in memory (libvirt\'s suspend); `PAUSED`, power state 3, task state `pausing` while it runs. `unpause` (from `PAUSED`) lets it run again. Nova\'s policy (project members and admins), lock check and 409 in any other state; notifications `instance.pause.start`/`.end` and `instance.unpause.start`/`.end`.', run: (api) => act(api, { pause: null }) },
  { group: 'servers', slug: 'server-unpause', title: 'Unpause a server', doc: '', run: (api) => act(api, { unpause: null }) },
  { group: 'servers', slug: 'server-suspend', title: 'Suspend a server', doc: 'From `ACTIVE`: the guest\'s memory is saved in its instance directory on the host and the guest stops (Nova\'s managed save); `SUSPENDED`, power state 4. `resume` (from `SUSPENDED`) starts it again from the saved memory (afresh if that is gone). Notifications `instance.suspend.*` and `instance.resume.*`.', run: (api) => act(api, { suspend: null }) },
  { group: 'servers', slug: 'server-resume', title: 'Resume a server', doc: '', run: (api) => act(api, { resume: null }) },
  { group: 'servers', slug: 'server-create-image', title: 'Snapshot a server into an image (createImage)', doc: '`{"createImage": {"name": …, "metadata": {…}}}` from `ACTIVE`, `SHUTOFF`, `PAUSED` or `SUSPENDED`: the root disk, its backing chain flattened by `qemu-img convert` on the host, becomes a private image of the caller\'s project, active when the 202 comes. As in Nova it carries the properties of the image the server was built from (`hw_pmu` among them), then the request\'s `metadata`, then `instance_uuid`, `user_id`, `image_type` `snapshot` and `base_image_ref`; `min_disk` is the flavor\'s disk. Task states `image_snapshot`, `image_uploading` while it runs; notifications `instance.snapshot.start`/`.end` name the new image (`snapshot_image_id`), for createBackup too. Before 2.45 the answer has a `Location` header naming the image; from 2.45 the body `{"image_id": …}`. `openstack server image create`.', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.45' }, body: { createImage: { name: 'ran1-snapshot', metadata: { purpose: 'baseline' } } } }) },
  { group: 'servers', slug: 'server-actions-list', title: 'List a server\'s actions (os-instance-actions)', doc: 'Every action on a server is recorded: `create`, `delete`, `stop`, `start`, `reboot`, `rebuild`, `resize`, `confirmResize`, `revertResize`, `pause`, `unpause`, `suspend`, `resume`, `createImage`, `createBackup`, `shelve`, `shelveOffload`, `unshelve`, `restore`, `lock`, `unlock` (these two with no events, as in Nova), with the request id (`X-Compute-Request-Id` of the request that asked), the user, the project and the start time, newest first; `message` is `Error` when a step failed. From 2.21 a deleted server\'s actions are listed too; from 2.58 each has `updated_at` and the list takes `limit`, `marker` (a request id), `changes-since` (and `changes-before` from 2.66), with a `links` `next` link on a full page. `openstack server event list SERVER`.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/os-instance-actions`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.58' } }) },
  { group: 'servers', slug: 'server-action-show', title: 'Show a server action with its events', doc: 'The action and its events (the steps it ran: `compute_pause_instance`, `conductor_schedule_and_build_instances`, …) with start and finish times and `result` (`Success` or `Error`). Events are shown to admins always and to members from 2.51; `traceback` (what went wrong, with vpmu\'s error code) to admins only; `hostId` from 2.62 (and `host` for admins); `details` (the error message a member may see) from 2.84. An unknown request id: 404 "Action … not found". `openstack server event show SERVER REQUEST_ID`.', run: async (api) => { const listed = await api.request('GET', `/compute/v2.1/servers/${SERVER}/os-instance-actions`, { as: 'member' }); const [newest] = (listed.body as { instanceActions: { request_id: string }[] }).instanceActions; return api.request('GET', `/compute/v2.1/servers/${SERVER}/os-instance-actions/${newest?.request_id ?? ''}`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.84' } }); } },
  { group: 'servers', slug: 'server-reset-state', title: 'Reset a server\'s state (admin)', doc: '`{"os-resetState": {"state": "active" | "error"}}` sets `vm_state` and clears `task_state`, nothing else (the power state, host and guest stay), at once, even while an action runs. Admins only (`os_compute_api:os-admin-actions:reset_state`, else 403).', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { body: { 'os-resetState': { state: 'active' } } }) },
  { group: 'servers', slug: 'server-restore-conflict', title: 'Restore a server (no soft delete)', doc: 'With `reclaimInstanceInterval` 0 (the default, Nova\'s `reclaim_instance_interval`) vpmu deletes at once, so no server is ever `SOFT_DELETED`: `restore` is a 409 with Nova\'s wording, an unknown server a 404. With an interval N > 0, `DELETE` powers the guest off and leaves the server `SOFT_DELETED` (vm_state `soft-delete`, its claim and quota kept, notifications `instance.soft_delete.start`/`.end`); `restore` (202) powers it on again (`ACTIVE`, `instance.restore.start`/`.end`), and it is deleted N seconds later unless restored. `forceDelete` (202) deletes at once, soft-deleted or not, when no task runs on the server (else 409).', run: (api) => act(api, { restore: null }) },
  { group: 'servers', slug: 'server-shelve', title: 'Shelve a server', doc: 'From `ACTIVE`, `SHUTOFF`, `PAUSED` or `SUSPENDED`: the guest is powered off and its root disk saved as the private image `<server name>-shelved` of the server\'s project, carrying the properties of the image the server was built from (`hw_pmu` among them) as createImage does; task states `shelving`, `shelving_image_pending_upload`, `shelving_image_uploading`; then `SHELVED`. With `shelvedOffloadTime` 0 (the default) it is offloaded at once: the guest and its instance directory leave the host and its claim is released, `SHELVED_OFFLOADED` with no host. `-1` keeps it `SHELVED` on its host until `{"shelveOffload": null}`; N > 0 offloads it after N seconds. Notifications `instance.shelve.start`/`.end`, `instance.shelve_offload.start`/`.end`. `openstack server shelve`.', run: (api) => act(api, { shelve: null }) },
  { group: 'servers', slug: 'server-unshelve', title: 'Unshelve a server', doc: 'From `SHELVED`: powered on again. From `SHELVED_OFFLOADED`: its flavor\'s cores and ram are counted against the quota again (403 when over), the scheduler places it (from 2.91 an admin may name the `host`; from 2.77 `availability_zone` may be given, and vpmu has only `nova`), and it is built from the shelve image with its own flavor, its vPMU decided again from the same flavor and image properties. Either way the shelve image is then deleted and the server is `ACTIVE`, task state `unshelving` while it runs; notifications `instance.unshelve.start`/`.end`. `openstack server unshelve`.', run: (api) => api.request('POST', `/compute/v2.1/servers/${SERVER}/action`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.77' }, body: { unshelve: { availability_zone: 'nova' } } }) },
  { group: 'servers', slug: 'server-action-unserved', title: 'An action Nova has and vpmu does not serve', doc: 'A 400 naming the action and what vpmu serves, after the server is looked up (an unknown server: 404, as in Nova). A name Nova does not know either: 400 "There is no such action: …".', run: (api) => act(api, { 'os-getVNCConsole': { type: 'novnc' } }) },
  { group: 'servers', slug: 'server-console-output', title: 'Show the end of a server\'s console output', doc: '`{"os-getConsoleOutput": {"length": N}}`: the last N lines (all with -1, null or no `length`) of the guest\'s serial console log, which virtlogd writes to `console.log` in its instance directory; at most its last 100 KiB, control characters other than tab and newline removed. A guest that wrote nothing (every guest of libvirt\'s test driver, which runs none) answers `""`. A server on no host yet: 409. `openstack console log show [--lines N]` calls it.', run: (api) => { api.guestFiles.consoleLogs.set(`/instances/${SERVER}/console.log`, '[    0.000000] Linux version 6.1.0-57-amd64\nPerformance Events: PMU not available due to virtualization, using software events only.\nWelcome to the guest\n'); return act(api, { 'os-getConsoleOutput': { length: 2 } }); } },
  { group: 'servers', slug: 'server-tag-add', title: 'Add a server tag (2.26+)', doc: '`PUT /servers/{id}/tags/{tag}`, no body: 201 with `Location` for a new tag, 204 when the server has it. Tags are 1 to 60 characters without `/` or `,`, at most 50 per server (400 otherwise, Nova\'s wording). Changing tags needs a writer and a server in `vm_state` active or stopped (409 otherwise); reading them any role that sees the server. `GET /servers/{id}/tags/{tag}` answers 204 or 404; `DELETE` 204 or 404; `DELETE /servers/{id}/tags` removes all (204). Below 2.26: 404.', run: (api) => api.request('PUT', `/compute/v2.1/servers/${SERVER}/tags/profiling`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.73' } }) },
  { group: 'servers', slug: 'server-tags-replace', title: 'Replace a server\'s tags', doc: 'Duplicates count once; tags kept keep their place.', run: (api) => api.request('PUT', `/compute/v2.1/servers/${SERVER}/tags`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.73' }, body: { tags: ['profiling', 'ran'] } }) },
  { group: 'servers', slug: 'server-tags-list', title: 'List a server\'s tags', doc: 'The server view shows them too, as `tags`, from 2.26.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/tags`, { as: 'member', headers: { 'OpenStack-API-Version': 'compute 2.73' } }) },
  { group: 'servers', slug: 'server-password', title: 'Show a server\'s password (os-server-password)', doc: 'Always empty: the password is what a guest posts to a metadata service, and vpmu has none. `DELETE` answers 204 (writers only).', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/os-server-password`, { as: 'member' }) },
  { group: 'servers', slug: 'server-ips', title: 'List a server\'s addresses', doc: 'Always empty: vpmu plugs no networks. `GET /servers/{id}/ips/{network}` is a 404 ("Instance is not a member of specified network") for any network.', run: (api) => api.request('GET', `/compute/v2.1/servers/${SERVER}/ips`, { as: 'member' }) },
  { group: 'servers', slug: 'hypervisors-list', title: 'List hypervisors (admin)', doc: 'Every registered compute host, Nova\'s body at each microversion: integer ids before 2.53, UUIDs (derived from the host name, so they never change) from 2.53; `limit`/`marker` paging with `hypervisors_links` from 2.33; `with_servers` and `hypervisor_hostname_pattern` (a SQL LIKE substring match; none: 404) from 2.53. Members: 403 on every os-hypervisors route.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors') },
  { group: 'servers', slug: 'hypervisors-detail', title: 'List hypervisors with details (admin)', doc: '`hypervisor_type` and `hypervisor_version` as libvirt reports them (`virsh version`, version encoded as major × 1,000,000 + minor × 1,000 + release), `host_ip` from the `hostIp` setting, `cpu_info` from the host probe (JSON text before 2.28, an object from 2.28). Capacity (`vcpus`, `memory_mb`, `local_gb`) and what claims hold (`…_used`, which count the reserved memory and disk as Nova\'s resource tracker does; `running_vms` counts the servers on the host); from 2.88 these usage fields are gone and `uptime` is shown instead. Inventories and traits are not shown here (they are Placement\'s in OpenStack).', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/detail') },
  { group: 'servers', slug: 'hypervisors-detail-v2.53', title: 'List hypervisors with their servers (admin, 2.53)', doc: '`servers` lists each server\'s instance name and UUID; from 2.75 a host without servers shows `servers: []` when asked.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/detail?with_servers=true', { headers: { 'OpenStack-API-Version': 'compute 2.53' } }) },
  { group: 'servers', slug: 'hypervisor-show', title: 'Show one hypervisor (admin)', doc: 'By id (an integer before 2.53, the UUID from 2.53; a host name is not an id: 404, as in Nova); the same view as in the detailed list. Unknown: 404.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/1') },
  { group: 'servers', slug: 'hypervisor-uptime', title: 'Show a hypervisor\'s uptime (admin, before 2.88)', doc: 'The compute host\'s `uptime` output, as Nova\'s libvirt driver reports it, whatever the libvirt URI (the test driver included): it is the machine vpmu runs on. A host that cannot tell: 501. From 2.88: 404 (the detail shows `uptime`).', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/1/uptime') },
  { group: 'servers', slug: 'hypervisor-statistics', title: 'Hypervisor statistics (admin, before 2.88)', doc: 'The usage fields summed over the enabled hosts, with their `count`. From 2.88: 404.', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/statistics') },
  { group: 'servers', slug: 'hypervisor-servers', title: 'Servers on the hypervisors matching a name (admin, before 2.53)', doc: '`/os-hypervisors/{pattern}/servers`; `/os-hypervisors/{pattern}/search` answers the same without `servers`. Nothing matches: 404. From 2.53: 404 (use `hypervisor_hostname_pattern` and `with_servers`).', run: (api) => api.request('GET', '/compute/v2.1/os-hypervisors/compute/servers') },
  { group: 'servers', slug: 'services-list', title: 'List compute services (admin)', doc: 'One `nova-compute` per registered host (vpmu runs its scheduler and conductor inside the API process, so it lists no `nova-scheduler` or `nova-conductor`), `zone` the host\'s (its aggregate\'s availability zone, else `nova`). `state` is `down` when an operator forces it down or when its last heartbeat is older than `serviceDownTime` (60 s by default; each compute reports every `reportInterval`, 10 s), `up` otherwise; `updated_at` is the last heartbeat (when the host registered, before it reported); `forced_down` is listed from 2.11 and the id is a UUID (derived from the host name) from 2.53. Filters: `host`, `binary` (unknown filters: 400 from 2.75). Members: 403.', run: (api) => api.request('GET', '/compute/v2.1/os-services', { headers: { 'OpenStack-API-Version': 'compute 2.53' } }) },
  { group: 'servers', slug: 'service-disable', title: 'Disable a compute service with a reason (admin, 2.53)', doc: '`PUT /os-services/{uuid}` with `status` (`enabled`/`disabled`), `disabled_reason` (only with `disabled`; 1-255 characters) and `forced_down`, at least one of `status` and `forced_down`. A disabled or forced-down host takes no new servers; what it runs keeps running. The decision outlives restarts. Before 2.53: `PUT /os-services/enable`, `/disable`, `/disable-log-reason` and (2.11+) `/force-down` with `host` and `binary`. `DELETE /os-services/{id}` forgets a host that runs nothing (409 while servers are on it).', run: async (api) => { const host = await api.store.getComputeHost('compute1'); await api.request('PUT', `/compute/v2.1/os-services/${hostUuid('compute1', 'service')}`, { headers: { 'OpenStack-API-Version': 'compute 2.53' }, body: { status: 'disabled', disabled_reason: 'BIOS update' } }); if (host !== undefined) await api.store.putComputeHost(host); /* the samples after this one use compute1 */ } },
  { group: 'servers', slug: 'aggregate-create', title: 'Create a host aggregate (admin)', doc: "The body `openstack aggregate create --zone az1 agg1` sends: `name` (1-255 characters, no surrounding spaces, unique: else 409 \"Aggregate NAME already exists.\") and an optional `availability_zone` (no `:`), kept as the metadata key `availability_zone`. Answers 200 without `hosts` and `metadata`, as Nova; `uuid` from 2.41. `GET /os-aggregates/{id}` shows one (a non-integer id: 400, an unknown one: 404). `PUT /os-aggregates/{id}` changes `name` and/or `availability_zone` (null is refused, as Nova). Image pre-caching (`POST /os-aggregates/{id}/images`, 2.81) is not offered (404): vpmu's hosts keep no image cache to warm. Members: 403.", run: (api) => api.request('POST', '/compute/v2.1/os-aggregates', { headers: { 'OpenStack-API-Version': 'compute 2.41' }, body: { aggregate: { name: 'agg1', availability_zone: 'az1' } } }) },
  { group: 'servers', slug: 'aggregate-add-host', title: 'Add a host to an aggregate (admin)', doc: "`openstack aggregate add host agg1 compute1`. An unknown host: 404 \"Compute host H could not be found.\"; a host already in it: 409; a host another aggregate puts in a different zone: 409 \"Cannot add host to aggregate N. Reason: One or more hosts already in availability zone(s) ['az2'].\". `remove_host` takes it out (404 when it is not in). New servers asking for the zone go to its hosts.", run: (api) => api.request('POST', '/compute/v2.1/os-aggregates/1/action', { body: { add_host: { host: 'compute1' } } }) },
  { group: 'servers', slug: 'aggregate-set-metadata', title: "Set an aggregate's metadata (admin)", doc: "Merges into the metadata; a null value deletes its key. Keys 1-255 of letters, digits, spaces and `-_:.`; values up to 255 characters. `availability_zone` here is the aggregate's zone, checked as on update (an empty zone or one that puts a host in two zones: 400).", run: (api) => api.request('POST', '/compute/v2.1/os-aggregates/1/action', { body: { set_metadata: { metadata: { ssd: 'true' } } } }) },
  { group: 'servers', slug: 'aggregates-list', title: 'List host aggregates (admin)', doc: 'Every aggregate with its hosts and metadata, by id.', run: (api) => api.request('GET', '/compute/v2.1/os-aggregates') },
  { group: 'servers', slug: 'availability-zones', title: 'List availability zones', doc: "Any user. The zones of the compute hosts: an aggregate's `availability_zone` puts its hosts in that zone, and a host in none is in `nova` (Nova's `default_availability_zone`). A zone with an enabled host is available; one whose hosts are all disabled is listed after them with `available: false`; a zone with no host is not listed.", run: (api) => api.request('GET', '/compute/v2.1/os-availability-zone', { as: 'member' }) },
  { group: 'servers', slug: 'availability-zones-detail', title: 'List availability zones with their hosts (admin)', doc: "Each enabled host of an available zone with its `nova-compute` service (`updated_at`: its last heartbeat, else when the host registered; `available` false when forced down or silent longer than `serviceDownTime`). vpmu has no scheduler or conductor services of its own (os-services lists none), so there is no `internal` zone. Members: 403.", run: (api) => api.request('GET', '/compute/v2.1/os-availability-zone/detail') },
  { group: 'servers', slug: 'aggregate-delete', title: 'Delete a host aggregate (admin)', doc: "200 with no body, as Nova. An aggregate that still has hosts: 400 \"Cannot remove aggregate N. Reason: Host aggregate is not empty.\" (here compute1 was removed first).", run: async (api) => { await api.request('POST', '/compute/v2.1/os-aggregates/1/action', { body: { remove_host: { host: 'compute1' } } }); return api.request('DELETE', '/compute/v2.1/os-aggregates/1'); } },
  { group: 'servers', slug: 'limits', title: 'Show limits', doc: 'The maxima are the project\'s quotas (see Show a project\'s quotas); the `total…Used` values are what the quotas count, the caller\'s project\'s servers and server groups (an admin may ask for another project with `?tenant_id=`). The keys follow Nova\'s microversions: floating IP and security group keys go at 2.36, `maxImageMeta` at 2.39, the personality keys at 2.57; unknown query parameters are refused from 2.75.', run: (api) => api.request('GET', '/compute/v2.1/limits', { as: 'member' }) },
  { group: 'servers', slug: 'quota-show', title: "Show a project's quotas", doc: "`GET /os-quota-sets/{project_id}`: the project's limits (its own, else the `default` quota class's, else Nova's defaults: 10 instances, 20 cores, 51200 MB of RAM, 128 metadata items, 100 key pairs, 10 server groups of at most 10 members; -1 is unlimited). With `?user_id=` one user's limits in the project. Members and readers see their own project, admins any; others 403 \"Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.\"; an unknown project: 400 \"Project ID X is not a valid project.\". The keys follow Nova's microversions: the network quotas (`fixed_ips`, `floating_ips`, `security_groups`, `security_group_rules`, never enforced: vpmu has no networking) go at 2.36, the personality quotas (`injected_files…`) at 2.57. Enforced: `instances`, `cores` and `ram` on create (a multiple create is trimmed to what fits, down to `min_count`) and on a resize that grows, `metadata_items`, `key_pairs` (per user), `server_groups` and `server_group_members`, with Nova's 403s (see the refused create below).", run: async (api) => api.request('GET', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'quota-detail', title: "Show a project's quotas with their use", doc: "`…/detail`: each quota's `limit`, `in_use` (counted from the records: the project's servers, their vCPUs and RAM, its server groups; key pairs only in a user's view, `?user_id=`) and `reserved` (always 0, as in Nova since Queens).", run: async (api) => api.request('GET', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}/detail`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'quota-defaults', title: 'Show the default quotas', doc: 'Any user: the `default` quota class over Nova\'s defaults.', run: async (api) => api.request('GET', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}/defaults`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'quota-update', title: "Set a project's quotas (admin)", doc: "The body `openstack quota set --cores 3 --instances 4 PROJECT` sends; with `?user_id=` one user's limits (at most the project's). Values are integers or strings of one, -1 to 2147483647; a quota the microversion does not show is refused by name. A limit below what is in use is a 400 unless `\"force\": true`. Answers the project's quotas without `id`, as Nova. Members: 403.", run: async (api) => api.request('PUT', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}`, { headers: MV, body: { quota_set: { cores: 3, instances: 4 } } }) },
  { group: 'servers', slug: 'quota-update-below-usage', title: 'Set a quota below its use', doc: '', run: async (api) => api.request('PUT', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}`, { headers: MV, body: { quota_set: { cores: 0 } } }) },
  { group: 'servers', slug: 'server-create-over-quota', title: 'Create a server over the quota', doc: "Nova's 403 TooManyInstances, naming the quotas exceeded, what was asked (for instances the count, or `min-max` for a multiple create) and the tightest of the project's and the user's limit. The check and the records it allows are one step (a per-project lock in the process), so concurrent creates never overrun a quota. Nothing is recorded.", run: (api) => api.request('POST', '/compute/v2.1/servers', { as: 'member', headers: MV, body: { server: { name: 'big', flavorRef: 'vran-large', imageRef: PLAIN, networks: 'none' } } }) },
  { group: 'servers', slug: 'quota-delete', title: "Revert a project's quotas to the defaults (admin)", doc: "202, as Nova. With `?user_id=` one user's; without, the project's and its users'.", run: async (api) => api.request('DELETE', `/compute/v2.1/os-quota-sets/${await projectIdOf(api, 'demo')}`, { headers: MV }) },
  { group: 'servers', slug: 'quota-class-show', title: 'Show the default quota class (admin)', doc: "`GET /os-quota-class-sets/default`. Nova's keys by microversion: before 2.50 without `server_groups` and `server_group_members` and with the network quotas, from 2.50 the other way round, from 2.57 without the personality quotas. Members: 403.", run: (api) => api.request('GET', '/compute/v2.1/os-quota-class-sets/default', { headers: MV }) },
  { group: 'servers', slug: 'quota-class-update', title: 'Change the default quotas (admin)', doc: 'The body `openstack quota set --class --instances 20 default` sends. Every project without a limit of its own gets the new default at once. Answers the class without `id`.', run: (api) => api.request('PUT', '/compute/v2.1/os-quota-class-sets/default', { headers: MV, body: { quota_class_set: { instances: 20 } } }) },
  { group: 'servers', slug: 'usage-list', title: 'Usage of every project (admin)', doc: "`GET /os-simple-tenant-usage?start=…&end=…&detailed=1` (`openstack usage list`): per project, the hours its servers ran in the period (from launch, up to the end of the period, as Nova counts) and those hours times vCPUs, MB of RAM and GB of disk. `start` and `end` default to now, in Nova's formats (`2026-01-01T00:00:00`, with `.ffffff`, or a space for the `T` with `.ffffff`); a start after the end or a malformed time: 400. `detailed=1` adds `server_usages`. From 2.40 `limit` and `marker` (a server id) page over the servers, with `tenant_usages_links`. Deleted servers are not counted: vpmu forgets a server when it is deleted (Nova counts it up to its deletion). Members: 403.", run: (api) => api.request('GET', '/compute/v2.1/os-simple-tenant-usage?start=2025-12-31T00:00:00&end=2026-01-02T00:00:00&detailed=1', { headers: MV }) },
  { group: 'servers', slug: 'usage-show', title: "Usage of one project", doc: "`openstack usage show`: one project's usage, always with `server_usages` (`{}` when it had no server in the period). Members and readers see their own project, admins any.", run: async (api) => api.request('GET', `/compute/v2.1/os-simple-tenant-usage/${await projectIdOf(api, 'demo')}?start=2025-12-31T00:00:00&end=2026-01-02T00:00:00`, { as: 'member', headers: MV }) },
  { group: 'servers', slug: 'notifier-counters', title: 'Notifier counters (admin, vpmu extension)', doc: 'How many versioned notifications reached their transport (`published`), wait for it (`buffered`), were given up on (`dropped`: buffer full, broker down past the bound, or still buffered at shutdown; each one is also logged), and how often the RabbitMQ connection was made again (`reconnects`). Members: 403.', run: (api) => api.request('GET', '/compute/v2.1/vpmu/notifier') },
  { group: 'servers', slug: 'server-delete', title: 'Delete a server', doc: 'Powers the domain off at once (no graceful shutdown, as in Nova) and undefines it, removes its instance directory, releases its claims and forgets the server (a later GET: 404). 204.', run: (api) => api.request('DELETE', `/compute/v2.1/servers/${SERVER}`, { as: 'member' }) },
  { group: 'placement', slug: 'versions', title: 'Version document', doc: 'No token needed. `OpenStack-API-Version: placement X.Y` picks the microversion (1.0 when absent, `latest` for 1.39); every response names the one used. Outside 1.0–1.39: 406 with `min_version` and `max_version` in the error, as Placement answers (osc-placement reads them to negotiate).', run: async (api) => { await placementFixtures(api); return api.request('GET', '/placement/', { as: null }); } },
  { group: 'placement', slug: 'providers', title: 'List resource providers (admin)', doc: 'One provider per compute host, named after it, with a UUIDv5 derived from the host name (the same on every start). Filters: `name`, `uuid`, `resources` (1.4), `required` (1.18; `!TRAIT` from 1.22, `in:A,B` from 1.39). `member_of` and `in_tree` are refused (400): vpmu mirrors no host aggregates into Placement and has no nested providers. Members and readers: 403.', run: (api) => api.request('GET', '/placement/resource_providers', { headers: PLACEMENT }) },
  { group: 'placement', slug: 'inventories', title: 'Inventories of a provider (admin)', doc: "The host's VCPU, MEMORY_MB and DISK_GB as the scheduler sees them. `max_unit` is the whole capacity ((total − reserved) × ratio), because vpmu's claim limits only the sum of the allocations. `…/inventories/{rc}` shows one class; an unknown provider or class: 404.", run: (api) => api.request('GET', `/placement/resource_providers/${PROVIDER}/inventories`, { headers: PLACEMENT }) },
  { group: 'placement', slug: 'usages', title: 'Usages of a provider (admin)', doc: "What the servers' claims hold on the host: the same per-host usage the scheduler claims against.", run: (api) => api.request('GET', `/placement/resource_providers/${PROVIDER}/usages`, { headers: PLACEMENT }) },
  { group: 'placement', slug: 'traits', title: 'Traits of a provider (admin)', doc: '`CUSTOM_HW_VPMU` when the host can give a guest a working vPMU; `COMPUTE_STATUS_DISABLED` when the host is disabled, as Nova sets it. `GET /placement/traits` lists every trait vpmu knows (`name=in:…`, `name=startswith:…`, `associated`).', run: (api) => api.request('GET', `/placement/resource_providers/${PROVIDER}/traits`, { headers: PLACEMENT }) },
  { group: 'placement', slug: 'allocations', title: "A server's allocations (admin)", doc: "The server's claim. During a resize the old flavor's claim is the allocation of the resize's own uuid (`consumer_type` MIGRATION), as Nova moves it to the migration. An unknown consumer: 200 with no allocations. `GET /placement/resource_providers/{uuid}/allocations` lists every consumer on a host.", run: (api) => api.request('GET', `/placement/allocations/${PLACEMENT_SERVER}`, { headers: PLACEMENT }) },
  { group: 'placement', slug: 'project-usages', title: "A project's usages (admin)", doc: 'From 1.9; `user_id` narrows to one user. From 1.38 grouped by consumer type with `consumer_count`; below, the plain sums.', run: async (api) => api.request('GET', `/placement/usages?project_id=${await demoProject(api)}`, { headers: PLACEMENT }) },
  { group: 'placement', slug: 'allocation-candidates', title: 'Allocation candidates (admin)', doc: "From 1.10; `required` from 1.17, `limit` from 1.16. The hosts that have room now by the claim's own rule (a disabled host is none), in host-name order. Granular groups (`resources1`…), `member_of`, `in_tree`, `root_required` and `same_subtree` are refused (400).", run: (api) => api.request('GET', '/placement/allocation_candidates?resources=VCPU:1,MEMORY_MB:512&required=CUSTOM_HW_VPMU', { headers: PLACEMENT }) },
  { group: 'placement', slug: 'bad-resources', title: 'Allocation candidates: a malformed `resources`', doc: "400 in Placement's error body, naming the value.", run: (api) => api.request('GET', '/placement/allocation_candidates?resources=VCPU', { headers: PLACEMENT }) },
  { group: 'placement', slug: 'provider-not-found', title: 'An unknown provider', doc: "404 in Placement's error body.", run: (api) => api.request('GET', '/placement/resource_providers/7b4d3a4e-0000-4000-8000-000000000000', { headers: PLACEMENT }) },
  { group: 'placement', slug: 'write-refused', title: 'A write', doc: "405 with `Allow: GET`: vpmu's Placement is read-only; hosts report their inventory and traits, claims are the servers'.", run: (api) => api.request('PUT', `/placement/resource_providers/${PROVIDER}/traits`, { headers: PLACEMENT, body: { traits: [], resource_provider_generation: 0 } }) },
  { group: 'glance', slug: 'image-tag-add', title: 'Add an image tag', doc: '`PUT /v2/images/{id}/tags/{tag}` (`openstack image set --tag`): 204; a tag the image has already changes nothing. At most 128 tags (Glance\'s `image_tag_quota`, `imageTagQuota`): 413. Tags are at most 255 characters (400). Owner project (or admin) only; an image the caller cannot see: 404.', run: async (api) => { await api.request('POST', '/image/v2/images', { as: 'member', body: { id: IMAGE, name: 'shared', disk_format: 'raw', container_format: 'bare' } }); await api.request('PUT', `/image/v2/images/${IMAGE}/file`, { as: 'member', headers: { 'Content-Type': 'application/octet-stream' }, rawBody: new Uint8Array(16) }); return api.request('PUT', `/image/v2/images/${IMAGE}/tags/gold`, { as: 'member' }); } },
  { group: 'glance', slug: 'image-tag-delete', title: 'Remove an image tag', doc: '`DELETE /v2/images/{id}/tags/{tag}` (`openstack image unset --tag`): 204; a tag the image does not have: 404.', run: (api) => api.request('DELETE', `/image/v2/images/${IMAGE}/tags/gold`, { as: 'member' }) },
  { group: 'glance', slug: 'image-deactivate', title: 'Deactivate an image', doc: '`POST /v2/images/{id}/actions/deactivate` (`openstack image set --deactivate`): 204, the image becomes `deactivated`; again: 204, nothing changes; an image that is not active (queued): 403. The owner project\'s members or an admin, as Glance\'s default policy. A deactivated image\'s data can be downloaded by admins only (others: 403), and servers cannot boot or rebuild from it (400 "Image X is not active.", as Nova).', run: (api) => api.request('POST', `/image/v2/images/${IMAGE}/actions/deactivate`, { as: 'member' }) },
  { group: 'glance', slug: 'image-download-deactivated', title: 'Download a deactivated image\'s data', doc: '', run: (api) => api.request('GET', `/image/v2/images/${IMAGE}/file`, { as: 'member' }) },
  { group: 'glance', slug: 'image-reactivate', title: 'Reactivate an image', doc: '`POST /v2/images/{id}/actions/reactivate` (`openstack image set --activate`): 204, the image is `active` again; the same rules.', run: (api) => api.request('POST', `/image/v2/images/${IMAGE}/actions/reactivate`, { as: 'member' }) },
  { group: 'glance', slug: 'image-member-create', title: 'Share an image with a project', doc: '`POST /v2/images/{id}/members` (`openstack image add project`), by the owner project (or an admin): the member starts `pending`. Only `shared` images have members (else 403); a project that is a member already: 409; at most 128 members (Glance\'s `image_member_quota`, `imageMemberQuota`): 413.', run: async (api) => api.request('POST', `/image/v2/images/${IMAGE}/members`, { as: 'member', body: { member: (await api.store.findProject('other', 'default'))?.id ?? '' } }) },
  { group: 'glance', slug: 'image-member-update', title: 'Accept a shared image', doc: '`PUT /v2/images/{id}/members/{member}` (`openstack image set --accept`, `--reject`, `--pending`), by the member project (or an admin): `pending`, `accepted` or `rejected` (anything else: 400). The owner cannot set it (403). Every member sees the image by id; image lists show it to the member only once accepted (or with `member_status`).', run: async (api) => api.request('PUT', `/image/v2/images/${IMAGE}/members/${(await api.store.findProject('other', 'default'))?.id ?? ''}`, { as: 'other', body: { status: 'accepted' } }) },
  { group: 'glance', slug: 'image-member-update-by-owner', title: 'Accept a shared image for the member', doc: '', run: async (api) => api.request('PUT', `/image/v2/images/${IMAGE}/members/${(await api.store.findProject('other', 'default'))?.id ?? ''}`, { as: 'member', body: { status: 'accepted' } }) },
  { group: 'glance', slug: 'image-members-list', title: 'List an image\'s members', doc: 'The owner project and admins see every member; a member sees only itself.', run: (api) => api.request('GET', `/image/v2/images/${IMAGE}/members`, { as: 'member' }) },
  { group: 'glance', slug: 'image-member-show', title: 'Show an image member', doc: 'A membership the caller may not see, or none: 404.', run: async (api) => api.request('GET', `/image/v2/images/${IMAGE}/members/${(await api.store.findProject('other', 'default'))?.id ?? ''}`, { as: 'other' }) },
  { group: 'glance', slug: 'image-member-delete', title: 'Stop sharing an image with a project', doc: '`DELETE /v2/images/{id}/members/{member}` (`openstack image remove project`), by the owner project (or an admin): 204.', run: async (api) => api.request('DELETE', `/image/v2/images/${IMAGE}/members/${(await api.store.findProject('other', 'default'))?.id ?? ''}`, { as: 'member' }) },
  { group: 'glance', slug: 'schema-image', title: 'The image schema', doc: '`GET /v2/schemas/{name}` serves Glance\'s JSON schemas, describing what vpmu returns: `image`, `images`, `member`, `members`, and `metadefs/namespace(s)`, `metadefs/object(s)`, `metadefs/property`, `metadefs/properties`, `metadefs/resource_type(s)`, `metadefs/tag(s)`; glanceclient reads them (`glance --os-image-api-version 2 image-list`). Any other name: 404.', run: (api) => api.request('GET', '/image/v2/schemas/image', { as: 'member' }) },
  { group: 'glance', slug: 'schema-member', title: 'The image member schema', doc: '', run: (api) => api.request('GET', '/image/v2/schemas/member', { as: 'member' }) },
  { group: 'glance', slug: 'metadef-namespace-create', title: 'Create a metadata definition namespace (admin)', doc: 'With its resource-type associations, properties (JSON-schema fragments: `title` and `type` required), objects and tags, checked against Glance\'s metadef schemas (a bad field: 400 naming it). Default visibility `private` (seen by the owner project and admins), owner the caller\'s project. A name taken (vpmu\'s own namespaces included): 409. Admins only (403), as Glance\'s default policy. `PUT` updates its own attributes (`namespace` renames it), `DELETE` removes it with its contents (while `protected`: 403).', run: (api) => api.request('POST', '/image/v2/metadefs/namespaces', { body: { namespace: 'Example::Perf', display_name: 'Profiling', description: 'Settings for profiling guests', visibility: 'public', resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'perf_' }], properties: { sampler: { title: 'Sampler', type: 'string', enum: ['perf', 'ebpf'] } }, objects: [{ name: 'Counters', properties: { events: { title: 'Events', type: 'array', items: { type: 'string' } } } }], tags: [{ name: 'profiling' }] } }) },
  { group: 'glance', slug: 'metadef-namespace-update', title: 'Update a metadata definition namespace (admin)', doc: 'Its own attributes only; properties, objects, tags and associations have their own endpoints (in the body: 400).', run: (api) => api.request('PUT', '/image/v2/metadefs/namespaces/Example::Perf', { body: { namespace: 'Example::Perf', display_name: 'Profiling', visibility: 'private', protected: true } }) },
  { group: 'glance', slug: 'metadef-resource-types', title: 'List metadata definition resource types', doc: 'Glance\'s seeded resource types, plus any an association names.', run: (api) => api.request('GET', '/image/v2/metadefs/resource_types', { as: 'member' }) },
  { group: 'glance', slug: 'metadef-resource-type-associate', title: 'Associate a resource type with a namespace (admin)', doc: '`GET /v2/metadefs/namespaces/{ns}/resource_types` lists the associations, `DELETE …/resource_types/{name}` removes one. Twice: 409.', run: (api) => api.request('POST', '/image/v2/metadefs/namespaces/Example::Perf/resource_types', { body: { name: 'OS::Nova::Flavor', prefix: 'perf:' } }) },
  { group: 'glance', slug: 'metadef-property-create', title: 'Add a property to a namespace (admin)', doc: '`GET`, `PUT` and `DELETE /v2/metadefs/namespaces/{ns}/properties/{name}` show, replace (a new `name` renames it) and remove one; `GET …/properties` lists them by name. Objects (`…/objects`, `…/objects/{name}`) and tags (`POST …/tags` with a list, replacing them unless `X-Openstack-Append: true`; `POST`, `PUT`, `DELETE …/tags/{name}`; `DELETE …/tags` for all) work the same way.', run: (api) => api.request('POST', '/image/v2/metadefs/namespaces/Example::Perf/properties', { body: { name: 'frequency', title: 'Sampling frequency', type: 'integer', minimum: 1, maximum: 100000 } }) },
  { group: 'glance', slug: 'metadef-namespace-builtin-change', title: 'Change one of vpmu\'s own namespaces (admin)', doc: '`OS::Compute::LibvirtImage` (hw_pmu, …) and `VPMU::Compute::Flavor` (hw:pmu, …) are generated from vpmu\'s specs registry: any change to them or their contents, even by an admin, is 403 `metadef.protected`.', run: (api) => api.request('DELETE', '/image/v2/metadefs/namespaces/OS::Compute::LibvirtImage/properties/hw_pmu') },
  { group: 'glance', slug: 'metadef-namespace-delete-protected', title: 'Delete a protected namespace (admin)', doc: 'Set `protected` to false first.', run: (api) => api.request('DELETE', '/image/v2/metadefs/namespaces/Example::Perf') },
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

\`vpmu serve\` answers four OpenStack APIs on one port, with devstack-style prefixes:

| API | prefix | what the catalog calls it |
|---|---|---|
| Identity (Keystone v3 subset) | \`/identity/v3\` | \`identity\` / keystone |
| Compute (Nova v2.1 subset) | \`/compute/v2.1\` | \`compute\` / nova |
| Image (Glance v2 subset) | \`/image\` (v2 under \`/image/v2\`) | \`image\` / glance |
| Placement (read-only subset) | \`/placement\` | \`placement\` / placement |

**Authentication.** Get a token with \`POST /identity/v3/auth/tokens\` (password, project scope) and
send it as \`X-Auth-Token\`. Version documents need no token; everything else does (401 without
one, or with an unknown or expired one). Roles: \`admin\` (everything, every project), \`member\`
(acts within its project), \`reader\` (reads only).

**Errors.** Compute and image errors use Nova's fault body, \`{"<name>": {"code": <status>,
"message": "..."}}\` with \`badRequest\` 400, \`unauthorized\` 401, \`forbidden\` 403, \`itemNotFound\`
404, \`conflictingRequest\` 409, \`badMediaType\` 415 and \`computeFault\` for anything else (406, 500).
Identity errors use Keystone's \`{"error": {"code", "title", "message"}}\`; placement errors use
Placement's (below). Every error response
carries the stable code in \`X-Compute-Error-Code\` (see [errors.md](errors.md)); every response
carries \`X-OpenStack-Request-ID\`, which the service log repeats. An unexpected error is a 500 whose
message names only the request id; the log has the detail. A JSON body with a lone UTF-16
surrogate in any string or key (\`"\\ud800"\`: valid JSON, not Unicode) is a 400 naming the field.
Links, \`Location\` headers and the catalog start with the \`publicEndpoint\` setting, not the
client's \`Host\`.

**Microversions (compute).** 2.1 to 2.96, from \`OpenStack-API-Version: compute X.Y\` or
\`X-OpenStack-Nova-API-Version: X.Y\`. What changes with them here: for servers 2.3 (the extra
\`OS-EXT-SRV-ATTR:*\` attributes for admins), 2.9 \`locked\`, 2.19 \`description\`, 2.26 \`tags\`
(and the tags API), 2.37 (\`networks\` required on create), 2.47 (the embedded flavor), 2.52
(\`tags\` on create), 2.71 \`server_groups\`, 2.73 \`locked_reason\` and 2.75 (the whole server
view in update and rebuild answers); for flavors 2.55 \`description\`, 2.61 \`extra_specs\`, 2.75
(\`swap\` 0 instead of "") and 2.86 (unknown extra-spec keys in validated namespaces refused);
for server groups 2.13 (\`project_id\`, \`user_id\`), 2.15 (the soft policies) and 2.64
(\`policy\` and \`rules\`); for os-hypervisors 2.28 (\`cpu_info\` an object), 2.33 (paging), 2.53
(UUID ids, \`with_servers\`, \`hypervisor_hostname_pattern\`; \`/search\` and \`/servers\` gone),
2.75 (\`servers: []\`) and 2.88 (no usage fields, \`uptime\` in the detail; \`/statistics\` and
\`/uptime\` gone); for limits 2.36, 2.39, 2.57 (keys removed) and 2.75 (unknown query parameters
refused); for quota sets 2.36 and 2.57 and for quota classes 2.50 and 2.57 (keys removed and
added); for usage 2.40 (paging) and 2.75. Bad values for keys vpmu knows (\`hw:pmu=maybe\`) are refused at every microversion,
unlike Nova (see DESIGN §2.4).

**vpmu's own additions** stay out of Nova's bodies: a server's vPMU decision is
\`GET /compute/v2.1/servers/{id}/os-vpmu\` (and \`openstack server vpmu show\` with the plugin in
\`clients/osc-vpmu\`), and joins the server view only when a client sends
\`X-Vpmu-Include: pmu\` (see the samples below); the hosts' inventories and traits
(\`CUSTOM_HW_VPMU\`) are Placement's; the notifier's counters are \`GET /compute/v2.1/vpmu/notifier\`.

**Placement.** The compute hosts as Placement resource providers, for operators and tools that
look there (\`openstack resource provider …\` from python3-osc-placement). Read-only and
admin-only, as Placement's default policy (\`rule:admin_api\`; others get 403). One provider per
compute host, named after it, with a UUIDv5 of the host name; its VCPU, MEMORY_MB and DISK_GB
inventory, its usages, its traits (\`CUSTOM_HW_VPMU\` when the host can give a working vPMU) and
the servers' claims as allocations all come from the rows the scheduler claims against, and
allocation candidates are chosen by the claim's own capacity rule, so Placement and the scheduler
cannot disagree. Served: \`GET /placement/\` (version document, no token),
\`/resource_providers\` and \`/resource_providers/{uuid}\` with \`…/inventories\`,
\`…/inventories/{rc}\`, \`…/usages\`, \`…/traits\`, \`…/aggregates\` (always empty) and
\`…/allocations\`; \`/allocations/{consumer}\`; \`/usages?project_id=\`; \`/allocation_candidates\`;
\`/traits\`, \`/traits/{name}\`; \`/resource_classes\`, \`/resource_classes/{name}\`. Microversions
1.0 to 1.39 from \`OpenStack-API-Version: placement X.Y\`; routes newer than the requested version
answer 404, filters newer than it 400, as in Placement. The stock client negotiates 1.29 by itself,
so no \`--os-placement-api-version\` is needed for \`openstack resource provider list\`,
\`… trait list UUID\`, \`… inventory list UUID\`, \`… usage show UUID\` or \`openstack allocation
candidate list --resource VCPU=1 --required CUSTOM_HW_VPMU\`; \`--required in:A,B\` needs
\`--os-placement-api-version 1.39\`. Errors use Placement's body, \`{"errors": [{"status", "title",
"detail", "code": "placement.undefined_code", "request_id"}]}\`. Writes (creating providers,
setting inventory or traits, writing allocations) are refused with 405 \`Allow: GET\`: hosts report
their own inventory and traits, and claims are made by booting servers. See
[compatibility.md](compatibility.md) for the differences from Placement.

**Not (yet) served, and known differences.** Servers have no networks (their addresses are
empty), volumes, console proxies or live migration (snapshots, backups and shelve images are Glance
images; soft delete is off unless \`reclaimInstanceInterval\` is set): create
and rebuild refuse the fields that need them with a 400 naming the field (see Create a server).
Key pairs (\`os-keypairs\`), \`user_data\` and the server's vPMU reach the guest on a config drive
(\`config_drive: true\`); \`os-getConsoleOutput\` reads the guest's serial log. Quotas are Nova's (\`os-quota-sets\`,
\`os-quota-class-sets\`, enforced as Nova enforces them), usage is counted from the live servers
(\`os-simple-tenant-usage\` does not count deleted ones; a shelved-offloaded server holds no
cores or ram, and unshelve counts them again), availability zones are made with host
aggregates (\`os-aggregates\`; a host in none is in \`nova\`); actions finish before their 202. Identity is a Keystone v3 subset kept in the store:
password, token and application credential authentication (project-scoped or unscoped), token
validation and revocation, and the administration of projects, users, roles, grants and
application credentials in the one domain \`Default\` (see docs/operations.md, Identity
administration); it has no groups, trusts, federation or OAuth. Flavor, server and image lists filter, sort and page as Nova and
Glance do (each list below says how). Images have members, tags, deactivation, \`/v2/schemas\`
and metadata definitions, but no locations, no import API and no tasks. Image faults use
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
    placement: 'Placement',
    glance: 'Image: sharing, tags, actions, schemas and metadata definitions',
  } as const;
  // Each sample is one golden file: a slug used twice would overwrite the first one's.
  const slugs = SAMPLES.map((s) => `${s.group}/${s.slug}`);
  assert.deepEqual(
    slugs.filter((slug, i) => slugs.indexOf(slug) !== i),
    [],
    'sample slugs are unique',
  );
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
