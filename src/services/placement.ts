/**
 * Placement's view of the compute hosts (the `/placement` API): one resource provider per host,
 * its inventory, usage, traits and the claims on it as allocations. Everything is read from the
 * store rows the scheduler claims against (compute hosts, allocations, the per-host usage), and
 * candidates are chosen with the claim's own capacity rule (fitsOnHost), so Placement and the
 * scheduler cannot disagree. Read-only: hosts register themselves, claims are the servers'.
 *
 * The functions below the readers are pure: they take records and answer Placement's questions.
 */
import { createHash } from 'node:crypto';
import { ComputeError } from '../errors/index.js';
import { CLAIM_RESOURCE_CLASSES, fitsOnHost } from '../ports/claims.js';
import type {
  AllocationRecord,
  ClaimResourceClass,
  ComputeHostRecord,
  HostUsage,
  ServerRecord,
  Store,
} from '../ports/store.js';

/** The resource classes vpmu's providers have inventory of (Placement's standard names). */
export const PLACEMENT_RESOURCE_CLASSES: readonly ClaimResourceClass[] = CLAIM_RESOURCE_CLASSES;

/** The trait Nova gives the provider of a disabled compute service (os-traits). */
export const DISABLED_TRAIT = 'COMPUTE_STATUS_DISABLED';

/** Traits vpmu knows even when no provider has them now (GET /traits lists them). */
export const KNOWN_TRAITS: readonly string[] = ['COMPUTE_STATUS_DISABLED', 'CUSTOM_HW_VPMU'];

/** RFC 4122 URL namespace; a provider's uuid is UUIDv5(URL, `vpmu://compute-host/<name>`). */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

