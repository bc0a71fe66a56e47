/**
 * The `same_host` and `different_host` scheduler hints, as Nova's SameHostFilter and
 * DifferentHostFilter read them: a host passes `same_host` when it runs any of the named servers,
 * and `different_host` when it runs none of them.
 */
import { fail, ok, type Result } from '../domain/index.js';

export interface HostHints {
  /** The hosts the `same_host` servers run on; undefined when the hint was not given. */
  readonly sameHost?: ReadonlySet<string>;
  /** The hosts the `different_host` servers run on. */
  readonly differentHost?: ReadonlySet<string>;
}

/** The hosts the hints allow, in their weighed order, or NoValidHost saying which hint. */
export function placeByHints<H extends { readonly name: string }>(
  hosts: readonly H[],
  hints: HostHints,
): Result<H[]> {
  const { sameHost, differentHost } = hints;
  const allowed = hosts.filter(
    (h) => (sameHost?.has(h.name) ?? true) && !(differentHost?.has(h.name) ?? false),
  );
  if (allowed.length > 0) return ok(allowed);
  const why =
    sameHost !== undefined && !hosts.some((h) => sameHost.has(h.name))
      ? `same_host asks for the host of the named servers (${[...sameHost].join(', ') || 'none is placed'}), which did not pass the other filters`
      : `different_host rules out every host that passed the other filters (${hosts.map((h) => h.name).join(', ')})`;
  return fail({
    code: 'scheduler.no_valid_host',
    path: ['os:scheduler_hints'],
    message: `No valid host was found. ${why}.`,
  });
}
