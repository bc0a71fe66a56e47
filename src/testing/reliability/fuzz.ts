/**
 * Seeded fuzzing of every endpoint in docs/api.md: valid and mutated requests as every role and
 * as another project's member. No 5xx, OpenStack-shaped error bodies without host paths or stack
 * traces, and no half-made state: after each refused write the listings, usage and files are as
 * before.
 */
import { craftBytes, craftQcow2 } from '../crafted-images.js';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { passwordAuth } from '../api.js';
import {
  type Cloud,
  COMPUTE_MV,
  FLAVOR_LARGE,
  FLAVOR_SMALL,
  listDir,
  scenarioCloud,
  type Role,
} from './cloud.js';
import type { Rng } from './harness.js';
import { field, type Reply } from './harness.js';
import type { ScenarioContext } from './scenario.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
type Family = 'identity' | 'compute' | 'image';

/** Ids the paths refer to; victims are made on demand and used up by a successful request. */
type Slot =
  | 'server'
  | 'image'
  | 'flavor'
  | 'privateFlavor'
  | 'hypervisor'
  | 'victimServer'
  | 'victimImage'
  | 'queuedImage'
  | 'victimFlavor';

/** Slots holding project demo's own resources: project other must never reach them. */
const OWNED_BY_DEMO = new Set<Slot>([
  'server',
  'image',
  'victimServer',
  'victimImage',
  'queuedImage',
]);

interface Endpoint {
  readonly name: string;
  readonly method: Method;
  /** With `{slot}` placeholders. */
  readonly path: string;
  readonly family: Family;
  /** Who may do it when the request is valid. */
  readonly role: Role | 'anyone';
  readonly body?: (f: Fixtures) => unknown;
  readonly raw?: (f: Fixtures) => Buffer;
  readonly contentType?: string;
  readonly subjectToken?: 'member' | 'fresh';
}

const JSON_PATCH = 'application/openstack-images-v2.1-json-patch';
let serial = 0;
const unique = (prefix: string): string => `${prefix}-${(serial++).toString(36)}`;