/** The stable UUID (version 5) of the resource provider of a compute host. */
export function providerUuid(hostName: string): string {
  const namespace = Buffer.from(URL_NAMESPACE.replace(/-/gu, ''), 'hex');
  const hash = createHash('sha1')
    .update(namespace)
    .update(`vpmu://compute-host/${hostName}`, 'utf8')
    .digest();
  const bytes = Buffer.from(hash.subarray(0, 16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** One resource class of a provider, with Placement's fields. */
export interface ProviderInventory {
  readonly total: number;
  readonly reserved: number;
  readonly minUnit: number;
  /**
   * The most one allocation may take: the whole capacity, because vpmu's claim limits only what
   * all allocations add up to (Nova's libvirt driver reports `total` instead).
   */
  readonly maxUnit: number;
  readonly stepSize: number;
  readonly allocationRatio: number;
}

/** A resource provider: one compute host. */
export interface Provider {
  readonly uuid: string;
  readonly name: string;
  /**
   * A digest of the provider's inventory, traits and allocations: it changes whenever they do.
   * Not a counter: it does not only grow, and comes back if the state does.
   */
  readonly generation: number;
  readonly enabled: boolean;
  /** Classes with a total above 0, in PLACEMENT_RESOURCE_CLASSES order. */
  readonly inventories: ReadonlyMap<ClaimResourceClass, ProviderInventory>;
  /** What the claims hold, for every class in `inventories`. */
  readonly usages: ReadonlyMap<ClaimResourceClass, number>;
  /** Sorted; a disabled host also has COMPUTE_STATUS_DISABLED, as Nova sets it. */
  readonly traits: readonly string[];
}

/** Who holds an allocation, as Placement names consumers. */
export type ConsumerType = 'INSTANCE' | 'MIGRATION' | 'unknown';

/** One claim as a Placement allocation. */
export interface Consumer {
  /** The server's uuid; for the old flavor's claim during a resize, the resize's own uuid. */
  readonly uuid: string;
  readonly type: ConsumerType;
  /** The store's consumer id (the claim id). */
  readonly claimId: string;
  readonly providerUuid: string;
  readonly host: string;
  readonly projectId: string | null;
  readonly userId: string | null;
  /** Only the classes with an amount above 0 (Placement records no zero allocations). */
  readonly resources: ReadonlyMap<ClaimResourceClass, number>;
}

const NOTHING_USED: HostUsage = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };

/** Placement's capacity of one class: int((total - reserved) x allocation ratio). */
export function capacity(inventory: { total: number; reserved: number; allocationRatio: number }) {
  return Math.floor((inventory.total - inventory.reserved) * inventory.allocationRatio);
}

/** A host's provider, from its record, the usage the claims keep and the allocations on it. */
export function describeProvider(
  host: ComputeHostRecord,
  usage: HostUsage | undefined,
  allocations: readonly AllocationRecord[],
): Provider {
  const inventories = new Map<ClaimResourceClass, ProviderInventory>();
  const usages = new Map<ClaimResourceClass, number>();
  for (const rc of PLACEMENT_RESOURCE_CLASSES) {
    const inv = host.inventory[rc];
    if (inv.total <= 0) continue;
    inventories.set(rc, {
      total: inv.total,
      reserved: inv.reserved,
      minUnit: 1,
      maxUnit: Math.max(1, capacity(inv)),
      stepSize: 1,
      allocationRatio: inv.allocationRatio,
    });
    usages.set(rc, (usage ?? NOTHING_USED)[rc]);
  }
  const traits = [...new Set([...host.traits, ...(host.enabled ? [] : [DISABLED_TRAIT])])].sort();
  const held = allocations
    .filter((a) => a.host === host.name)
    .map((a) => [a.consumerId, CLAIM_RESOURCE_CLASSES.map((rc) => a.resources[rc])] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const digest = createHash('sha256')
    .update(JSON.stringify([host.inventory, traits, held]))
    .digest();
  return {
    uuid: providerUuid(host.name),
    name: host.name,
    generation: digest.readUIntBE(0, 6),
    enabled: host.enabled,
    inventories,
    usages,
    traits,
  };
}

/**
 * The claims as Placement consumers. A server's current claim is consumed by the server's uuid
 * (after a resize its claim id is `<server>/resize/<uuid>`); the old flavor's claim during a
 * resize by the resize's uuid, as Nova moves it to the migration. A claim no server names (heal
 * releases those at start) keeps its own id, of type `unknown`.
 */
export function describeConsumers(
  allocations: readonly AllocationRecord[],
  servers: readonly ServerRecord[],
): Consumer[] {
  const byClaim = new Map<string, { server: ServerRecord; type: ConsumerType; uuid: string }>();
  for (const server of servers) {
    if (server.claimId !== null) {
      byClaim.set(server.claimId, { server, type: 'INSTANCE', uuid: server.id });
    }
    const old = server.resize?.oldClaimId;
    if (old !== undefined && old !== '' && server.claimId !== null) {
      byClaim.set(old, { server, type: 'MIGRATION', uuid: resizeUuid(server.claimId) });
    }
  }
  return allocations.map((a) => {
    const owner = byClaim.get(a.consumerId);
    const resources = new Map<ClaimResourceClass, number>();
    for (const rc of CLAIM_RESOURCE_CLASSES) {
      if (a.resources[rc] > 0) resources.set(rc, a.resources[rc]);
    }
    return {
      uuid: owner?.uuid ?? resizeUuid(a.consumerId),
      type: owner?.type ?? 'unknown',
      claimId: a.consumerId,
      providerUuid: providerUuid(a.host),
      host: a.host,
      projectId: owner?.server.projectId ?? null,
      userId: owner?.server.userId ?? null,
      resources,
    };
  });
}

/**
 * The `<uuid>` of a `<server>/resize/<uuid>` claim id (or `/migrate/`, `/evacuate/`: a move's
 * claim on its destination); any other id as it is.
 */
function resizeUuid(claimId: string): string {
  const move = /\/(?:resize|migrate|evacuate)\/([^/]+)$/u.exec(claimId);
  return move?.[1] ?? claimId;
}

/** What Placement's answers are built from, read from the store. */
export interface PlacementState {
  readonly providers: readonly Provider[];
  readonly hosts: readonly ComputeHostRecord[];
  readonly usage: ReadonlyMap<string, HostUsage>;
  readonly allocations: readonly AllocationRecord[];
}

/** Reads the providers: compute hosts, the usage rows the claims keep, the allocations. */
export async function readPlacement(store: Store): Promise<PlacementState> {
  const [hosts, usage, allocations] = await Promise.all([
    store.listComputeHosts(),
    store.usageByHost(),
    store.listAllocations(),
  ]);
  return {
    providers: hosts.map((h) => describeProvider(h, usage.get(h.name), allocations)),
    hosts,
    usage,
    allocations,
  };
}

/** The consumers of every claim, with the servers that hold them. */
export async function readConsumers(store: Store, state: PlacementState): Promise<Consumer[]> {
  return describeConsumers(state.allocations, await store.listServers());
}

/** A provider by uuid, or a 404 in Placement's words. */
export function findProvider(state: PlacementState, uuid: string): Provider {
  const found = state.providers.find((p) => p.uuid === uuid);
  if (found === undefined) {
    throw new ComputeError('placement.not_found', `No resource provider with uuid ${uuid} found`);
  }
  return found;
}

/** Parsed `resources=VCPU:1,MEMORY_MB:512`. */
export type ResourceRequest = ReadonlyMap<ClaimResourceClass, number>;

const RESOURCES_FORM =
  'Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024.';

/**
 * Parses a `resources` query value in Placement's syntax and words (placement/util.py
 * normalize_resources_qs_param). A class vpmu has no inventory of is refused as unknown.
 */
export function parseResources(text: string): ResourceRequest {
  if (text.trim() === '') throw badQuery(`${RESOURCES_FORM} Got: empty string.`);
  const out = new Map<ClaimResourceClass, number>();
  for (const part of text.split(',')) {
    const pieces = part.split(':');
    if (pieces.length !== 2) throw badQuery(`${RESOURCES_FORM} Got: ${part}.`);
    const [name = '', amountText = ''] = pieces;
    if (!/^\d+$/u.test(amountText.trim()) || Number(amountText) < 1) {
      throw badQuery(
        `Requested resource ${name} expected positive integer amount. Got: ${amountText}.`,
      );
    }
    if (!isResourceClass(name)) {
      throw badQuery(
        `Invalid resource class in resources parameter: No such resource class ${name}. vpmu's providers have ${PLACEMENT_RESOURCE_CLASSES.join(', ')}.`,
      );
    }
    if (out.has(name)) {
      throw badQuery(
        `${RESOURCES_FORM} Got: ${text}. Resource class ${name} is given more than once.`,
      );
    }
    out.set(name, Number(amountText));
  }
  return out;
}

/** True for a resource class vpmu's providers have. */
export function isResourceClass(name: string): name is ClaimResourceClass {
  return (PLACEMENT_RESOURCE_CLASSES as readonly string[]).includes(name);
}

/** Parsed `required` values: every `anyOf` group needs one of its traits; `forbidden` none. */
export interface TraitRequest {
  readonly anyOf: readonly (readonly string[])[];
  readonly forbidden: readonly string[];
}

const TRAIT_NAME = /^[A-Z0-9_]+$/u;

/**
 * Parses the `required` query values: `A,B` (1.17), `!C` forbidden (1.22), `in:A,B` any of
 * (1.39). An unknown custom trait is refused as Placement refuses a trait it does not have;
 * other (standard) names are accepted and simply match no provider that lacks them.
 */
export function parseRequired(
  values: readonly string[],
  options: { forbidden: boolean; anyOf: boolean; known: ReadonlySet<string> },
): TraitRequest {
  const anyOf: string[][] = [];
  const forbidden: string[] = [];
  const form = `Expected 'required' parameter value of the form: HW_CPU_X86_VMX,${options.forbidden ? '!' : ''}CUSTOM_MAGIC.${options.anyOf ? ' Or the form: in:HW_CPU_X86_VMX,CUSTOM_MAGIC.' : ''}`;
  const check = (name: string, value: string) => {
    if (!TRAIT_NAME.test(name)) {
      throw badQuery(`Invalid query string parameters: ${form} Got: ${value}`);
    }
    if (name.startsWith('CUSTOM_') && !options.known.has(name)) {
      throw badQuery(`No such trait(s): ${name}.`);
    }
  };
  for (const value of values) {
    if (options.anyOf && value.startsWith('in:')) {
      const names = value.slice(3).split(',');
      for (const name of names) check(name, value);
      anyOf.push(names);
      continue;
    }
    for (const item of value.split(',')) {
      if (item.startsWith('!')) {
        if (!options.forbidden) {
          throw badQuery(`Invalid query string parameters: ${form} Got: ${value}`);
        }
        check(item.slice(1), value);
        forbidden.push(item.slice(1));
      } else {
        check(item, value);
        anyOf.push([item]);
      }
    }
  }
  const conflict = forbidden.find((t) => anyOf.some((g) => g.length === 1 && g[0] === t));
  if (conflict !== undefined) {
    throw badQuery(
      `Conflicting required and forbidden traits found in the following traits keys: required: (${conflict}, !${conflict})`,
    );
  }
  return { anyOf, forbidden };
}

/** True when the provider has the traits the request asks for. */
export function hasTraits(provider: Provider, traits: TraitRequest): boolean {
  const own = new Set(provider.traits);
  return (
    traits.anyOf.every((group) => group.some((t) => own.has(t))) &&
    !traits.forbidden.some((t) => own.has(t))
  );
}

/**
 * True when the provider can take `resources` now: an inventory for every requested class, the
 * unit limits, and the claim's own rule (enabled host, capacity minus usage) — what store.claim()
 * would decide.
 */
export function hasRoom(
  provider: Provider,
  host: ComputeHostRecord,
  usage: HostUsage | undefined,
  resources: ResourceRequest,
): boolean {
  const requested: Record<ClaimResourceClass, number> = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
  for (const [rc, amount] of resources) {
    const inv = provider.inventories.get(rc);
    if (inv === undefined || amount < inv.minUnit || amount > inv.maxUnit) return false;
    if ((amount - inv.minUnit) % inv.stepSize !== 0) return false;
    requested[rc] = amount;
  }
  return fitsOnHost(host, usage ?? NOTHING_USED, requested);
}

/** The providers that can take `resources` with `traits` now, in host-name order. */
export function allocationCandidates(
  state: PlacementState,
  resources: ResourceRequest,
  traits: TraitRequest,
): Provider[] {
  return state.providers.filter((provider) => {
    const host = state.hosts.find((h) => h.name === provider.name);
    return (
      host !== undefined &&
      hasTraits(provider, traits) &&
      hasRoom(provider, host, state.usage.get(host.name), resources)
    );
  });
}

/** Every trait vpmu knows of: the hosts' and KNOWN_TRAITS, sorted. */
export function knownTraits(state: PlacementState): string[] {
  return [...new Set([...KNOWN_TRAITS, ...state.providers.flatMap((p) => p.traits)])].sort();
}

function badQuery(message: string): ComputeError {
  return new ComputeError('request.invalid', message);
}
