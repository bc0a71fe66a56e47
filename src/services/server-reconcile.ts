/**
 * After a restart, and periodically: the records are brought in line with what each host's
 * hypervisor has, and claims that no server needs are released.
 */
import { POWER_STATE } from '../domain/index.js';
import { ComputeError } from '../errors/index.js';
import type { ServerWork } from './server-work.js';

const { RUNNING, SHUTDOWN } = POWER_STATE;

/** What reconcile() changed, by server id (and the unknown domains' UUIDs). */
export interface ReconcileReport {
  /** Servers put in ERROR: their guest is gone, or an operation was cut short. */
  errored: string[];
  /** Servers whose power state now follows their domain's. */
  corrected: string[];
  /** Servers whose delete was cut short and is now finished. */
  deleted: string[];
  /** Domains named like vpmu's that have no server record (left alone). */
  unknown: string[];
  /** Instance directories (and half-taken image data) no server or domain had; removed. */
  removedDisks: string[];
}

/**
 * Brings the records in line with the domains each host's hypervisor actually has. A server
 * whose domain is gone goes to ERROR with a fault; a server whose domain's power state differs
 * follows the domain; a build cut short by a restart is cleaned up and goes to ERROR. Domains
 * that look like vpmu's but have no record are logged, never deleted.
 */
export async function reconcile(
  work: ServerWork,
  options: { readonly hostsOnly?: boolean } = {},
): Promise<ReconcileReport> {
  const { deps } = work;
  const report: ReconcileReport = {
    errored: [],
    corrected: [],
    deleted: [],
    unknown: [],
    removedDisks: [],
  };
  const servers = await deps.store.listServers();
  const hostless = options.hostsOnly === true ? [] : servers.filter((s) => s.host === null);
  for (const server of hostless.filter((s) => s.taskState === 'deleting')) {
    await work.finishDelete(undefined, server);
    report.deleted.push(server.id);
  }
  // A build still waiting for its slot or its host when the service stopped never started.
  const unscheduled = hostless.filter((s) => s.status === 'BUILD' && s.taskState !== 'deleting');
  for (const server of unscheduled) {
    await work.fail(
      server,
      new ComputeError(
        'server.build_failed',
        `The service restarted before server ${server.id} was scheduled; nothing was built.`,
      ),
      'reconcile',
    );
    report.errored.push(server.id);
  }
  // Cold migrations that had not finished their handover when the service stopped.
  const movesInFlight = new Map(
    (await deps.store.listMigrations())
      .filter(
        (m) =>
          m.migrationType === 'migration' &&
          (m.status === 'pre-migrating' || m.status === 'migrating'),
      )
      .map((m) => [m.serverId, m]),
  );
  for (const [hostName, agent] of deps.computes) {
    const domains = await agent.list();
    const byUuid = new Map(domains.map((d) => [d.uuid.toLowerCase(), d]));
    for (const server of servers.filter((s) => s.host === hostName)) {
      const domain = byUuid.get(server.id.toLowerCase());
      byUuid.delete(server.id.toLowerCase());
      if (server.taskState === 'deleting') {
        // As Nova's compute does at start: a delete cut short is finished, not undone.
        await work.finishDelete(agent, server);
        report.deleted.push(server.id);
        continue;
      }
      const move = server.status === 'RESIZE' ? movesInFlight.get(server.id) : undefined;
      if (move !== undefined) {
        // A cold migration cut short: the source still holds the only disk, so it stays (stopped);
        // the copy the destination may have taken goes, and its claim with the server's ERROR.
        const copy = move.destCompute === null ? undefined : deps.computes.get(move.destCompute);
        if (copy !== undefined && move.destCompute !== hostName) {
          await work.removeAfterFailure(copy, server);
        }
        await deps.store.saveMigration({ ...move, status: 'error', updatedAt: work.now() });
        await work.fail(
          server,
          new ComputeError(
            'server.build_failed',
            `The service restarted while server ${server.id} was being migrated; its guest stays on ${agent.uri} as it was. Reset its state and start it, or migrate it again.`,
          ),
          'reconcile',
          { keepClaim: true },
        );
        report.errored.push(server.id);
        continue;
      }
      if (['BUILD', 'REBUILD', 'RESIZE'].includes(server.status)) {
        // The disk may be there without the domain: a crash between the two.
        await work.removeAfterFailure(agent, server);
        await work.fail(
          server,
          new ComputeError(
            'server.build_failed',
            `The service restarted while server ${server.id} was in ${server.status}; its guest was removed from ${agent.uri}.`,
          ),
          'reconcile',
        );
        report.errored.push(server.id);
        continue;
      }
      if (domain === undefined) {
        if (server.status === 'ERROR' && server.fault !== null) continue;
        await work.fail(
          server,
          new ComputeError(
            'server.build_failed',
            `The libvirt domain ${server.domainName} (${server.id}) of server '${server.name}' is gone from ${agent.uri}.`,
          ),
          'reconcile',
          { keepClaim: true },
        );
        report.errored.push(server.id);
        continue;
      }
      const running = domain.state === 'running' || domain.state === 'blocked';
      if (server.status === 'ACTIVE' && !running) {
        await work.save(server, { vmState: 'stopped', powerState: SHUTDOWN });
        report.corrected.push(server.id);
      } else if (server.status === 'SHUTOFF' && running) {
        await work.save(server, { vmState: 'active', powerState: RUNNING });
        report.corrected.push(server.id);
      }
    }
    // A cold migration waiting for its confirm keeps the stopped guest on its source.
    for (const server of servers) {
      if (server.resize?.sourceHost === hostName) byUuid.delete(server.id.toLowerCase());
    }
    for (const domain of byUuid.values()) {
      if (!domain.name.startsWith('instance-')) continue;
      report.unknown.push(domain.uuid);
      deps.log.warn(
        { host: hostName, domain: domain.name, uuid: domain.uuid, uri: agent.uri },
        'reconcile: a domain named like a vpmu server has no server record; left alone',
      );
    }
    // Disks no record and no domain claims: a build or delete cut short before its record knew.
    const onHost = servers.filter((s) => s.host === hostName && !report.deleted.includes(s.id));
    const removed = await agent.sweepDisks(new Set(onHost.map((s) => s.id)));
    if (removed.length > 0) {
      report.removedDisks.push(...removed);
      deps.log.warn(
        { host: hostName, removed },
        'reconcile: removed instance directories that no server or domain had',
      );
    }
  }
  if (report.errored.length + report.corrected.length + report.deleted.length > 0) {
    deps.log.warn({ ...report }, 'reconcile: records changed to match the hypervisor');
  }
  return report;
}

