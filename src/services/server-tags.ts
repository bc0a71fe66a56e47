/**
 * Nova's server tags (2.26, nova/api/openstack/compute/server_tags.py): at most 50 per server,
 * each 1 to 60 characters without '/' or ','. Reading takes any role that sees the server;
 * changing needs a writer and a server in vm_state active, paused, suspended or stopped, as in
 * Nova.
 */
import { ComputeError } from '../errors/index.js';
import type { ServerRecord } from '../ports/store.js';
import { requireWriter, type RequestContext } from './identity.js';
import type { Servers } from './servers.js';
import type { Store } from '../ports/store.js';

/** Nova's per-server limit (objects.instance.MAX_TAG_COUNT). */
export const MAX_SERVER_TAGS = 50;
/** Nova's tag length limit (objects.tag.MAX_TAG_LENGTH). */
const MAX_TAG_LENGTH = 60;

/** What the tag use cases need. */
export interface ServerTagsDeps {
  readonly store: Store;
  readonly servers: Servers;
}

/** Outcome of adding one tag: Nova answers 201 for a new tag and 204 for one already there. */
export type TagAdded = 'created' | 'existed';

/** The server tag use cases. */
export class ServerTags {
  readonly #deps: ServerTagsDeps;

  constructor(deps: ServerTagsDeps) {
    this.#deps = deps;
  }

  async list(ctx: RequestContext, id: string): Promise<readonly string[]> {
    return (await this.#deps.servers.show(ctx, id)).tags;
  }

  /** Resolves when the server has the tag; `server.tag_not_found` otherwise. */
  async check(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const server = await this.#deps.servers.show(ctx, id);
    if (!server.tags.includes(tag)) {
      // NOTE: Nova wording (server_tags.py show).
      throw new ComputeError('server.tag_not_found', `Server ${id} has no tag '${tag}'`);
    }
  }

  /** Adds one tag; the limit counts before the duplicate check, as in Nova. */
  async add(ctx: RequestContext, id: string, tag: string): Promise<TagAdded> {
    await this.#changeable(ctx, id, 'update tag');
    const problem = tagProblem(tag);
    if (problem !== null) {
      // NOTE: Nova wording (server_tags.py update), with the reason in place of jsonschema's.
      throw new ComputeError(
        'request.invalid',
        `Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: ${problem}`,
      );
    }
    let added: TagAdded = 'existed';
    await this.#deps.store.updateServerTags(id, (current) => {
      if (current.length >= MAX_SERVER_TAGS) {
        throw new ComputeError(
          'request.invalid',
          `The number of tags exceeded the per-server limit ${MAX_SERVER_TAGS}`,
        );
      }
      if (current.includes(tag)) return current;
      added = 'created';
      return [...current, tag];
    });
    return added;
  }

  /**
   * Replaces every tag (already checked by `parseTagList`); duplicates count once. Tags kept keep
   * their place, new ones follow in the order given.
   */
  async replace(
    ctx: RequestContext,
    id: string,
    tags: readonly string[],
  ): Promise<readonly string[]> {
    await this.#changeable(ctx, id, 'update tags');
    const wanted = new Set(tags);
    return this.#deps.store.updateServerTags(id, (current) => {
      const kept = current.filter((t) => wanted.has(t));
      return [...kept, ...[...wanted].filter((t) => !kept.includes(t))];
    });
  }

  async remove(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await this.#changeable(ctx, id, 'delete tag');
    await this.#deps.store.updateServerTags(id, (current) => {
      if (!current.includes(tag)) {
        // NOTE: Nova wording (nova/exception.py InstanceTagNotFound).
        throw new ComputeError('server.tag_not_found', `Instance ${id} has no tag '${tag}'`);
      }
      return current.filter((t) => t !== tag);
    });
  }

  async removeAll(ctx: RequestContext, id: string): Promise<void> {
    await this.#changeable(ctx, id, 'delete tags');
    await this.#deps.store.updateServerTags(id, () => []);
  }

  async #changeable(ctx: RequestContext, id: string, action: string): Promise<ServerRecord> {
    const server = await this.#deps.servers.show(ctx, id);
    requireWriter(ctx, `${action} on a server`);
    if (!['active', 'paused', 'suspended', 'stopped'].includes(server.vmState)) {
      // NOTE: Nova wording (common.py raise_http_conflict_for_instance_invalid_state).
      throw new ComputeError(
        'server.invalid_state',
        `Cannot '${action}' instance ${id} while it is in vm_state ${server.vmState}`,
      );
    }
    return server;
  }
}

/** Why a tag breaks Nova's rule (jsonschema's wording), or null when it is valid. */
export function tagProblem(tag: string): string | null {
  if (tag.length === 0) return `'' is too short`;
  if (Array.from(tag).length > MAX_TAG_LENGTH) return `'${tag}' is too long`;
  if (/[,/]/u.test(tag)) return `'${tag}' does not match '^[^,/]*$'`;
  return null;
}
