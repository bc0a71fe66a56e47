/**
 * A real Linux guest testifies (issue 16). On a real libvirtd with QEMU/TCG (VPMU_TEST_QEMU_URI),
 * a tenant drives `vpmu serve` through its HTTP API: uploads a kernel, a ramdisk (built now from
 * Debian's kernel and busybox-static, src/testing/test-guest.ts) and a root image with
 * kernel_id/ramdisk_id, imports a key pair and boots three servers at once with user data, a
 * config drive and hw_pmu true, false and unset. Each guest mounts its config drive and prints what
 * it read and what its own kernel sees of the PMU; the test reads that line back through
 * os-getConsoleOutput and checks it against what vpmu reported (GET /servers/{id}/os-vpmu).
 *
 * Run from src/main/e2e-qemu.test.ts, the one file whose tests use qemu:///system, one after
 * another (its last suite restarts the daemon).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadServeConfig, startService, type RunningService } from '../main/serve.js';
import { passwordAuth } from './api.js';
import { pollUntil } from './processes.js';
import { buildTestGuest, findGuestDebs, findReport, type GuestReport } from './tiny-guest.js';
import { requireTool } from './tools.js';

/** An OpenSSH ed25519 public key line. */
function sshPublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const withLength = (b: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length, 0);
    return Buffer.concat([length, b]);
  };
  const blob = Buffer.concat([withLength(Buffer.from('ssh-ed25519')), withLength(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} tenant@e2e`;
}

interface Case {
  readonly name: string;
  readonly hwPmu: string | undefined;
}
const CASES: readonly Case[] = [
  { name: 'true', hwPmu: 'true' },
  { name: 'false', hwPmu: 'false' },
  { name: 'unset', hwPmu: undefined },
];

/**
 * The suite, on `uri`; `skip` is the caller's reason to skip (no daemon, no binding), to which the
 * suite adds its own (no guest packages, no genisoimage).
 */
export function describeRealGuest(uri: string, callerSkip: false | string): void {
  const debs = callerSkip === false ? findGuestDebs() : callerSkip;
  const skip =
    typeof debs === 'string'
      ? debs
      : requireTool('genisoimage', ['--version'], 'apt-get install genisoimage');
  describe(
    `a real Linux guest reads its config drive and its vPMU (${uri})`,
    {
      skip,
      timeout: 300_000,
    },
    () => {
      const scratch = mkdtempSync(path.join(tmpdir(), 'vpmu-e2e-guest-'));
      // QEMU runs as libvirt-qemu and must reach the disks, kernel and initrd below this directory.
      chmodSync(scratch, 0o755);
      let service: RunningService | undefined;
      const created: string[] = [];
      let adminToken = '';

      after(async () => {
        if (service !== undefined) {
          for (const id of created) {
            await call(adminToken, 'DELETE', `/compute/v2.1/servers/${id}`).catch(() => undefined);
          }
          await pollUntil(
            'the test servers to be deleted',
            async () => {
              const res = await fetch(`${service?.url ?? ''}/compute/v2.1/servers?all_tenants=1`, {
                headers: { 'X-Auth-Token': adminToken },
              });
              const body = (await res.json()) as { servers: { id: string }[] };
              return body.servers.filter((s) => created.includes(s.id)).length;
            },
            (left) => left === 0,
            { timeoutMs: 60_000, intervalMs: 500 },
          ).catch(() => undefined);
          await service.close();
        }
        rmSync(scratch, { recursive: true, force: true });
      });

      async function call(
        token: string,
        method: string,
        url: string,
        body?: unknown,
        headers: Record<string, string> = {},
      ): Promise<{ status: number; body: unknown }> {
        const res = await fetch(`${service?.url ?? ''}${url}`, {
          method,
          headers: {
            'X-Auth-Token': token,
            ...(body instanceof Uint8Array
              ? { 'Content-Type': 'application/octet-stream' }
              : { 'Content-Type': 'application/json' }),
            ...headers,
          },
          ...(body === undefined
            ? {}
            : { body: body instanceof Uint8Array ? body : JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
      }

      async function ok(
        token: string,
        method: string,
        url: string,
        body?: unknown,
      ): Promise<Record<string, unknown>> {
        const res = await call(token, method, url, body);
        assert.ok(res.status < 300, `${method} ${url}: ${res.status} ${JSON.stringify(res.body)}`);
        return (res.body ?? {}) as Record<string, unknown>;
      }

      async function login(user: string, password: string, project: string): Promise<string> {
        const res = await fetch(`${service?.url ?? ''}/identity/v3/auth/tokens`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(passwordAuth(user, password, project)),
        });
        assert.equal(res.status, 201, await res.text());
        return res.headers.get('X-Subject-Token') ?? '';
      }

      async function upload(
        token: string,
        name: string,
        format: { disk: string; container: string },
        data: Uint8Array,
        properties: Record<string, string> = {},
      ): Promise<string> {
        const image = await ok(token, 'POST', '/image/v2/images', {
          name,
          disk_format: format.disk,
          container_format: format.container,
          ...properties,
        });
        const id = String(image.id);
        await ok(token, 'PUT', `/image/v2/images/${id}/file`, data);
        return id;
      }

      it('boots pmu true, false and unset; each guest reports the key, the user data and a vPMU that agrees with its kernel', async () => {
        const work = path.join(scratch, 'guest');
        mkdirSync(work);
        // The guest is built while the service starts (unpacking the kernel package takes a while).
        const building = buildTestGuest(debs as { kernel: string; busybox: string }, work);
        building.catch(() => undefined);
        service = await startService({
          ...loadServeConfig(
            ['--port', '0', '--state-dir', path.join(scratch, 'state'), '--uri', uri],
            { VPMU_ADMIN_PASSWORD: 'pw', VPMU_CONFIG: 'c.json' },
            () =>
              JSON.stringify({
                computeHostName: 'e2e-guest',
                // TCG even where /dev/kvm opens: nested KVM on some CI hosts never gets a kernel going.
                virtType: 'qemu',
                stopTimeoutSeconds: 1,
                projects: [{ name: 'guests' }],
                users: [{ name: 'tenant', password: 'tenant-pw', project: 'guests' }],
              }),
          ),
        });
        adminToken = await login('admin', 'pw', 'admin');
        const flavor = await ok(adminToken, 'POST', '/compute/v2.1/flavors', {
          flavor: { name: 'guest.tiny', vcpus: 1, ram: 256, disk: 1 },
        });
        const flavorId = (flavor.flavor as { id: string }).id;

        const tenant = await login('tenant', 'tenant-pw', 'guests');
        const publicKey = sshPublicKey();
        await ok(tenant, 'POST', '/compute/v2.1/os-keypairs', {
          keypair: { name: 'tenant-key', public_key: publicKey },
        });
        const guest = await building;
        const kernelId = await upload(
          tenant,
          'test-guest-kernel',
          { disk: 'aki', container: 'aki' },
          readFileSync(guest.kernel),
        );
        const ramdiskId = await upload(
          tenant,
          'test-guest-initramfs',
          { disk: 'ari', container: 'ari' },
          readFileSync(guest.initramfs),
        );

        const servers = await Promise.all(
          CASES.map(async (c) => {
            const imageId = await upload(
              tenant,
              `test-guest-pmu-${c.name}`,
              { disk: 'raw', container: 'bare' },
              new Uint8Array(1024 * 1024),
              {
                kernel_id: kernelId,
                ramdisk_id: ramdiskId,
                os_command_line: 'console=ttyS0 quiet',
                ...(c.hwPmu === undefined ? {} : { hw_pmu: c.hwPmu }),
              },
            );
            const userData = `#!/bin/sh\necho vpmu e2e pmu=${c.name}\n`;
            const res = await ok(tenant, 'POST', '/compute/v2.1/servers', {
              server: {
                name: `guest-pmu-${c.name}`,
                flavorRef: flavorId,
                imageRef: imageId,
                networks: 'none',
                key_name: 'tenant-key',
                user_data: Buffer.from(userData).toString('base64'),
                config_drive: true,
              },
            });
            const id = (res.server as { id: string }).id;
            created.push(id);
            return { c, id, userData };
          }),
        );

        const reports = await Promise.all(
          servers.map(async ({ c, id, userData }) => {
            const active = await pollUntil(
              `server ${c.name} to be ACTIVE`,
              async () => {
                const shown = (await ok(tenant, 'GET', `/compute/v2.1/servers/${id}`)).server as {
                  status: string;
                  fault?: unknown;
                };
                assert.notEqual(shown.status, 'ERROR', JSON.stringify(shown.fault));
                return shown;
              },
              (shown) => shown.status === 'ACTIVE',
              { timeoutMs: 120_000, intervalMs: 500 },
            );
            assert.equal((active as { key_name?: string }).key_name, 'tenant-key');
            const vpmu = (await ok(tenant, 'GET', `/compute/v2.1/servers/${id}/os-vpmu`))
              .vpmu as Record<string, unknown>;
            const output = await pollUntil(
              `the report of guest ${c.name} on its console`,
              async () =>
                String(
                  (
                    await ok(tenant, 'POST', `/compute/v2.1/servers/${id}/action`, {
                      'os-getConsoleOutput': { length: 50 },
                    })
                  ).output,
                ),
              (text) => findReport(text) !== undefined,
              { timeoutMs: 170_000, intervalMs: 1000 },
            );
            const report = findReport(output);
            assert.ok(report !== undefined);
            return { c, id, userData, vpmu, report };
          }),
        );

        for (const { c, id, userData, vpmu, report } of reports) {
          const context = `pmu ${c.name}: ${JSON.stringify(report)} vs ${JSON.stringify(vpmu)}`;
          assert.equal(report.errors, '', context);
          // What the guest read from its config drive.
          const meta = report.meta_data ?? {};
          assert.equal(meta.uuid, id, context);
          assert.deepEqual(meta.public_keys, { 'tenant-key': publicKey }, context);
          assert.equal(
            Buffer.from(report.user_data_base64, 'base64').toString(),
            userData,
            context,
          );
          const told = report.vendor_data2?.vpmu as Record<string, unknown>;
          assert.deepEqual(
            told,
            {
              requested: { flavor: null, image: c.hwPmu ?? null },
              resolved: vpmu.resolved,
              source: vpmu.source,
              effective: vpmu.effective,
              reason: vpmu.reason,
            },
            context,
          );
          assert.equal(
            (meta.meta as Record<string, string>).vpmu_effective,
            vpmu.effective,
            context,
          );
          // What the guest's kernel saw agrees with vpmu's effective state.
          assert.equal(sawPmu(report), vpmu.effective === 'on', context);
        }
        writeFileSync(path.join(scratch, 'reports.json'), JSON.stringify(reports, null, 2));
      });
    },
  );
}

/**
 * Whether the guest kernel has a working hardware PMU: its perf core registered the `cpu` event
 * source, and (checked to agree) the boot log does not say it fell back to software events. The
 * arch_perfmon CPU flag is reported too, but only Intel CPUs have it (AMD's PMU does not).
 */
function sawPmu(report: GuestReport): boolean {
  const softwareOnly = /software events only|no PMU driver|PMU not available/iu.test(
    report.performance_events,
  );
  assert.match(report.performance_events, /^Performance Events: /u, JSON.stringify(report));
  assert.equal(report.pmu_device, !softwareOnly, JSON.stringify(report));
  return report.pmu_device;
}