/**
 * Nova's instance_build_timeout: a server still building `timeoutSeconds` after its create (its
 * conductor or compute died, or hangs) goes to ERROR with a fault and its claim released. Its
 * host is not asked to remove anything (it may be the one that is gone); deleting the server
 * does. A build of this process still waiting on its host fails too: when the host answers, its
 * save finds the record changed, and it removes the guest it made.
 */
export async function failStaleBuilds(work: ServerWork, timeoutSeconds: number): Promise<string[]> {
  if (timeoutSeconds <= 0) return [];
  const cutoff = work.deps.clock.now().getTime() - timeoutSeconds * 1000;
  const failed: string[] = [];
  for (const server of await work.deps.store.listServers()) {
    if (server.status !== 'BUILD' || server.taskState === 'deleting') continue;
    if (Date.parse(server.createdAt) > cutoff) continue;
    try {
      await work.fail(
        server,
        new ComputeError(
          'server.build_failed',
          `Build of server ${server.id} timed out after ${timeoutSeconds} seconds (instance_build_timeout)${server.host === null ? '' : ` on host ${server.host}`}.`,
        ),
        'create',
      );
      failed.push(server.id);
    } catch (error) {
      // Another process saved it meanwhile (its build went on): the next round looks again.
      work.deps.log.warn({ server: server.id, err: String(error) }, 'build timeout: not failed');
    }
  }
  if (failed.length > 0) work.deps.log.warn({ servers: failed }, 'build timeout: servers failed');
  return failed;
}

/**
 * Releases the claims no server needs, as Nova's allocation heal does: every allocation whose
 * consumer is neither a server's claim nor the old-flavor claim of its resize, unless that
 * server is busy (a task under way, here or recorded) and may be about to record it. A crash
 * between a claim and the save that names it leaves exactly such a claim. Runs at start, after
 * reconcile(), and periodically; returns the consumers released (the caller logs them).
 */
export async function healClaims(work: ServerWork): Promise<string[]> {
  const { store, log } = work.deps;
  // Allocations first, servers second: a claim made in between belongs to a busy server.
  const allocations = await store.listAllocations();
  const servers = new Map((await store.listServers()).map((s) => [s.id, s]));
  const needed = new Set<string>();
  for (const server of servers.values()) {
    if (server.claimId !== null) needed.add(server.claimId);
    if (server.resize !== null) needed.add(server.resize.oldClaimId);
  }
  // An evacuation holds its claim on the source until the source is back and cleaned up.
  for (const migration of await store.listMigrations()) {
    if (migration.migrationType === 'evacuation' && migration.status === 'done') {
      if (migration.sourceClaimId !== null) needed.add(migration.sourceClaimId);
    }
  }
  const released: string[] = [];
  for (const { consumerId } of allocations) {
    if (needed.has(consumerId)) continue;
    const owner = consumerId.split('/')[0] ?? consumerId;
    const server = servers.get(owner);
    const busy = work.busy(owner) || (server !== undefined && server.taskState !== null);
    if (busy) continue;
    if (await store.releaseClaim(consumerId)) released.push(consumerId);
  }
  if (released.length > 0) {
    log.warn({ released }, 'heal: released claims that no server needs');
  }
  return released;
}
