/**
 * Which hosts can run a guest. A guest is designed once per distinct host settings (virt type,
 * architecture, CPU mode and model, ...), as the hosts' records hold them. At create, a request
 * that every known host refuses the same way is a 400 before anything is recorded: the refusal
 * does not depend on where it goes. A request only some hosts refuse (`hw:pmu=false` on a ppc64
 * host beside x86 ones) is recorded, and the scheduler leaves those hosts out; when no host is
 * left, the build ends in No valid host with each host's reason.
 */
import { fail, orThrow, type HostSettings, type Result } from '../domain/index.js';
import { designGuest, type DesignInput, type GuestDesign } from '../design/index.js';
import type { ServerPmu } from '../ports/store.js';
import { resolvePmu } from '../specs/index.js';

/** A host a guest may be designed for. */
export interface DesignHost {
  readonly name: string;
  readonly settings: HostSettings;
}

/** The guest without its host. */
export type GuestToPlace = Omit<DesignInput, 'host'>;

/** The settings a guest is checked against when no host is known yet. */
export const NO_HOST_SETTINGS: HostSettings = {
  virtType: 'qemu',
  arch: 'x86_64',
  cpuMode: 'host-model',
  instanceDir: '/nonexistent',
  network: { type: 'none' },
};

/** Designs the guest once per distinct settings; each host with the outcome on its settings. */
export function designPerHost(
  guest: GuestToPlace,
  hosts: readonly DesignHost[],
): Map<string, Result<GuestDesign>> {
  const bySettings = new Map<string, Result<GuestDesign>>();
  const outcomes = new Map<string, Result<GuestDesign>>();
  for (const host of hosts) {
    const key = JSON.stringify(host.settings);
    let outcome = bySettings.get(key);
    if (outcome === undefined) {
      outcome = designGuest({ ...guest, host: host.settings });
      bySettings.set(key, outcome);
    }
    outcomes.set(host.name, outcome);
  }
  return outcomes;
}

/**
 * The vPMU a request resolves to, checked against the hosts it may go to (none known: the
 * defaults). Throws the design's own error (a 400) when every host refuses it the same way.
 * When they refuse it differently, the record keeps the host-independent resolution and the
 * scheduler tells the hosts apart.
 */
export function precheckGuest(guest: GuestToPlace, hosts: readonly DesignHost[]): ServerPmu {
  const candidates = hosts.length > 0 ? hosts : [{ name: '', settings: NO_HOST_SETTINGS }];
  const outcomes = [...designPerHost(guest, candidates).values()];
  const [first] = outcomes;
  if (first !== undefined && outcomes.every((o) => !o.ok)) {
    const refusals = new Set(outcomes.map(refusal));
    if (refusals.size === 1) orThrow(first);
  }
  // Some host can run it, or the hosts refuse it for different reasons: the resolution itself
  // stands (a refusal of the request alone would be the same everywhere).
  const pmu = orThrow(resolvePmu(guest.flavor, guest.image));
  return {
    requested: pmu.requested,
    resolved: pmu.resolved,
    source: pmu.source,
    effective: null,
    reason: null,
  };
}

/**
 * The scheduling filter: the candidates (in their order) whose settings can run the guest, or
 * a failure naming each host left out and why. Hosts with no known settings pass.
 */
export function hostsThatCanRun<H extends { readonly name: string }>(
  guest: GuestToPlace,
  candidates: readonly H[],
  settingsOf: (host: string) => HostSettings | undefined,
): Result<H[]> {
  const known = candidates.flatMap((h) => {
    const settings = settingsOf(h.name);
    return settings === undefined ? [] : [{ name: h.name, settings }];
  });
  const outcomes = designPerHost(guest, known);
  const passing = candidates.filter((h) => outcomes.get(h.name)?.ok !== false);
  if (passing.length > 0) return { ok: true, value: passing };
  const reasons = candidates.map((h) => {
    const outcome = outcomes.get(h.name);
    return `${h.name}: ${outcome === undefined || outcome.ok ? 'no reason recorded' : refusal(outcome)}`;
  });
  return fail({
    code: 'scheduler.no_valid_host',
    path: [],
    // NOTE: Nova wording (nova/exception.py NoValidHost), then why each host cannot run it.
    message: `No valid host was found. No host can run this guest. ${reasons.join('; ')}`,
  });
}

function refusal(outcome: Result<GuestDesign>): string {
  return outcome.ok ? '' : outcome.issues.map((i) => i.message).join(' ');
}