const ENDPOINTS: readonly Endpoint[] = [
  {
    name: 'identity versions',
    method: 'GET',
    path: '/identity',
    family: 'identity',
    role: 'anyone',
  },
  { name: 'identity v3', method: 'GET', path: '/identity/v3', family: 'identity', role: 'anyone' },
  {
    name: 'issue token',
    method: 'POST',
    path: '/identity/v3/auth/tokens',
    family: 'identity',
    role: 'anyone',
    body: () => passwordAuth('member', 'member-secret', 'demo'),
  },
  {
    name: 'validate token',
    method: 'GET',
    path: '/identity/v3/auth/tokens',
    family: 'identity',
    role: 'member',
    subjectToken: 'member',
  },
  {
    name: 'revoke token',
    method: 'DELETE',
    path: '/identity/v3/auth/tokens',
    family: 'identity',
    role: 'member',
    subjectToken: 'fresh',
  },
  { name: 'compute versions', method: 'GET', path: '/compute/', family: 'compute', role: 'anyone' },
  { name: 'compute v2.1', method: 'GET', path: '/compute/v2.1', family: 'compute', role: 'anyone' },
  {
    name: 'create flavor',
    method: 'POST',
    path: '/compute/v2.1/flavors',
    family: 'compute',
    role: 'admin',
    body: () => {
      const id = unique('fz');
      return {
        flavor: { id, name: id, ram: 64, vcpus: 1, disk: 1, 'os-flavor-access:is_public': true },
      };
    },
  },
  {
    name: 'list flavors',
    method: 'GET',
    path: '/compute/v2.1/flavors',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'list flavors detail',
    method: 'GET',
    path: '/compute/v2.1/flavors/detail?is_public=None',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'show flavor',
    method: 'GET',
    path: '/compute/v2.1/flavors/{flavor}',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'delete flavor',
    method: 'DELETE',
    path: '/compute/v2.1/flavors/{victimFlavor}',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'set extra specs',
    method: 'POST',
    path: '/compute/v2.1/flavors/{flavor}/os-extra_specs',
    family: 'compute',
    role: 'admin',
    body: () => ({ extra_specs: { 'hw:pmu': 'false', 'fuzz:key': 'value' } }),
  },
  {
    name: 'list extra specs',
    method: 'GET',
    path: '/compute/v2.1/flavors/{flavor}/os-extra_specs',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'show extra spec',
    method: 'GET',
    path: '/compute/v2.1/flavors/{flavor}/os-extra_specs/hw:pmu',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'update extra spec',
    method: 'PUT',
    path: '/compute/v2.1/flavors/{flavor}/os-extra_specs/hw:pmu',
    family: 'compute',
    role: 'admin',
    body: () => ({ 'hw:pmu': 'false' }),
  },
  {
    name: 'delete extra spec',
    method: 'DELETE',
    path: '/compute/v2.1/flavors/{victimFlavor}/os-extra_specs/hw:pmu',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'share private flavor',
    method: 'POST',
    path: '/compute/v2.1/flavors/{privateFlavor}/action',
    family: 'compute',
    role: 'admin',
    body: (f) => ({ addTenantAccess: { tenant: f.projectId('other') } }),
  },
  {
    name: 'unshare private flavor',
    method: 'POST',
    path: '/compute/v2.1/flavors/{privateFlavor}/action',
    family: 'compute',
    role: 'admin',
    body: (f) => ({ removeTenantAccess: { tenant: f.projectId('other') } }),
  },
  {
    name: 'list flavor access',
    method: 'GET',
    path: '/compute/v2.1/flavors/{privateFlavor}/os-flavor-access',
    family: 'compute',
    role: 'admin',
  },
  { name: 'image versions', method: 'GET', path: '/image/', family: 'image', role: 'anyone' },
  {
    name: 'image version list',
    method: 'GET',
    path: '/image/versions',
    family: 'image',
    role: 'anyone',
  },
  {
    name: 'create image',
    method: 'POST',
    path: '/image/v2/images',
    family: 'image',
    role: 'member',
    body: () => ({
      name: unique('img'),
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'private',
      os_distro: 'fedora',
    }),
  },
  {
    name: 'patch image',
    method: 'PATCH',
    path: '/image/v2/images/{image}',
    family: 'image',
    role: 'member',
    contentType: JSON_PATCH,
    body: () => [
      { op: 'add', path: '/fuzz_property', value: 'x' },
      { op: 'replace', path: '/name', value: 'fuzz-image' },
    ],
  },
  {
    name: 'upload image',
    method: 'PUT',
    path: '/image/v2/images/{queuedImage}/file',
    family: 'image',
    role: 'member',
    contentType: 'application/octet-stream',
    raw: (f) => f.qcow2,
  },
  {
    name: 'download image',
    method: 'GET',
    path: '/image/v2/images/{image}/file',
    family: 'image',
    role: 'member',
  },
  {
    name: 'show image',
    method: 'GET',
    path: '/image/v2/images/{image}',
    family: 'image',
    role: 'member',
  },
  { name: 'list images', method: 'GET', path: '/image/v2/images', family: 'image', role: 'member' },
  {
    name: 'list namespaces',
    method: 'GET',
    path: '/image/v2/metadefs/namespaces',
    family: 'image',
    role: 'member',
  },
  {
    name: 'show namespace',
    method: 'GET',
    path: '/image/v2/metadefs/namespaces/OS::Compute::LibvirtImage',
    family: 'image',
    role: 'member',
  },
  {
    name: 'delete image',
    method: 'DELETE',
    path: '/image/v2/images/{victimImage}',
    family: 'image',
    role: 'member',
  },
  {
    name: 'create server',
    method: 'POST',
    path: '/compute/v2.1/servers',
    family: 'compute',
    role: 'member',
    body: (f) => ({
      server: {
        name: unique('srv'),
        flavorRef: FLAVOR_SMALL,
        imageRef: f.slots.get('image'),
        networks: 'none',
      },
    }),
  },
  {
    name: 'show server',
    method: 'GET',
    path: '/compute/v2.1/servers/{server}',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'list servers',
    method: 'GET',
    path: '/compute/v2.1/servers',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'list servers detail',
    method: 'GET',
    path: '/compute/v2.1/servers/detail?status=ACTIVE',
    family: 'compute',
    role: 'member',
  },
  ...(
    [
      ['stop server', () => ({ 'os-stop': null })],
      ['start server', () => ({ 'os-start': null })],
      ['reboot server', () => ({ reboot: { type: 'SOFT' } })],
      ['hard reboot server', () => ({ reboot: { type: 'HARD' } })],
      ['rebuild server', (f: Fixtures) => ({ rebuild: { imageRef: f.slots.get('image') } })],
      ['resize server', () => ({ resize: { flavorRef: FLAVOR_LARGE } })],
      ['confirm resize', () => ({ confirmResize: null })],
      ['revert resize', () => ({ revertResize: null })],
    ] as const
  ).map(([name, body]): Endpoint => ({
    name,
    method: 'POST',
    path: '/compute/v2.1/servers/{server}/action',
    family: 'compute',
    role: 'member',
    body,
  })),
  {
    name: 'delete server',
    method: 'DELETE',
    path: '/compute/v2.1/servers/{victimServer}',
    family: 'compute',
    role: 'member',
  },
  {
    name: 'migrate server',
    method: 'POST',
    path: '/compute/v2.1/servers/{server}/action',
    family: 'compute',
    role: 'admin',
    body: () => ({ migrate: null }),
  },
  {
    name: 'list migrations',
    method: 'GET',
    path: '/compute/v2.1/os-migrations',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'list hypervisors',
    method: 'GET',
    path: '/compute/v2.1/os-hypervisors',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'list hypervisors detail',
    method: 'GET',
    path: '/compute/v2.1/os-hypervisors/detail',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'show hypervisor',
    method: 'GET',
    path: '/compute/v2.1/os-hypervisors/{hypervisor}',
    family: 'compute',
    role: 'admin',
  },
  {
    name: 'notifier counters',
    method: 'GET',
    path: '/compute/v2.1/vpmu/notifier',
    family: 'compute',
    role: 'admin',
  },
];

