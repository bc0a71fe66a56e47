/**
 * Nova's server metadata API (nova/api/openstack/compute/server_metadata.py and its schema):
 * GET/PUT/POST /servers/{id}/metadata and GET/PUT/DELETE /servers/{id}/metadata/{key}, with
 * Nova's bodies, statuses and messages. The item limit is Nova's default metadata_items quota.
 */
import type { Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import { caller, readJsonObject, unexpectedKey } from './_http.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { parseMetadata } from './server-fields.js';

/** The body's one member `key`, refusing any other (Nova's additionalProperties: false). */
function only(body: Record<string, unknown>, key: string): unknown {
  for (const other of Object.keys(body)) {
    if (other !== key) {
      throw unexpectedKey('(the body)', body, other);
    }
  }
  if (body[key] === undefined) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute (the body). Value: ${JSON.stringify(body)}. '${key}' is a required property`,
    );
  }
  return body[key];
}

export function addServerMetadataRoutes(app: Hono<ApiEnv>, deps: ApiDeps): void {
  const servers = deps.servers;
  const base = '/v2.1/servers/:id/metadata';

  app.get(base, async (c) => {
    const server = await servers.show(caller(c), c.req.param('id'));
    return c.json({ metadata: { ...(server.metadata ?? {}) } });
  });

  const setAll = (replace: boolean) =>
    app[replace ? 'put' : 'post'](base, async (c) => {
      const ctx = caller(c);
      const id = c.req.param('id');
      // Visibility before the body: another project's server is 404 whatever is sent.
      await servers.show(ctx, id);
      const body = await readJsonObject(c, 'object with "metadata"');
      const items = parseMetadata('metadata', only(body, 'metadata'));
      return c.json({ metadata: { ...(await servers.setMetadata(ctx, id, items, replace)) } });
    });
  setAll(true);
  setAll(false);

  app.get(`${base}/:key`, async (c) => {
    const server = await servers.show(caller(c), c.req.param('id'));
    const key = c.req.param('key');
    const metadata = server.metadata ?? {};
    if (!Object.hasOwn(metadata, key)) {
      // NOTE: Nova wording (server_metadata.py).
      throw new ComputeError('server.metadata_not_found', 'Metadata item was not found');
    }
    return c.json({ meta: { [key]: metadata[key] } });
  });

  app.put(`${base}/:key`, async (c) => {
    const ctx = caller(c);
    const id = c.req.param('id');
    const key = c.req.param('key');
    await servers.show(ctx, id);
    const body = await readJsonObject(c, 'object with "meta"');
    const meta = only(body, 'meta');
    if (typeof meta === 'object' && meta !== null && !Array.isArray(meta)) {
      const count = Object.keys(meta).length;
      if (count !== 1) {
        // NOTE: Nova's schema (minProperties/maxProperties 1), said plainly.
        throw new ComputeError(
          'request.invalid',
          `Invalid input for field/attribute meta. Value: ${JSON.stringify(meta)}. ${count === 0 ? 'It must hold one item' : 'Request body contains too many items'}`,
        );
      }
    }
    const items = parseMetadata('meta', meta);
    if (!Object.hasOwn(items, key)) {
      // NOTE: Nova wording (server_metadata.py).
      throw new ComputeError('request.invalid', 'Request body and URI mismatch');
    }
    await servers.setMetadata(ctx, id, items, false);
    return c.json({ meta: items });
  });

  app.delete(`${base}/:key`, async (c) => {
    await servers.deleteMetadataItem(caller(c), c.req.param('id'), c.req.param('key'));
    return c.body(null, 204);
  });
}
