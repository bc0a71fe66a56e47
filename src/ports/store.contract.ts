/** Behaviour every Store adapter shares; each adapter's test file calls storeContract(). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComputeError } from '../errors/index.js';
import {
  MARKER_NOT_FOUND,
  type ComputeHostRecord,
  type FlavorQuery,
  type FlavorRecord,
  type HostChanges,
  type HostUsage,
  type ImageRecord,
  type InstanceActionRecord,
  type ServerGroupRecord,
  type ServerRecord,
  type Store,
} from './store.js';

/** A valid flavor record; tests override what matters. */
export function aFlavorRecord(overrides: Partial<FlavorRecord> = {}): FlavorRecord {
  return {
    id: 'f1',
    name: 'm1.small',
    vcpus: 2,
    memoryMiB: 2048,
    diskGiB: 10,
    swapMiB: 0,
    ephemeralGiB: 0,
    rxtxFactor: 1,
    isPublic: true,
    description: null,
    extraSpecs: {},
    createdAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/** A valid queued image record; tests override what matters. */
export function anImageRecord(overrides: Partial<ImageRecord> = {}): ImageRecord {
  return {
    id: '11111111-2222-4333-8444-555555555555',
    name: 'cirros',
    owner: 'p1',
    visibility: 'private',
    status: 'queued',
    protected: false,
    osHidden: false,
    diskFormat: 'qcow2',
    containerFormat: 'bare',
    minDiskGiB: 0,
    minRamMiB: 0,
    tags: [],
    properties: {},
    size: null,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    dataLocation: null,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/** A valid server record in BUILD; tests override what matters. */
export function aServerRecord(overrides: Partial<ServerRecord> = {}): ServerRecord {
  const id = overrides.id ?? 'a0000000-0000-4000-8000-000000000001';
  return {
    id,
    name: 'vm1',
    projectId: 'p1',
    userId: 'u1',
    flavor: aFlavorRecord({ extraSpecs: { 'hw:pmu': 'false' } }),
    image: { id: 'img', name: 'cirros', owner: 'p1', properties: {}, dataLocation: null },
    host: null,
    domainName: `instance-${id}`,
    status: 'BUILD',
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    fault: null,
    pmu: null,
    claimId: null,
    resize: null,
    domainXml: null,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    launchedAt: null,
    lock: null,
    tags: [],
    ...overrides,
  };
}

/** A compute host with room for `vcpus` one-vCPU guests (ratio 1), 64 GiB and 1 TB. */
export function aComputeHost(
  overrides: Partial<ComputeHostRecord> = {},
  vcpus = 4,
): ComputeHostRecord {
  return {
    name: 'host1',
    hypervisorUri: 'test:///default',
    hypervisorType: 'QEMU',
    hypervisorVersion: 7_002_000,
    hostIp: '192.0.2.10',
    cpuInfo:
      '{"arch":"x86_64","model":"EPYC","vendor":"AMD","topology":{"cells":1,"sockets":1,"cores":2,"threads":1}}',
    enabled: true,
    inventory: {
      VCPU: { total: vcpus, reserved: 0, allocationRatio: 1 },
      MEMORY_MB: { total: 65536, reserved: 0, allocationRatio: 1 },
      DISK_GB: { total: 1000, reserved: 0, allocationRatio: 1 },
    },
    traits: ['CUSTOM_HW_VPMU'],
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const ONE_VCPU = { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } as const;
const NOTHING_USED: HostUsage = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };

/**
 * What a scheduler following the host change sequence believes each host's usage is: it starts
 * from the store's usage at the sequence's current point and applies each answer.
 */
export class UsageFollower {
  readonly usage = new Map<string, HostUsage>();
  seq = 0;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async start(): Promise<void> {
    this.seq = await this.#store.hostChangeSeq();
    for (const [host, used] of await this.#store.usageByHost()) this.usage.set(host, used);
  }

  /** Reads and applies what changed; fails when the sequence goes back. */
  async follow(): Promise<HostChanges> {
    const changes = await this.#store.hostChangesSince(this.seq);
    assert.ok(changes.seq >= this.seq, `the sequence went back: ${changes.seq} < ${this.seq}`);
    for (const host of changes.hosts) {
      this.usage.set(host.name, changes.usage.get(host.name) ?? NOTHING_USED);
    }
    for (const name of changes.removed) this.usage.delete(name);
    this.seq = changes.seq;
    return changes;
  }

  /** Asserts it believes what the store holds, host by host. */
  async assertCurrent(hosts: readonly string[]): Promise<void> {
    const truth = await this.#store.usageByHost();
    for (const host of hosts) {
      assert.deepEqual(
        this.usage.get(host) ?? NOTHING_USED,
        truth.get(host) ?? NOTHING_USED,
        `the usage of ${host} as followed by the change sequence`,
      );
    }
  }
}

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof ComputeError && err.code === code;
}

/**
 * Runs the contract against stores made by `make`. `reopen`, when given, closes a store and opens
 * the same persistent state again (for adapters that keep state across restarts).
 */
export function storeContract(
  name: string,
  make: () => Promise<Store>,
  reopen?: (store: Store) => Promise<Store>,
): void {
  describe(`Store contract: ${name}`, () => {
    describe('withLock()', () => {
      it('runs holders of one name one after another, and gives the value back', async () => {
        const store = await make();
        const steps: string[] = [];
        let release = (): void => undefined;
        const first = store.withLock('sweep', async () => {
          steps.push('first in');
          await new Promise<void>((resolve) => (release = resolve));
          steps.push('first out');
          return 1;
        });
        while (steps.length === 0) await new Promise((resolve) => setImmediate(resolve));
        const second = store.withLock('sweep', async () => {
          steps.push('second');
          return 2;
        });
        assert.deepEqual(await store.withLock('sweep', async () => 3, 'skip'), { ran: false });
        // Another name is not held.
        assert.deepEqual(await store.withLock('other', async () => 4, 'skip'), {
          ran: true,
          value: 4,
        });
        release();
        assert.deepEqual(await first, { ran: true, value: 1 });
        assert.deepEqual(await second, { ran: true, value: 2 });
        assert.deepEqual(steps, ['first in', 'first out', 'second']);
        await store.close();
      });

      it('releases the lock when the work fails', async () => {
        const store = await make();
        await assert.rejects(
          store.withLock('sweep', async () => {
            throw new Error('boom');
          }),
          /boom/u,
        );
        assert.deepEqual(await store.withLock('sweep', async () => 'again', 'skip'), {
          ran: true,
          value: 'again',
        });
        await store.close();
      });
    });

    describe('instance actions', () => {
      const action = (requestId: string, startTime: string): InstanceActionRecord => ({
        serverId: 's1',
        requestId,
        action: 'create',
        projectId: 'p1',
        userId: 'u1',
        startTime,
        updatedAt: startTime,
        message: null,
        events: [],
      });
      it('keeps actions by server, sorted by start time, replacing one by request id', async () => {
        const store = await make();
        await store.putInstanceAction(action('req-b', '2026-01-01T00:00:02.000Z'));
        await store.putInstanceAction(action('req-a', '2026-01-01T00:00:01.000Z'));
        await store.putInstanceAction({
          ...action('req-x', '2026-01-01T00:00:00.000Z'),
          serverId: 's2',
        });
        const finished: InstanceActionRecord = {
          ...action('req-b', '2026-01-01T00:00:02.000Z'),
          message: 'Error',
          events: [
            {
              event: 'compute_stop_instance',
              startTime: '2026-01-01T00:00:02.000Z',
              finishTime: '2026-01-01T00:00:03.000Z',
              result: 'Error',
              traceback: 'boom',
              details: 'failed',
              host: 'host1',
            },
          ],
        };
        await store.putInstanceAction(finished);
        const listed = await store.listInstanceActions('s1');
        assert.deepEqual(listed, [action('req-a', '2026-01-01T00:00:01.000Z'), finished]);
        assert.deepEqual(await store.listInstanceActions('none'), []);
        // Records are copies: editing one changes nothing stored.
        (listed[0] as { action: string }).action = 'changed';
        assert.equal((await store.listInstanceActions('s1'))[0]?.action, 'create');
        await store.close();
      });

      it('records a server with its create action in one write, or neither', async () => {
        const store = await make();
        const server = aServerRecord();
        const created = { ...action('req-c', '2026-01-01T00:00:05.000Z'), serverId: server.id };
        await store.createServer(server, created);
        assert.equal((await store.getServer(server.id))?.id, server.id);
        assert.deepEqual(await store.listInstanceActions(server.id), [created]);
        await assert.rejects(
          store.createServer(server, { ...created, requestId: 'req-d' }),
          hasCode('server.exists'),
        );
        assert.deepEqual(await store.listInstanceActions(server.id), [created]);
        await store.close();
      });
    });

    describe('migrations', () => {
      it('numbers new migrations from 1, replaces them by id and lists them by id', async () => {
        const store = await make();
        const fields = {
          uuid: '6a2f0d0e-0b7c-4c55-9a61-2e0c6f1d8b01',
          serverId: 's1',
          projectId: 'p1',
          userId: 'u1',
          migrationType: 'migration' as const,
          status: 'migrating',
          sourceCompute: 'host1',
          destCompute: null,
          oldFlavorId: 'f1',
          newFlavorId: 'f1',
          sourceClaimId: null,
          createdAt: '2026-01-01T00:00:00.000Z',
          updatedAt: null,
        };
        const first = await store.createMigration(fields);
        const second = await store.createMigration({
          ...fields,
          serverId: 's2',
          migrationType: 'evacuation',
        });
        assert.deepEqual([first.id, second.id], [1, 2]);
        const finished = { ...first, status: 'finished', destCompute: 'host2' };
        await store.saveMigration(finished);
        assert.deepEqual(await store.listMigrations(), [finished, second]);
        await store.close();
      });
    });

    describe('queryFlavors()', () => {
      // Five flavors: ids sort a..e, memory sorts the other way, two are private, c is shared with p1.
      const seed = async (): Promise<Store> => {
        const store = await make();
        const rows: [string, number, number, boolean, string | null, string][] = [
          ['a', 5000, 50, true, 'zz', '2026-01-01T00:00:05Z'],
          ['b', 4000, 40, false, null, '2026-01-01T00:00:04Z'],
          ['c', 3000, 30, false, 'mm', '2026-01-01T00:00:03Z'],
          ['d', 2000, 20, true, 'aa', '2026-01-01T00:00:02Z'],
          ['e', 2000, 10, true, null, '2026-01-01T00:00:01Z'],
        ];
        for (const [id, memoryMiB, diskGiB, isPublic, description, createdAt] of rows) {
          await store.createFlavor(
            aFlavorRecord({
              id,
              name: `n-${id}`,
              memoryMiB,
              diskGiB,
              isPublic,
              description,
              createdAt,
            }),
            id === 'c' ? ['p1'] : [],
          );
        }
        return store;
      };
      const ids = (result: FlavorRecord[] | typeof MARKER_NOT_FOUND): string[] | string =>
        result === MARKER_NOT_FOUND ? result : result.map((f) => f.id);
      const cases: [string, FlavorQuery, string[] | string][] = [
        ['everything, by id', {}, ['a', 'b', 'c', 'd', 'e']],
        ['minMemoryMiB', { minMemoryMiB: 3000 }, ['a', 'b', 'c']],
        ['minDiskGiB', { minDiskGiB: 21 }, ['a', 'b', 'c']],
        ['both minimums', { minMemoryMiB: 2000, minDiskGiB: 20 }, ['a', 'b', 'c', 'd']],
        ['public only', { isPublic: true }, ['a', 'd', 'e']],
        ['public plus shared', { isPublic: true, accessProjectId: 'p1' }, ['a', 'c', 'd', 'e']],
        ['private only', { isPublic: false }, ['b', 'c']],
        [
          'by memory, ties by creation',
          { sort: [{ key: 'memoryMiB', dir: 'asc' }] },
          ['e', 'd', 'c', 'b', 'a'],
        ],
        [
          'by memory desc',
          { sort: [{ key: 'memoryMiB', dir: 'desc' }] },
          ['a', 'b', 'c', 'd', 'e'],
        ],
        [
          'nulls first ascending',
          { sort: [{ key: 'description', dir: 'asc' }] },
          ['e', 'b', 'd', 'c', 'a'],
        ],
        [
          'nulls last descending',
          { sort: [{ key: 'description', dir: 'desc' }] },
          ['a', 'c', 'd', 'b', 'e'],
        ],
        ['by publicity', { sort: [{ key: 'isPublic', dir: 'asc' }] }, ['c', 'b', 'e', 'd', 'a']],
        [
          'two keys',
          {
            sort: [
              { key: 'memoryMiB', dir: 'asc' },
              { key: 'id', dir: 'asc' },
            ],
          },
          ['d', 'e', 'c', 'b', 'a'],
        ],
        ['limit', { limit: 2 }, ['a', 'b']],
        ['limit 0', { limit: 0 }, []],
        ['marker', { marker: 'b', limit: 2 }, ['c', 'd']],
        ['marker last', { marker: 'e' }, []],
        ['marker outside the filter', { marker: 'b', isPublic: true }, ['d', 'e']],
        [
          'marker in a sorted order',
          { marker: 'c', sort: [{ key: 'memoryMiB', dir: 'asc' }] },
          ['b', 'a'],
        ],
        ['unknown marker', { marker: 'zzz' }, MARKER_NOT_FOUND],
      ];
      for (const [what, query, want] of cases) {
        it(what, async () => {
          const store = await seed();
          assert.deepEqual(ids(await store.queryFlavors(query)), want);
          await store.close();
        });
      }

      it('returns whole records with their extra specs, pages after pages', async () => {
        const store = await seed();
        await store.setExtraSpecs('d', { 'hw:cpu_policy': 'dedicated' });
        const seen: string[] = [];
        let marker: string | undefined;
        for (;;) {
          const page = await store.queryFlavors({
            limit: 2,
            ...(marker === undefined ? {} : { marker }),
          });
          assert.notEqual(page, MARKER_NOT_FOUND);
          if (page === MARKER_NOT_FOUND || page.length === 0) break;
          seen.push(...page.map((f) => f.id));
          const d = page.find((f) => f.id === 'd');
          if (d !== undefined) assert.deepEqual(d.extraSpecs, { 'hw:cpu_policy': 'dedicated' });
          marker = page.at(-1)?.id;
        }
        assert.deepEqual(seen, ['a', 'b', 'c', 'd', 'e']);
        await store.close();
      });
    });

    it('creates and finds projects and users, and lists projects by name', async () => {
      const store = await make();
      await store.createProject({
        id: 'p2',
        name: 'zeta',
        domainId: 'default',
        description: '',
        enabled: true,
      });
      await store.createProject({
        id: 'p1',
        name: 'alpha',
        domainId: 'default',
        description: 'd',
        enabled: true,
      });
      assert.equal((await store.findProject('alpha', 'default'))?.id, 'p1');
      assert.equal(await store.findProject('alpha', 'other'), undefined);
      assert.deepEqual(
        (await store.listProjects()).map((p) => p.name),
        ['alpha', 'zeta'],
      );
      await store.createUser({
        id: 'u1',
        name: 'ann',
        domainId: 'default',
        passwordHash: 'h1',
        enabled: true,
      });
      await store.setPassword('u1', 'h2');
      assert.equal((await store.findUser('ann', 'default'))?.passwordHash, 'h2');
      assert.equal(await store.getUser('nope'), undefined);
      await assert.rejects(
        store.createProject({
          id: 'p3',
          name: 'alpha',
          domainId: 'default',
          description: '',
          enabled: true,
        }),
      );
      await store.close();
    });

    it('assigns roles idempotently and lists them in ROLES order', async () => {
      const store = await make();
      await store.createProject({
        id: 'p1',
        name: 'a',
        domainId: 'default',
        description: '',
        enabled: true,
      });
      await store.createUser({
        id: 'u1',
        name: 'ann',
        domainId: 'default',
        passwordHash: 'h',
        enabled: true,
      });
      await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'reader' });
      await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'admin' });
      await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'admin' });
      assert.deepEqual(await store.listRoles('u1', 'p1'), ['admin', 'reader']);
      assert.deepEqual(await store.listRoles('u1', 'p2'), []);
      await store.close();
    });

    it('administers identity: roles, grants, cascading deletes and application credentials', async () => {
      const store = await make();
      const project = { id: 'p1', name: 'a', domainId: 'default', description: '', enabled: true };
      await store.createProject({ ...project, extra: { owner: 'ops' } });
      await store.createProject({ ...project, id: 'p2', name: 'b' });
      const user = { id: 'u1', name: 'ann', domainId: 'default', passwordHash: 'h', enabled: true };
      await store.createUser({ ...user, defaultProjectId: 'p1', extra: { email: 'a@x' } });
      await assert.rejects(store.createUser({ ...user, id: 'u2' }), /identity|Duplicate/u);
      await assert.rejects(store.updateProject({ ...project, id: 'p2' }), /Duplicate entry/u);
      await store.updateProject({
        ...project,
        description: 'd',
        enabled: false,
        extra: { owner: 'dev' },
      });
      assert.deepEqual(await store.getProject('p1'), {
        ...project,
        description: 'd',
        enabled: false,
        extra: { owner: 'dev' },
      });
      assert.deepEqual((await store.getUser('u1'))?.extra, { email: 'a@x' });
      assert.equal((await store.getUser('u1'))?.defaultProjectId, 'p1');
      await store.createRole({ id: 'r1', name: 'auditor', description: '' });
      await assert.rejects(store.createRole({ id: 'r2', name: 'auditor', description: '' }));
      assert.deepEqual(
        (await store.listRoleRecords()).map((r) => r.name),
        ['admin', 'auditor', 'member', 'reader'],
      );
      await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'r1' });
      await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'member' });
      await store.assignRole({ userId: 'u1', projectId: 'p2', role: 'member' });
      assert.deepEqual(await store.listRoles('u1', 'p1'), ['member', 'auditor']);
      assert.deepEqual(
        (await store.listAssignments({ roleId: 'member' })).map((a) => a.projectId),
        ['p1', 'p2'],
      );
      assert.equal(
        await store.unassignRole({ userId: 'u1', projectId: 'p2', role: 'member' }),
        true,
      );
      assert.equal(
        await store.unassignRole({ userId: 'u1', projectId: 'p2', role: 'member' }),
        false,
      );
      const token = {
        userId: 'u1',
        roles: ['member'],
        issuedAt: 'i',
        expiresAt: 'e',
        auditId: 'a',
      };
      await store.putToken({ ...token, id: 't1', projectId: 'p1' });
      await store.putToken({ ...token, id: 't2', projectId: 'p2', methods: ['token'] });
      assert.deepEqual((await store.getToken('t2'))?.methods, ['token']);
      const credential = {
        id: 'c1',
        name: 'ci',
        userId: 'u1',
        projectId: 'p1',
        description: '',
        secretHash: 's',
        expiresAt: null,
        unrestricted: false,
        roleIds: ['member'],
      };
      await store.createApplicationCredential(credential);
      await assert.rejects(store.createApplicationCredential({ ...credential, id: 'c2' }));
      await store.putToken({ ...token, id: 't3', projectId: 'p1', applicationCredentialId: 'c1' });
      assert.deepEqual(await store.listApplicationCredentials('u1'), [credential]);
      assert.equal(await store.deleteApplicationCredential('c1'), true);
      assert.equal(await store.getToken('t3'), undefined);
      assert.equal(await store.deleteRole('r1'), true);
      assert.deepEqual(await store.listRoles('u1', 'p1'), ['member']);
      assert.equal(await store.deleteProject('p1'), true);
      assert.equal(await store.getToken('t1'), undefined);
      assert.deepEqual(await store.listAssignments({ userId: 'u1' }), []);
      assert.equal(await store.deleteTokensOf({ userId: 'u1' }), 1);
      assert.equal(await store.deleteUser('u1'), true);
      assert.equal(await store.deleteUser('u1'), false);
      assert.deepEqual(await store.listUsers(), []);
      await store.close();
    });

    it('stores tokens and deletes only the expired ones', async () => {
      const store = await make();
      const base = {
        userId: 'u1',
        projectId: 'p1',
        roles: ['member' as const],
        issuedAt: '2026-01-01T00:00:00Z',
        auditId: 'a',
      };
      await store.putToken({ ...base, id: 't-old', expiresAt: '2026-01-01T01:00:00Z' });
      await store.putToken({ ...base, id: 't-new', expiresAt: '2026-01-01T03:00:00Z' });
      assert.deepEqual((await store.getToken('t-old'))?.roles, ['member']);
      assert.equal(await store.deleteExpiredTokens('2026-01-01T02:00:00Z'), 1);
      assert.equal(await store.getToken('t-old'), undefined);
      assert.equal((await store.getToken('t-new'))?.userId, 'u1');
      assert.equal(await store.deleteToken('t-new'), true);
      assert.equal(await store.deleteToken('t-new'), false);
      assert.equal(await store.getToken('t-new'), undefined);
      await store.close();
    });

    it('reads a token with its user, project, held roles and credential at once (getTokenState)', async () => {
      const store = await make();
      const user = { id: 'u1', name: 'ann', domainId: 'default', passwordHash: 'h', enabled: true };
      await store.createUser(user);
      await store.createProject({
        id: 'p1',
        name: 'dev',
        domainId: 'default',
        description: '',
        enabled: false,
      });
      await store.createRole({ id: 'r1', name: 'auditor', description: '' });
      for (const role of ['r1', 'member', 'admin']) {
        await store.assignRole({ userId: 'u1', projectId: 'p1', role });
      }
      await store.createApplicationCredential({
        id: 'c1',
        name: 'ci',
        userId: 'u1',
        projectId: 'p1',
        description: '',
        secretHash: 's',
        expiresAt: null,
        unrestricted: true,
        roleIds: ['member'],
      });
      const token = {
        userId: 'u1',
        roles: ['member' as const],
        issuedAt: 'i',
        expiresAt: 'e',
        auditId: 'a',
      };
      await store.putToken({ ...token, id: 't1', projectId: 'p1', applicationCredentialId: 'c1' });
      await store.putToken({ ...token, id: 't2', projectId: '', methods: ['password', 'token'] });
      await store.putToken({ ...token, id: 't3', userId: 'gone', projectId: 'gone' });
      assert.equal(await store.getTokenState('nope'), undefined);
      assert.deepEqual(await store.getTokenState('t1'), {
        token: await store.getToken('t1'),
        user: { id: 'u1', name: 'ann', enabled: true },
        project: { id: 'p1', name: 'dev', enabled: false },
        heldRoles: ['admin', 'member', 'auditor'],
        applicationCredential: { id: 'c1', name: 'ci', unrestricted: true },
      });
      assert.deepEqual(await store.getTokenState('t2'), {
        token: await store.getToken('t2'),
        user: { id: 'u1', name: 'ann', enabled: true },
        heldRoles: [],
      });
      assert.deepEqual(await store.getTokenState('t3'), {
        token: await store.getToken('t3'),
        heldRoles: [],
      });
      await store.close();
    });

    it('counts failed logins per subject, forgets old ones and clears on request', async () => {
      const store = await make();
      assert.equal(await store.getLoginFailures('u1'), undefined);
      const t = (minute: number) => `2026-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`;
      assert.deepEqual(await store.recordLoginFailure('u1', t(1), t(0)), {
        subject: 'u1',
        count: 1,
        lastFailureAt: t(1),
      });
      await store.recordLoginFailure('name:default/ghost', t(2), t(0));
      assert.deepEqual(await store.recordLoginFailure('u1', t(3), t(0)), {
        subject: 'u1',
        count: 2,
        lastFailureAt: t(3),
      });
      assert.equal((await store.getLoginFailures('name:default/ghost'))?.count, 1);
      // A failure at minute 10 forgets everything last seen at or before minute 2, not u1.
      await store.recordLoginFailure('u2', t(10), t(2));
      assert.equal(await store.getLoginFailures('name:default/ghost'), undefined);
      assert.equal((await store.getLoginFailures('u1'))?.count, 2);
      await store.clearLoginFailures('u1');
      assert.equal(await store.getLoginFailures('u1'), undefined);
      // After a forget, the subject starts again at 1.
      assert.equal((await store.recordLoginFailure('u2', t(30), t(20))).count, 1);
      const counts = await Promise.all(
        Array.from({ length: 20 }, () => store.recordLoginFailure('u3', t(31), t(20))),
      );
      assert.deepEqual(
        counts.map((f) => f.count).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      await store.close();
    });

    it('creates flavors with extra specs and refuses a duplicate id or name', async () => {
      const store = await make();
      await store.createFlavor(aFlavorRecord({ extraSpecs: { 'hw:pmu': 'false' } }));
      assert.deepEqual(
        await store.getFlavor('f1'),
        aFlavorRecord({ extraSpecs: { 'hw:pmu': 'false' } }),
      );
      await assert.rejects(
        store.createFlavor(aFlavorRecord({ name: 'other' })),
        hasCode('flavor.exists'),
      );
      await assert.rejects(
        store.createFlavor(aFlavorRecord({ id: 'f2' })),
        hasCode('flavor.exists'),
      );
      assert.equal((await store.listFlavors()).length, 1);
      await store.close();
    });

    it('merges extra specs, deletes one, and cascades on flavor delete', async () => {
      const store = await make();
      await store.createFlavor(
        aFlavorRecord({ extraSpecs: { 'hw:pmu': 'false', 'trait:X': 'required' } }),
      );
      const updated = await store.setExtraSpecs('f1', { 'hw:pmu': 'true', 'hw:cpu_cores': '2' });
      assert.deepEqual(updated.extraSpecs, {
        'hw:cpu_cores': '2',
        'hw:pmu': 'true',
        'trait:X': 'required',
      });
      assert.equal(await store.deleteExtraSpec('f1', 'trait:X'), true);
      assert.equal(await store.deleteExtraSpec('f1', 'trait:X'), false);
      assert.deepEqual((await store.getFlavor('f1'))?.extraSpecs, {
        'hw:cpu_cores': '2',
        'hw:pmu': 'true',
      });
      await assert.rejects(store.setExtraSpecs('nope', { a: 'b' }), hasCode('flavor.not_found'));
      await store.addFlavorAccess('f1', 'p1');
      assert.equal(await store.deleteFlavor('f1'), true);
      assert.equal(await store.deleteFlavor('f1'), false);
      assert.equal(await store.getFlavor('f1'), undefined);
      // A flavor re-created under the same id starts clean: no stale specs or access.
      await store.createFlavor(aFlavorRecord());
      assert.deepEqual((await store.getFlavor('f1'))?.extraSpecs, {});
      assert.deepEqual(await store.listFlavorAccess('f1'), []);
      await store.close();
    });

    it('lists flavors sorted by id', async () => {
      const store = await make();
      await store.createFlavor(aFlavorRecord({ id: 'b', name: 'b' }));
      await store.createFlavor(
        aFlavorRecord({ id: 'a', name: 'a', isPublic: false, description: 'x' }),
      );
      const flavors = await store.listFlavors();
      assert.deepEqual(
        flavors.map((f) => [f.id, f.isPublic, f.description]),
        [
          ['a', false, 'x'],
          ['b', true, null],
        ],
      );
      await store.close();
    });

    it('creates a flavor and its access list together', async () => {
      const store = await make();
      await store.createFlavor(aFlavorRecord({ isPublic: false }), ['p9', 'p1']);
      assert.deepEqual(await store.listFlavorAccess('f1'), ['p1', 'p9']);
      await store.close();
    });

    it('lets exactly one of many concurrent creates of the same flavor name win', async () => {
      const store = await make();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          store.createFlavor(aFlavorRecord({ id: `f${i}`, extraSpecs: { 'hw:pmu': 'on' } })),
        ),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected')
          assert.ok(hasCode('flavor.exists')(r.reason), String(r.reason));
      }
      assert.equal((await store.listFlavors()).length, 1);
      await store.close();
    });

    it('keeps flavor access per project and refuses a duplicate grant', async () => {
      const store = await make();
      await store.createFlavor(aFlavorRecord({ isPublic: false }));
      await store.addFlavorAccess('f1', 'p2');
      await store.addFlavorAccess('f1', 'p1');
      assert.deepEqual(await store.listFlavorAccess('f1'), ['p1', 'p2']);
      await assert.rejects(store.addFlavorAccess('f1', 'p1'), hasCode('flavor.access_exists'));
      await assert.rejects(store.addFlavorAccess('nope', 'p1'), hasCode('flavor.not_found'));
      await store.close();
    });

    it('creates, filters, saves and deletes images with properties and tags', async () => {
      const store = await make();
      const a = anImageRecord({ properties: { hw_pmu: 'true' }, tags: ['x'] });
      const b = anImageRecord({
        id: 'b',
        name: 'other',
        owner: 'p2',
        visibility: 'public',
        createdAt: '2026-01-02T00:00:00Z',
      });
      await store.createImage(b);
      await store.createImage(a);
      assert.deepEqual(await store.getImage(a.id), a);
      await assert.rejects(store.createImage(a), hasCode('image.exists'));
      assert.deepEqual(
        (await store.listImages()).map((i) => i.id),
        [a.id, 'b'],
      );
      assert.deepEqual(
        (await store.listImages({ name: 'other' })).map((i) => i.id),
        ['b'],
      );
      assert.deepEqual(
        (await store.listImages({ owner: 'p1' })).map((i) => i.id),
        [a.id],
      );
      assert.deepEqual(
        (await store.listImages({ visibility: 'public' })).map((i) => i.id),
        ['b'],
      );
      const saved = {
        ...a,
        properties: { hw_vif_model: 'e1000' },
        status: 'active' as const,
        size: 3,
        dataLocation: 'x',
      };
      await store.saveImage(saved);
      assert.deepEqual(await store.getImage(a.id), saved);
      await assert.rejects(
        store.saveImage(anImageRecord({ id: 'ghost' })),
        hasCode('image.not_found'),
      );
      assert.equal(await store.deleteImage(a.id), true);
      assert.equal(await store.deleteImage(a.id), false);
      assert.equal(await store.getImage(a.id), undefined);
      await store.close();
    });

    it('shares images with members: duplicates, limits, statuses, and gone with the image', async () => {
      const store = await make();
      const image = anImageRecord({ visibility: 'shared' });
      await store.createImage(image);
      const member = (memberId: string, createdAt = '2026-01-01T00:00:00Z') => ({
        imageId: image.id,
        memberId,
        status: 'pending' as const,
        createdAt,
        updatedAt: createdAt,
      });
      await store.addImageMember(member('p2', '2026-01-01T00:00:02Z'), 2);
      await store.addImageMember(member('p3', '2026-01-01T00:00:01Z'), 2);
      await assert.rejects(store.addImageMember(member('p2'), 5), hasCode('image.member_exists'));
      await assert.rejects(store.addImageMember(member('p4'), 2), hasCode('image.over_limit'));
      await assert.rejects(
        store.addImageMember({ ...member('p2'), imageId: 'ghost' }, 5),
        hasCode('image.not_found'),
      );
      assert.deepEqual(
        (await store.listImageMembers(image.id)).map((m) => m.memberId),
        ['p3', 'p2'],
      );
      const accepted = await store.setImageMemberStatus(
        image.id,
        'p2',
        'accepted',
        '2026-01-01T00:00:09Z',
      );
      assert.deepEqual(accepted, {
        ...member('p2', '2026-01-01T00:00:02Z'),
        status: 'accepted',
        updatedAt: '2026-01-01T00:00:09Z',
      });
      assert.deepEqual(await store.getImageMember(image.id, 'p2'), accepted);
      assert.deepEqual(await store.listImageMemberships('p2'), [accepted]);
      assert.equal(await store.setImageMemberStatus(image.id, 'px', 'accepted', 'x'), undefined);
      assert.equal(await store.deleteImageMember(image.id, 'p3'), true);
      assert.equal(await store.deleteImageMember(image.id, 'p3'), false);
      assert.equal(await store.deleteImage(image.id), true);
      assert.deepEqual(await store.listImageMemberships('p2'), []);
      await store.close();
    });

    it('keeps metadef namespaces by name: create, rename, delete', async () => {
      const store = await make();
      const ns = (namespace: string) => ({
        namespace,
        visibility: 'public' as const,
        protected: false,
        owner: 'p1',
        resourceTypes: [
          { name: 'OS::Glance::Image', prefix: 'x_', createdAt: 't', updatedAt: 't' },
        ],
        properties: { p: { title: 'P', type: 'string', enum: ['a'] } },
        objects: [{ name: 'o', properties: {}, createdAt: 't', updatedAt: 't' }],
        tags: [{ name: 't', createdAt: 't', updatedAt: 't' }],
        createdAt: 't',
        updatedAt: 't',
      });
      await store.createMetadefNamespace(ns('b'));
      await store.createMetadefNamespace(ns('a'));
      await assert.rejects(store.createMetadefNamespace(ns('a')), hasCode('metadef.exists'));
      assert.deepEqual(await store.getMetadefNamespace('a'), ns('a'));
      assert.deepEqual(
        (await store.listMetadefNamespaces()).map((n) => n.namespace),
        ['a', 'b'],
      );
      await assert.rejects(store.saveMetadefNamespace('a', ns('b')), hasCode('metadef.exists'));
      await assert.rejects(store.saveMetadefNamespace('z', ns('z')), hasCode('metadef.not_found'));
      await store.saveMetadefNamespace('a', ns('c'));
      assert.equal(await store.getMetadefNamespace('a'), undefined);
      assert.deepEqual(await store.getMetadefNamespace('c'), ns('c'));
      assert.equal(await store.deleteMetadefNamespace('c'), true);
      assert.equal(await store.deleteMetadefNamespace('c'), false);
      await store.close();
    });

    it('returns copies: changing a returned record changes nothing stored', async () => {
      const store = await make();
      await store.createFlavor(aFlavorRecord({ extraSpecs: { 'hw:pmu': 'on' } }));
      const flavor = await store.getFlavor('f1');
      (flavor?.extraSpecs as Record<string, string>)['hw:pmu'] = 'off';
      assert.equal((await store.getFlavor('f1'))?.extraSpecs['hw:pmu'], 'on');
      await store.close();
    });

    it('creates, lists per project, saves and deletes servers', async () => {
      const store = await make();
      const a = aServerRecord();
      const b = aServerRecord({
        id: 'b0000000-0000-4000-8000-000000000002',
        projectId: 'p2',
        createdAt: '2026-01-02T00:00:00.000Z',
      });
      await store.createServer(b);
      await store.createServer(a);
      await assert.rejects(store.createServer(a), hasCode('server.exists'));
      assert.deepEqual(
        (await store.listServers()).map((s) => s.id),
        [a.id, b.id],
      );
      assert.deepEqual(
        (await store.listServers({ projectId: 'p2' })).map((s) => s.id),
        [b.id],
      );
      const active = {
        ...a,
        status: 'ACTIVE' as const,
        fault: { code: 500, message: 'm', errorCode: 'x', created: 't' },
        pmu: {
          requested: { flavor: 'false', image: null },
          resolved: false,
          source: 'flavor',
          effective: 'off' as const,
          reason: 'r',
        },
        metadata: { role: 'du', 'a b': '' },
        accessIPv4: '192.0.2.1',
        accessIPv6: '2001:db8::1',
        description: 'd',
        diskConfig: 'AUTO' as const,
        reservationId: 'r-12345678',
        launchIndex: 2,
        image: { ...a.image, minRamMiB: 512, minDiskGiB: 2, sizeBytes: 1024 },
      };
      await store.saveServer(active);
      assert.deepEqual(await store.getServer(a.id), active);
      await assert.rejects(
        store.saveServer(aServerRecord({ id: 'c0000000-0000-4000-8000-000000000003' })),
        hasCode('server.not_found'),
      );
      assert.equal(await store.deleteServer(a.id), true);
      assert.equal(await store.deleteServer(a.id), false);
      assert.equal(await store.getServer(a.id), undefined);
      await store.close();
    });

    it('saves a server by compare-and-swap on its version: a stale save is server.conflict', async () => {
      const store = await make();
      const s = aServerRecord();
      await store.createServer(s);
      // Unversioned so far: ifVersion null matches, and the save stores version 1.
      await store.saveServer({ ...s, name: 'v1', version: 1 }, { ifVersion: null });
      await assert.rejects(
        store.saveServer({ ...s, name: 'stale', version: 1 }, { ifVersion: null }),
        hasCode('server.conflict'),
      );
      await store.saveServer({ ...s, name: 'v2', version: 2 }, { ifVersion: 1 });
      await assert.rejects(
        store.saveServer({ ...s, name: 'stale', version: 2 }, { ifVersion: 1 }),
        hasCode('server.conflict'),
      );
      assert.deepEqual(await store.getServer(s.id), { ...s, name: 'v2', version: 2 });
      await assert.rejects(
        store.saveServer(aServerRecord({ id: 'c0000000-0000-4000-8000-000000000004' }), {
          ifVersion: null,
        }),
        hasCode('server.not_found'),
      );
      // Without ifVersion a save replaces whatever is stored.
      await store.saveServer({ ...s, name: 'forced', version: 7 });
      assert.equal((await store.getServer(s.id))?.version, 7);
      await store.close();
    });

    it('records an action with a save only when the save lands, and with a delete', async () => {
      const store = await make();
      const s = aServerRecord();
      await store.createServer(s);
      const action = (requestId: string, message: string | null): InstanceActionRecord => ({
        serverId: s.id,
        requestId,
        action: 'create',
        projectId: s.projectId,
        userId: 'u1',
        startTime: '2026-01-01T00:00:01.000Z',
        updatedAt: '2026-01-01T00:00:02.000Z',
        message,
        events: [],
      });
      await store.saveServer({ ...s, version: 1 }, { ifVersion: null, action: action('r1', null) });
      // Refused saves, stale or of an unknown server, record nothing.
      await assert.rejects(
        store.saveServer({ ...s, version: 1 }, { ifVersion: null, action: action('r2', null) }),
        hasCode('server.conflict'),
      );
      await assert.rejects(
        store.saveServer(aServerRecord({ id: 'c0000000-0000-4000-8000-000000000005' }), {
          ifVersion: null,
          action: { ...action('r3', null), serverId: 'c0000000-0000-4000-8000-000000000005' },
        }),
        hasCode('server.not_found'),
      );
      // A landed save replaces the action recorded under its request id.
      await store.saveServer({ ...s, version: 2 }, { ifVersion: 1, action: action('r1', 'Error') });
      assert.deepEqual(await store.listInstanceActions(s.id), [action('r1', 'Error')]);
      assert.deepEqual(await store.listInstanceActions('c0000000-0000-4000-8000-000000000005'), []);
      assert.equal((await store.getServer(s.id))?.version, 2);
      // A delete records its action in the same write, whether or not a record was there.
      assert.equal(await store.deleteServer(s.id, action('r4', null)), true);
      assert.equal(await store.deleteServer(s.id, action('r5', 'Error')), false);
      assert.equal(await store.getServer(s.id), undefined);
      assert.deepEqual(
        (await store.listInstanceActions(s.id)).map((a) => [a.requestId, a.message]),
        [
          ['r1', 'Error'],
          ['r4', null],
          ['r5', 'Error'],
        ],
      );
      await store.close();
    });

    it('keeps server groups per project with their members in joining order', async () => {
      const store = await make();
      const group = (id: string, projectId: string, createdAt: string): ServerGroupRecord => ({
        id,
        name: `g-${id}`,
        projectId,
        userId: 'u1',
        policy: 'anti-affinity',
        maxServerPerHost: null,
        members: [],
        createdAt,
      });
      const a = group('a', 'p1', '2026-01-01T00:00:00.000Z');
      const b = { ...group('b', 'p2', '2026-01-02T00:00:00.000Z'), maxServerPerHost: 2 };
      await store.createServerGroup(b);
      await store.createServerGroup(a);
      await assert.rejects(store.createServerGroup(a), hasCode('server.group_exists'));
      assert.deepEqual(
        (await store.listServerGroups()).map((g) => g.id),
        ['a', 'b'],
      );
      assert.deepEqual(await store.listServerGroups('p2'), [b]);
      for (const server of ['s2', 's1', 's2']) {
        assert.equal(await store.addServerGroupMember('a', server), true);
      }
      assert.equal(await store.addServerGroupMember('missing', 's1'), false);
      await store.addServerGroupMember('b', 's1');
      assert.deepEqual((await store.getServerGroup('a'))?.members, ['s2', 's1']);
      await store.removeServerGroupMember('s1');
      assert.deepEqual((await store.getServerGroup('a'))?.members, ['s2']);
      assert.deepEqual((await store.getServerGroup('b'))?.members, []);
      assert.equal(await store.deleteServerGroup('a'), true);
      assert.equal(await store.deleteServerGroup('a'), false);
      assert.equal(await store.getServerGroup('a'), undefined);
      await store.close();
    });

    it('keeps key pairs per user, unique by name, within a per-user limit', async () => {
      const store = await make();
      const kp = (userId: string, name: string) => ({
        userId,
        name,
        type: 'ssh' as const,
        publicKey: `ssh-ed25519 AAAA ${name}`,
        fingerprint: 'aa:bb',
        createdAt: '2026-01-01T00:00:00.000Z',
      });
      const b = await store.createKeypair(kp('u1', 'b'), 2);
      const a = await store.createKeypair(kp('u1', 'a'), 2);
      assert.notEqual(a.id, b.id);
      await assert.rejects(store.createKeypair(kp('u1', 'a'), 5), hasCode('keypair.exists'));
      await assert.rejects(
        store.createKeypair(kp('u1', 'c'), 2),
        hasCode('keypair.quota_exceeded'),
      );
      await store.createKeypair(kp('u2', 'a'), 2);
      assert.deepEqual(await store.listKeypairs('u1'), [a, b]);
      assert.deepEqual(await store.getKeypair('u1', 'a'), a);
      assert.equal(await store.getKeypair('u3', 'a'), undefined);
      assert.equal(await store.deleteKeypair('u1', 'a'), true);
      assert.equal(await store.deleteKeypair('u1', 'a'), false);
      assert.deepEqual(
        (await store.listKeypairs('u2')).map((k) => k.name),
        ['a'],
      );
      await store.close();
    });

    it('keeps quota limits per class, project and user; a project delete takes its users', async () => {
      const store = await make();
      const cls = { kind: 'class', name: 'default' } as const;
      const p1 = { kind: 'project', projectId: 'p1' } as const;
      const u1 = { kind: 'user', projectId: 'p1', userId: 'u1' } as const;
      const u2 = { kind: 'user', projectId: 'p2', userId: 'u1' } as const;
      assert.deepEqual(await store.getQuotaLimits(p1), {});
      await store.setQuotaLimits(cls, { cores: 40 });
      await store.setQuotaLimits(p1, { cores: 4, ram: 512 });
      await store.setQuotaLimits(p1, { ram: -1 });
      await store.setQuotaLimits(u1, { cores: 2 });
      await store.setQuotaLimits(u2, { cores: 3 });
      assert.deepEqual(await store.getQuotaLimits(cls), { cores: 40 });
      assert.deepEqual(await store.getQuotaLimits(p1), { cores: 4, ram: -1 });
      assert.deepEqual(await store.getQuotaLimits(u1), { cores: 2 });
      // Several scopes in one read, in the order asked, {} for one with none.
      assert.deepEqual(
        await store.getQuotaLimitsOf([u1, cls, { kind: 'project', projectId: 'p9' }, p1]),
        [{ cores: 2 }, { cores: 40 }, {}, { cores: 4, ram: -1 }],
      );
      assert.deepEqual(await store.getQuotaLimitsOf([]), []);
      await store.deleteQuotaLimits(u1);
      assert.deepEqual(await store.getQuotaLimits(u1), {});
      assert.deepEqual(await store.getQuotaLimits(p1), { cores: 4, ram: -1 });
      await store.setQuotaLimits(u1, { cores: 1 });
      await store.deleteQuotaLimits(p1);
      assert.deepEqual(await store.getQuotaLimits(p1), {});
      assert.deepEqual(await store.getQuotaLimits(u1), {});
      assert.deepEqual(await store.getQuotaLimits(u2), { cores: 3 });
      assert.deepEqual(await store.getQuotaLimits(cls), { cores: 40 });
      await store.close();
    });

    it('keeps host aggregates: ids, unique names on create and rename, save, delete', async () => {
      const store = await make();
      const base = {
        hosts: [],
        metadata: {},
        createdAt: '2026-01-01T00:00:00Z',
        updatedAt: null,
      };
      const a = await store.createAggregate({ ...base, uuid: 'u-a', name: 'a' });
      const b = await store.createAggregate({ ...base, uuid: 'u-b', name: 'b' });
      assert.ok(b.id > a.id);
      await assert.rejects(
        store.createAggregate({ ...base, uuid: 'u-c', name: 'a' }),
        hasCode('aggregate.exists'),
      );
      await assert.rejects(store.saveAggregate({ ...b, name: 'a' }), hasCode('aggregate.exists'));
      await assert.rejects(
        store.saveAggregate({ ...b, id: b.id + 100, name: 'free' }),
        hasCode('aggregate.not_found'),
      );
      const changed = {
        ...a,
        name: 'a2',
        hosts: ['h1', 'h2'],
        metadata: { availability_zone: 'az1' },
        updatedAt: '2026-01-02T00:00:00Z',
      };
      await store.saveAggregate(changed);
      assert.deepEqual(await store.getAggregate(a.id), changed);
      assert.deepEqual(await store.listAggregates(), [changed, b]);
      assert.equal(await store.deleteAggregate(a.id), true);
      assert.equal(await store.deleteAggregate(a.id), false);
      assert.equal(await store.getAggregate(a.id), undefined);
      // The freed name can be taken again.
      await store.createAggregate({ ...base, uuid: 'u-d', name: 'a2' });
      await store.close();
    });

    it('tells what changed about hosts since a point of the change sequence', async () => {
      const store = await make();
      const start = await store.hostChangeSeq();
      const none = await store.hostChangesSince(start);
      assert.deepEqual(
        [none.seq, none.hosts, [...none.usage], none.removed, none.aggregates],
        [start, [], [], [], undefined],
      );
      await store.putComputeHost(aComputeHost({}, 8));
      await store.putComputeHost(aComputeHost({ name: 'host2' }, 8));
      const put = await store.hostChangesSince(start);
      assert.ok(put.seq > start);
      assert.deepEqual(put.hosts, [aComputeHost({}, 8), aComputeHost({ name: 'host2' }, 8)]);
      assert.deepEqual([[...put.usage], put.removed, put.aggregates], [[], [], undefined]);
      // Writes that change nothing the scheduler reads leave the sequence where it is.
      await store.createServer(aServerRecord());
      await store.createFlavor(aFlavorRecord());
      assert.equal(
        await store.claim({ consumerId: 'x', host: 'nowhere', resources: ONE_VCPU }),
        false,
      );
      assert.equal(await store.releaseClaim('nobody'), false);
      assert.equal(await store.deleteComputeHost('nowhere'), false);
      assert.equal(await store.deleteAggregate(12345), false);
      assert.equal(await store.hostChangeSeq(), put.seq);
      assert.deepEqual((await store.hostChangesSince(put.seq)).hosts, []);
      // A claim changes its host's usage; a release and a delete follow.
      assert.equal(
        await store.claim({ consumerId: 'c1', host: 'host1', resources: ONE_VCPU }),
        true,
      );
      const claimed = await store.hostChangesSince(put.seq);
      assert.deepEqual(
        claimed.hosts.map((h) => h.name),
        ['host1'],
      );
      assert.deepEqual(claimed.usage.get('host1'), ONE_VCPU);
      assert.equal(await store.releaseClaim('c1'), true);
      assert.equal(await store.deleteComputeHost('host2'), true);
      const later = await store.hostChangesSince(claimed.seq);
      assert.deepEqual(
        later.hosts.map((h) => h.name),
        ['host1'],
      );
      assert.deepEqual(later.usage.get('host1') ?? NOTHING_USED, NOTHING_USED);
      assert.deepEqual(later.removed, ['host2']);
      // An operator's change to a host (disable) is a change of its record.
      await store.putComputeHost(aComputeHost({ enabled: false, disabledReason: 'x' }, 8));
      const disabled = await store.hostChangesSince(later.seq);
      assert.equal(disabled.hosts[0]?.enabled, false);
      // Aggregates (membership, zones) come whole when any changed.
      const base = { hosts: ['host1'], metadata: {}, createdAt: '2026-01-01T00:00:00Z' };
      const agg = await store.createAggregate({ ...base, uuid: 'u-a', name: 'a', updatedAt: null });
      const created = await store.hostChangesSince(disabled.seq);
      assert.deepEqual([created.hosts, created.aggregates], [[], [agg]]);
      const zoned = { ...agg, metadata: { availability_zone: 'az1' } };
      await store.saveAggregate(zoned);
      const saved = await store.hostChangesSince(created.seq);
      assert.deepEqual(saved.aggregates, [zoned]);
      assert.equal(await store.deleteAggregate(agg.id), true);
      const deleted = await store.hostChangesSince(saved.seq);
      assert.deepEqual(deleted.aggregates, []);
      assert.equal((await store.hostChangesSince(deleted.seq)).aggregates, undefined);
      // From an old point: each host once, as it is now.
      const all = await store.hostChangesSince(start);
      assert.deepEqual(
        [all.seq, all.hosts.map((h) => [h.name, h.enabled]), all.removed],
        [deleted.seq, [['host1', false]], ['host2']],
      );
      await store.close();
    });

    it('misses no host change while concurrent writers claim and release', async () => {
      const store = await make();
      const hosts = Array.from({ length: 6 }, (_, i) => `host${String(i)}`);
      for (const name of hosts) await store.putComputeHost(aComputeHost({ name }, 1000));
      const follower = new UsageFollower(store);
      await follower.start();
      const writers = { running: true };
      const reader = (async () => {
        while (writers.running) {
          await follower.follow();
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        await Promise.all(
          Array.from({ length: 6 }, async (_, w) => {
            for (let n = 0; n < 30; n++) {
              const id = `w${String(w)}-${String(n)}`;
              const host = hosts[(w * 5 + n * 7) % hosts.length] ?? 'host0';
              await store.claim({ consumerId: id, host, resources: ONE_VCPU });
              if (n % 3 === 1) await store.releaseClaim(id);
            }
          }),
        );
      } finally {
        writers.running = false;
        await reader;
      }
      await follower.follow();
      await follower.assertCurrent(hosts);
      await store.close();
    });

    it('keeps a server lock and tags apart from saves, and edits tags atomically', async () => {
      const store = await make();
      const a = aServerRecord({ tags: ['first'] });
      await store.createServer(a);
      assert.deepEqual((await store.getServer(a.id))?.tags, ['first']);
      await store.setServerLock(a.id, { by: 'admin', reason: 'maintenance' });
      assert.deepEqual(await store.updateServerTags(a.id, (t) => [...t, 'second']), [
        'first',
        'second',
      ]);
      // A save of a record read before the lock and the tag change undoes neither.
      await store.saveServer({ ...a, name: 'renamed' });
      const saved = await store.getServer(a.id);
      assert.deepEqual(saved, {
        ...a,
        name: 'renamed',
        lock: { by: 'admin', reason: 'maintenance' },
        tags: ['first', 'second'],
      });
      assert.deepEqual(await store.listServers(), [saved]);
      await assert.rejects(
        store.updateServerTags(a.id, () => {
          throw new Error('refused');
        }),
        /refused/u,
      );
      assert.deepEqual((await store.getServer(a.id))?.tags, ['first', 'second']);
      await store.setServerLock(a.id, null);
      assert.equal((await store.getServer(a.id))?.lock, null);
      const unknown = 'c0000000-0000-4000-8000-000000000003';
      await assert.rejects(store.setServerLock(unknown, null), hasCode('server.not_found'));
      await assert.rejects(
        store.updateServerTags(unknown, () => []),
        hasCode('server.not_found'),
      );
      await store.close();
    });

    it("records a host's heartbeat alone, and a registration keeps it", async () => {
      const store = await make();
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      assert.equal(await store.reportHeartbeat('host1', at(1)), false, 'unknown host');
      await store.putComputeHost(aComputeHost());
      assert.deepEqual(await store.getComputeHost('host1'), aComputeHost(), 'never reported');
      assert.equal(await store.reportHeartbeat('host1', at(2)), true);
      assert.equal((await store.getComputeHost('host1'))?.heartbeatAt, at(2));
      // What an operator set (and the inventory) is not touched by a heartbeat...
      await store.putComputeHost(
        aComputeHost({ enabled: false, disabledReason: 'maintenance', forcedDown: true }, 8),
      );
      assert.equal(await store.reportHeartbeat('host1', at(3)), true);
      assert.deepEqual(
        await store.getComputeHost('host1'),
        aComputeHost(
          { enabled: false, disabledReason: 'maintenance', forcedDown: true, heartbeatAt: at(3) },
          8,
        ),
      );
      // ...and a record without a heartbeat (a registration) keeps the one reported.
      await store.putComputeHost(aComputeHost({ heartbeatAt: null }));
      assert.deepEqual(await store.getComputeHost('host1'), aComputeHost({ heartbeatAt: at(3) }));
      await store.putComputeHost(aComputeHost({ heartbeatAt: at(4) }));
      assert.deepEqual(await store.listComputeHosts(), [aComputeHost({ heartbeatAt: at(4) })]);
      // Concurrent heartbeats of many hosts each land on their own host.
      const names = Array.from({ length: 20 }, (_, i) => `beat${String(i).padStart(2, '0')}`);
      for (const name of names) await store.putComputeHost(aComputeHost({ name }));
      const reported = await Promise.all(names.map((name) => store.reportHeartbeat(name, at(5))));
      assert.deepEqual(
        reported,
        names.map(() => true),
      );
      const hosts = await store.listComputeHosts();
      assert.deepEqual(
        hosts.map((h) => [h.name, h.heartbeatAt]),
        [...names.map((name) => [name, at(5)]), ['host1', at(4)]],
      );
      await store.close();
    });

    it('tells the hosts silent since a time, never one that has not reported', async () => {
      const store = await make();
      const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
      await store.putComputeHost(aComputeHost({ name: 'quiet' }));
      await store.putComputeHost(aComputeHost({ name: 'old', heartbeatAt: at(1) }));
      await store.putComputeHost(aComputeHost({ name: 'fresh', heartbeatAt: at(1) }));
      await store.putComputeHost(aComputeHost({ name: 'older', heartbeatAt: at(1) }));
      await store.reportHeartbeat('fresh', at(9));
      assert.deepEqual(await store.silentHosts(at(5)), ['old', 'older']);
      assert.deepEqual(await store.silentHosts(at(1)), [], 'strictly before');
      assert.deepEqual(await store.silentHosts(at(10)), ['fresh', 'old', 'older']);
      await store.close();
    });

    it('claims only what fits, per host, and releases claims', async () => {
      const store = await make();
      await store.putComputeHost(aComputeHost({}, 2));
      await store.putComputeHost(aComputeHost({ name: 'host2', enabled: false }, 8));
      const claim = (consumerId: string, host = 'host1') =>
        store.claim({ consumerId, host, resources: ONE_VCPU });
      assert.equal(await claim('c1'), true);
      assert.equal(await claim('c1'), false, 'a consumer holds one claim');
      assert.equal(await claim('c2'), true);
      assert.equal(await claim('c3'), false, 'host1 is full');
      assert.equal(await claim('c4', 'host2'), false, 'host2 is disabled');
      assert.equal(await claim('c5', 'nowhere'), false, 'unknown host');
      assert.deepEqual(
        (await store.listAllocations('host1')).map((a) => a.consumerId),
        ['c1', 'c2'],
      );
      assert.equal(await store.releaseClaim('c1'), true);
      assert.equal(await store.releaseClaim('c1'), false);
      assert.equal(await claim('c3'), true);
      assert.deepEqual(
        (await store.listComputeHosts()).map((h) => h.name),
        ['host1', 'host2'],
      );
      await store.putComputeHost(aComputeHost({ traits: [] }, 2));
      assert.deepEqual((await store.getComputeHost('host1'))?.traits, []);
      // The guest settings the host designs with come back as they went in.
      const settings = {
        virtType: 'kvm',
        arch: 'ppc64le',
        cpuMode: 'custom',
        cpuModel: 'POWER9',
        instanceDir: '/var/lib/vpmu/instances',
        network: { type: 'none' },
      } as const;
      await store.putComputeHost(aComputeHost({ settings }, 2));
      assert.deepEqual((await store.getComputeHost('host1'))?.settings, settings);
      await store.putComputeHost(
        aComputeHost({ name: 'host3', disabledReason: 'disk', forcedDown: true }),
      );
      const host3 = await store.getComputeHost('host3');
      assert.equal(host3?.disabledReason, 'disk');
      assert.equal(host3.forcedDown, true);
      assert.equal(await store.deleteComputeHost('host3'), true);
      assert.equal(await store.deleteComputeHost('host3'), false);
      assert.equal(await store.getComputeHost('host3'), undefined);
      await store.close();
    });

    it("keeps each host's usage equal to the sum of its allocations", async () => {
      const store = await make();
      await store.putComputeHost(aComputeHost({}, 16));
      await store.putComputeHost(aComputeHost({ name: 'host2' }, 16));
      const sized = (vcpu: number) => ({ VCPU: vcpu, MEMORY_MB: 512 * vcpu, DISK_GB: vcpu });
      assert.deepEqual(await store.usageByHost(), new Map());
      await store.claim({ consumerId: 'a', host: 'host1', resources: sized(1) });
      await store.claim({ consumerId: 'b', host: 'host1', resources: sized(4) });
      await store.claim({ consumerId: 'c', host: 'host2', resources: sized(2) });
      assert.equal(
        await store.claim({ consumerId: 'd', host: 'host1', resources: sized(12) }),
        false,
      );
      await store.releaseClaim('a');
      await store.releaseClaim('a');
      await store.releaseClaim('c');
      const sums = new Map<string, Record<string, number>>();
      for (const { host, resources } of await store.listAllocations()) {
        const sum = sums.get(host) ?? { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
        for (const [rc, n] of Object.entries(resources)) sum[rc] = (sum[rc] ?? 0) + n;
        sums.set(host, sum);
      }
      const usage = await store.usageByHost();
      assert.deepEqual(usage.get('host1'), { VCPU: 4, MEMORY_MB: 2048, DISK_GB: 4 });
      assert.deepEqual(usage.get('host1'), sums.get('host1'));
      assert.deepEqual(usage.get('host2') ?? { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 }, {
        VCPU: 0,
        MEMORY_MB: 0,
        DISK_GB: 0,
      });
      // A claim that fits only because 'a' and its 1 vCPU were released.
      assert.equal(
        await store.claim({ consumerId: 'e', host: 'host1', resources: sized(12) }),
        true,
      );
      await store.close();
    });

    it('never overcommits under 50 concurrent claims for room of 40', async () => {
      const store = await make();
      await store.putComputeHost(aComputeHost({}, 40));
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          store.claim({ consumerId: `c${String(i)}`, host: 'host1', resources: ONE_VCPU }),
        ),
      );
      assert.equal(results.filter(Boolean).length, 40);
      assert.equal((await store.listAllocations()).length, 40);
      await store.close();
    });

    if (reopen !== undefined) {
      it('keeps everything across a restart', async () => {
        const store = await make();
        await store.createProject({
          id: 'p1',
          name: 'a',
          domainId: 'default',
          description: '',
          enabled: true,
        });
        await store.createUser({
          id: 'u1',
          name: 'ann',
          domainId: 'default',
          passwordHash: 'h',
          enabled: true,
        });
        await store.assignRole({ userId: 'u1', projectId: 'p1', role: 'member' });
        await store.createFlavor(aFlavorRecord({ extraSpecs: { 'hw:pmu': 'false' } }));
        await store.addFlavorAccess('f1', 'p1');
        await store.createImage(anImageRecord({ properties: { hw_pmu: 'true' } }));
        await store.createServer(aServerRecord());
        await store.putComputeHost(aComputeHost());
        await store.reportHeartbeat('host1', '2026-01-01T00:00:09.000Z');
        await store.claim({ consumerId: 'c1', host: 'host1', resources: ONE_VCPU });
        await store.recordLoginFailure(
          'u1',
          '2026-01-01T00:00:00.000Z',
          '2025-01-01T00:00:00.000Z',
        );
        const again = await reopen(store);
        assert.equal((await again.getLoginFailures('u1'))?.count, 1);
        assert.deepEqual(await again.getServer(aServerRecord().id), aServerRecord());
        assert.deepEqual(await again.listComputeHosts(), [
          aComputeHost({ heartbeatAt: '2026-01-01T00:00:09.000Z' }),
        ]);
        assert.deepEqual(await again.listAllocations(), [
          { consumerId: 'c1', host: 'host1', resources: ONE_VCPU },
        ]);
        assert.deepEqual(await again.listRoles('u1', 'p1'), ['member']);
        assert.deepEqual((await again.getFlavor('f1'))?.extraSpecs, { 'hw:pmu': 'false' });
        assert.deepEqual(await again.listFlavorAccess('f1'), ['p1']);
        assert.deepEqual((await again.getImage(anImageRecord().id))?.properties, {
          hw_pmu: 'true',
        });
        await again.close();
      });
    }
  });
}