/** Values of the wrong type, size or encoding. */
const BAD_VALUES: readonly unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  2 ** 53 + 1,
  true,
  [],
  {},
  [1, 'two'],
  { nested: { deeper: [null] } },
  '',
  ' ',
  'x'.repeat(70_000),
  'a\uD800b',
  '\uDFFF',
  'café 中文 💥',
  'nul\u0000byte',
  '../../../etc/passwd',
  '<script>alert(1)</script>',
  '1e3',
  'true',
  '00000000-0000-4000-8000-000000000000',
];
const BAD_IDS: readonly string[] = [
  '00000000-0000-4000-8000-000000000000',
  'nonexistent',
  '..%2F..%2Fetc%2Fpasswd',
  'x'.repeat(300),
  '%00',
  '%ED%A0%80',
  '%F0%9F%92%A5',
  '1%20OR%201=1',
  '-1',
  '%',
];
const BAD_MICROVERSIONS: readonly string[] = [
  'compute 2.999',
  'compute 1.0',
  'compute abc',
  'compute 2.1 2.2',
  'compute latest',
  'compute 3.0',
  'compute 2.',
  '',
];
const BAD_JSON: readonly string[] = [
  '{',
  '{"server": ',
  '[]',
  'null',
  '"x"',
  '{"a":1}{',
  '\u0000',
  'x'.repeat(5000),
];

/** The resources the fuzzer aims at, recreated when a valid request uses one up. */
class Fixtures {
  readonly slots = new Map<Slot, string>();
  readonly qcow2: Buffer;
  /** Set when a fixture was made, so the fuzzer retakes its snapshot. */
  changed = false;

  constructor(
    readonly cloud: Cloud,
    workDir: string,
  ) {
    this.qcow2 = craftBytes(workDir, (dir) => craftQcow2(dir, 16 * 1024 * 1024));
  }

  projectId(name: string): string {
    return this.cloud.projectIds.get(name) ?? 'unknown-project';
  }

  async resolve(slot: Slot): Promise<string> {
    const known = this.slots.get(slot);
    if (known !== undefined) return known;
    const made = await this.#make(slot);
    this.changed = true;
    this.slots.set(slot, made);
    return made;
  }

  async #make(slot: Slot): Promise<string> {
    const cloud = this.cloud;
    switch (slot) {
      case 'server':
      case 'victimServer': {
        const image = await this.resolve('image');
        return (await cloud.boot('member', unique('fixture'), image)).id;
      }
      case 'image':
      case 'victimImage':
        return cloud.uploadImage('member', unique('fixture'), this.qcow2);
      case 'queuedImage': {
        const made = await cloud.as('member', 'POST', '/image/v2/images', {
          body: { name: unique('queued'), disk_format: 'qcow2', container_format: 'bare' },
        });
        return String(field(made.json, 'id'));
      }
      case 'flavor':
        return FLAVOR_SMALL;
      case 'privateFlavor':
      case 'victimFlavor': {
        const id = unique(slot === 'privateFlavor' ? 'private' : 'victim');
        await cloud.as('admin', 'POST', '/compute/v2.1/flavors', {
          body: {
            flavor: {
              id,
              name: id,
              ram: 64,
              vcpus: 1,
              disk: 1,
              'os-flavor-access:is_public': slot !== 'privateFlavor',
            },
          },
        });
        await cloud.as('admin', 'POST', `/compute/v2.1/flavors/${id}/os-extra_specs`, {
          body: { extra_specs: { 'hw:pmu': 'true' } },
        });
        return id;
      }
      case 'hypervisor': {
        const listed = await cloud.as('admin', 'GET', '/compute/v2.1/os-hypervisors');
        return String(field(listed.json, 'hypervisors', '0', 'id'));
      }
    }
  }
}

/** What a refused write must leave as it was. */
async function snapshot(cloud: Cloud): Promise<Record<string, string>> {
  const servers = (await cloud.servers()).map((s) =>
    [
      s.id,
      s.name,
      s.status,
      field(s, 'flavor', 'original_name'),
      field(s, 'image', 'id'),
      s.tenant_id,
    ].join('|'),
  );
  const flavors = await cloud.as('admin', 'GET', '/compute/v2.1/flavors/detail?is_public=None', {
    headers: COMPUTE_MV,
  });
  return {
    servers: JSON.stringify(servers.sort()),
    images: JSON.stringify(
      (await cloud.images()).sort((a, b) => String(a.id).localeCompare(String(b.id))),
    ),
    flavors: flavors.text,
    usage: JSON.stringify(await cloud.usage()),
    files: JSON.stringify([
      listDir(path.join(cloud.stateDir, 'images')),
      listDir(path.join(cloud.stateDir, 'instances')),
    ]),
  };
}

/** Puts `value` at a random place of `body` (or drops a key, or adds an unknown one). */
function mutateBody(rng: Rng, body: unknown): { body: unknown; what: string } {
  const holders: {
    holder: Record<string, unknown> | unknown[];
    key: string | number;
    at: string;
  }[] = [];
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        holders.push({ holder: node, key: i, at: `${at}[${i}]` });
        walk(child, `${at}[${i}]`);
      });
    } else if (typeof node === 'object' && node !== null) {
      for (const [key, child] of Object.entries(node)) {
        holders.push({ holder: node as Record<string, unknown>, key, at: `${at}.${key}` });
        walk(child, `${at}.${key}`);
      }
    }
  };
  const copy: unknown = structuredClone(body);
  walk(copy, '');
  const target = holders.length > 0 && rng.chance(0.9) ? rng.pick(holders) : undefined;
  if (target === undefined) {
    const value = rng.pick(BAD_VALUES);
    return { body: value, what: `body replaced by ${short(value)}` };
  }
  const kind = rng.int(3);
  if (kind === 0 && !Array.isArray(target.holder)) {
    const holder = target.holder;
    Reflect.deleteProperty(holder, target.key);
    return { body: copy, what: `${target.at} removed` };
  }
  if (kind === 1 && !Array.isArray(target.holder)) {
    target.holder[`fuzz_unknown_${rng.int(100)}`] = rng.pick(BAD_VALUES);
    return { body: copy, what: `unknown key beside ${target.at}` };
  }
  const value = rng.pick(BAD_VALUES);
  (target.holder as Record<string | number, unknown>)[target.key] = value;
  return { body: copy, what: `${target.at} = ${short(value)}` };
}

function short(value: unknown): string {
  const text = (JSON.stringify(value) as string | undefined) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…(${text.length})` : text;
}

/** An error answer in the API's own shape, with no host path or stack trace in it. */
function checkErrorBody(cloud: Cloud, family: Family, reply: Reply, request: string): void {
  if (reply.status < 400 || reply.status >= 500) return;
  const header = reply.headers['x-compute-error-code'];
  let ok: boolean;
  if (family === 'identity') {
    const error = field(reply.json, 'error');
    ok =
      field(error, 'code') === reply.status &&
      typeof field(error, 'title') === 'string' &&
      typeof field(error, 'message') === 'string';
  } else {
    const keys =
      typeof reply.json === 'object' && reply.json !== null ? Object.keys(reply.json) : [];
    const inner = field(reply.json, keys[0] ?? '');
    ok =
      keys.length === 1 &&
      field(inner, 'code') === reply.status &&
      typeof field(inner, 'message') === 'string';
  }
  cloud.check(
    ok,
    'error body is not OpenStack-shaped',
    `${request} -> ${reply.status} ${reply.text.slice(0, 200)}`,
  );
  cloud.check(
    typeof header === 'string',
    'error without X-Compute-Error-Code',
    `${request} -> ${reply.status}`,
  );
  const leaky =
    reply.text.includes(cloud.stateDir) || /\n\s+at \S|\/(tmp|work|home|var)\//u.test(reply.text);
  cloud.check(
    !leaky,
    'error shows a host path or stack trace',
    `${request} -> ${reply.text.slice(0, 300)}`,
  );
}

/** The fuzz scenario. */
export async function fuzz(ctx: ScenarioContext): Promise<void> {
  const cloud = scenarioCloud(ctx, 'fuzz', 'fuzz');
  const { service, stateDir } = cloud;
  try {
    await service.start();
    await cloud.loginAll();
    await cloud.ensureFlavors();
    const fixtures = new Fixtures(cloud, ctx.workDir);
    await targetedChecks(cloud, fixtures);
    await fuzzLoop(ctx, cloud, fixtures);
    await cloud.waitStable();
    await cloud.checkLeaks('after fuzzing');
    await cloud.deleteAllServers();
    await cloud.checkEmpty('after fuzzing and deleting every server');
    await service.stop();
    cloud.checkErrorLog('after fuzzing');
  } finally {
    await service.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function fuzzLoop(ctx: ScenarioContext, cloud: Cloud, fixtures: Fixtures): Promise<void> {
  const { rng } = ctx;
  const total = 2000 * ctx.size;
  let before: Record<string, string> | undefined;
  let sent = 0;
  while (sent < total && Date.now() < ctx.deadline && cloud.service.alive) {
    sent++;
    if (sent === Math.floor(total / 2)) {
      // Half-way, a restart: on test:///default the domains are gone, so the fixture servers are
      // ERROR from here on, the state a crashed host leaves behind.
      await cloud.service.stop();
      await cloud.service.start();
      await cloud.loginAll();
      before = undefined;
    }
    const endpoint = rng.pick(ENDPOINTS);
    const role: Role | 'none' | 'garbage' = rng.chance(0.05)
      ? rng.pick(['none', 'garbage'] as const)
      : rng.chance(0.5) && endpoint.role !== 'anyone'
        ? endpoint.role
        : rng.pick(['admin', 'member', 'reader', 'other'] as const);
    const mutation = rng.int(10); // 0–3: valid, 4–6: body, 7: bad JSON / type, 8: ids, 9: headers
    const used: Slot[] = [];
    let target = endpoint.path;
    for (const [, slot] of endpoint.path.matchAll(/\{(\w+)\}/gu)) {
      const id =
        mutation === 8 && rng.chance(0.7)
          ? rng.pick(BAD_IDS)
          : await fixtures.resolve(slot as Slot);
      used.push(slot as Slot);
      target = target.replace(`{${slot}}`, id);
    }
    if (mutation === 8 && endpoint.method === 'GET' && rng.chance(0.5)) {
      target += `${target.includes('?') ? '&' : '?'}${rng.pick(['limit=-1', 'marker=x', 'status=BOGUS', 'all_tenants=1', 'name=%28', 'is_public=maybe', 'changes-since=never'])}`;
    }
    const headers: Record<string, string> = { ...COMPUTE_MV };
    if (mutation === 9) headers['openstack-api-version'] = rng.pick(BAD_MICROVERSIONS);
    if (endpoint.subjectToken === 'member') headers['x-subject-token'] = cloud.token('member');
    if (endpoint.subjectToken === 'fresh') {
      headers['x-subject-token'] = String((await cloud.login('member')).headers['x-subject-token']);
    }
    let body = endpoint.body?.(fixtures);
    let raw = endpoint.raw?.(fixtures) as string | Buffer | undefined;
    let contentType = endpoint.contentType;
    let what = 'valid';
    if (mutation >= 4 && mutation <= 6 && body !== undefined)
      ({ body, what } = mutateBody(rng, body));
    if (mutation === 7) {
      raw = rng.pick(BAD_JSON);
      what = `raw body ${short(raw)}`;
      if (rng.chance(0.3))
        contentType = rng.pick([
          'text/plain',
          'application/xml',
          'application/json; charset=latin1',
        ]);
    }
    if (mutation === 9) what = `microversion ${headers['openstack-api-version']}`;
    const token =
      role === 'none' ? undefined : role === 'garbage' ? 'gAAAA-not-a-token' : cloud.token(role);
    const write = endpoint.method !== 'GET';
    if (fixtures.changed) before = undefined;
    fixtures.changed = false;
    if (write) before ??= await snapshot(cloud);
    const reply = await cloud.client.request(endpoint.method, target, {
      token,
      headers,
      ...(raw !== undefined ? { raw } : body !== undefined ? { body } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
    });
    const request = `${endpoint.name} as ${role} (${what}): ${endpoint.method} ${target.slice(0, 120)}`;
    checkErrorBody(cloud, endpoint.family, reply, request);
    const tenantOwned = used.some((slot) => OWNED_BY_DEMO.has(slot));
    cloud.check(
      !(role === 'other' && tenantOwned && reply.status >= 200 && reply.status < 300),
      "another project's member reached a demo resource",
      `${request} -> ${reply.status}`,
    );
    const ownRole = role === 'admin' || role === 'member' || role === 'reader';
    const existing = mutation !== 8 && used.some((slot) => slot === 'server' || slot === 'image');
    cloud.check(
      !(ownRole && existing && reply.status === 404),
      'an existing resource answered 404 to its own project',
      `${request} -> ${reply.text.slice(0, 200)}`,
    );
    if (!write) continue;
    if (reply.status >= 400 || reply.status <= 0) {
      const after = await snapshot(cloud);
      for (const [part, value] of Object.entries(after)) {
        cloud.check(
          value === before?.[part],
          `refused write changed ${part}`,
          `${request} -> ${reply.status}`,
        );
      }
      before = after;
      continue;
    }
    before = undefined;
    if (endpoint.method === 'DELETE') for (const slot of used) fixtures.slots.delete(slot);
    if (endpoint.name === 'upload image') fixtures.slots.delete('queuedImage');
    if (endpoint.name === 'create server') await cloud.waitStable();
    await keepServersFew(cloud, fixtures);
  }
  ctx.log(`fuzz: ${sent} requests generated (${cloud.figures.requests} sent in all so far)`);
}

/** Successful creates pile up: delete all but the fixtures once there are more than six. */
async function keepServersFew(cloud: Cloud, fixtures: Fixtures): Promise<void> {
  const servers = await cloud.servers();
  if (servers.length <= 6) return;
  const keep = new Set([fixtures.slots.get('server'), fixtures.slots.get('victimServer')]);
  for (const s of servers) {
    if (!keep.has(String(s.id)))
      await cloud.as('admin', 'DELETE', `/compute/v2.1/servers/${String(s.id)}`);
  }
  await cloud.waitStable();
}

/** Deterministic probes of the known weak spots: lone surrogates, huge collections, the Host header. */
async function targetedChecks(cloud: Cloud, fixtures: Fixtures): Promise<void> {
  const lone = 'lone\uD800surrogate';
  const image = await cloud.as('member', 'POST', '/image/v2/images', {
    body: { name: lone, disk_format: 'qcow2', container_format: 'bare' },
  });
  if (image.status === 201) {
    const shown = await cloud.as(
      'member',
      'GET',
      `/image/v2/images/${String(field(image.json, 'id'))}`,
    );
    cloud.check(
      field(shown.json, 'name') === lone,
      'a name with a lone surrogate came back changed',
      shown.text.slice(0, 200),
    );
  } else
    cloud.check(
      image.status === 400,
      'a name with a lone surrogate: neither kept nor refused',
      String(image.status),
    );

  const properties: Record<string, string> = {
    name: 'many',
    disk_format: 'qcow2',
    container_format: 'bare',
  };
  for (let i = 0; i < 11_000; i++) properties[`p${i}`] = 'v';
  const many = await cloud.as('member', 'POST', '/image/v2/images', { body: properties });
  cloud.check(
    [400, 413].includes(many.status),
    '11,000 image properties not refused with 400/413',
    `${many.status}`,
  );

  const ops = Array.from({ length: 12_000 }, (_, i) => ({ op: 'add', path: `/q${i}`, value: 'v' }));
  const imageId = await fixtures.resolve('image');
  const patched = await cloud.as('member', 'PATCH', `/image/v2/images/${imageId}`, {
    raw: JSON.stringify(ops),
    contentType: JSON_PATCH,
  });
  cloud.check(
    [400, 413].includes(patched.status),
    '12,000 JSON-patch operations not refused with 400/413',
    `${patched.status}`,
  );

  const specs: Record<string, string> = {};
  for (let i = 0; i < 12_000; i++) specs[`fuzz:k${i}`] = 'v';
  const flavor = await fixtures.resolve('victimFlavor');
  const set = await cloud.as('admin', 'POST', `/compute/v2.1/flavors/${flavor}/os-extra_specs`, {
    body: { extra_specs: specs },
  });
  cloud.check(
    [400, 413].includes(set.status),
    '12,000 extra specs not refused with 400/413',
    `${set.status}`,
  );

  const spoofed = await cloud.login('member', { headers: { host: 'attacker.example:80' } });
  cloud.check(
    !spoofed.text.includes('attacker.example'),
    "the catalog is built from the client's Host header",
  );

  // A data file gone from under an active image must not be served as an empty 200.
  const victim = await fixtures.resolve('victimImage');
  rmSync(path.join(cloud.stateDir, 'images', victim), { force: true });
  const download = await cloud.client.request('GET', `/image/v2/images/${victim}/file`, {
    token: cloud.token('member'),
    mayDie: true, // an answer cut short is what this probes: judged below, not as a hang
    allow503: true,
  });
  cloud.check(
    download.status > 0 && !(download.status === 200 && download.text.length === 0),
    'a missing image data file is served as 200 with no body',
    `status ${download.status}`,
  );
  await cloud.as('member', 'DELETE', `/image/v2/images/${victim}`);
  fixtures.slots.delete('victimImage');

  // A client that gives up half-way through an upload: the image stays queued, with no file.
  const queued = await fixtures.resolve('queuedImage');
  await abandonUpload(cloud, queued);
  const after = await cloud.as('member', 'GET', `/image/v2/images/${queued}`);
  cloud.check(
    field(after.json, 'status') === 'queued',
    'an abandoned upload left the image in another state than queued',
    String(field(after.json, 'status')),
  );
}

/** Sends the headers and 64 KiB of a 1 MiB upload, then closes the connection (bounded). */
async function abandonUpload(cloud: Cloud, imageId: string): Promise<void> {
  const head = [
    `PUT /image/v2/images/${imageId}/file HTTP/1.1`,
    'Host: 127.0.0.1',
    `X-Auth-Token: ${cloud.token('member')}`,
    'Content-Type: application/octet-stream',
    'Content-Length: 1048576',
    '',
    '',
  ].join('\r\n');
  cloud.figures.requests++;
  await new Promise<void>((resolve) => {
    const socket = connect(cloud.service.port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.write(head);
    socket.write(Buffer.alloc(64 * 1024, 1), () => socket.destroy());
  });
}
