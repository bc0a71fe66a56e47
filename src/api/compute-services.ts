/**
 * Compute API: os-services, as Nova serves it. Before 2.53 a service is named by host and binary
 * (PUT /os-services/enable, /disable, /disable-log-reason, and /force-down from 2.11) and has an
 * integer id; from 2.53 it is PUT /os-services/{uuid} with status, disabled_reason and
 * forced_down. `forced_down` is listed from 2.11; unknown query parameters are refused from 2.75.
 */
import type { Context, Hono } from 'hono';
import { ComputeError } from '../errors/index.js';
import {
  COMPUTE_BINARY,
  DEFAULT_AVAILABILITY_ZONE,
  zonesByHost,
  deleteComputeService,
  findByHostAndBinary,
  findComputeService,
  listComputeServices,
  updateComputeService,
  type ComputeService,
  type ComputeServiceDeps,
  type RequestContext,
  type ServiceChanges,
} from '../services/index.js';
import { caller, invalidField, novaTime, readJsonObject, refuseUnknownKeys } from './_http.js';
import { lastValue, queryParams, rejectUnknownParams } from './_query.js';
import { novaBoolean } from './compute.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { atLeast, type Microversion } from './microversion.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu;

/** What telling a compute service's state needs, from the API's deps (the setting is the servers'). */
export function computeServiceDeps(deps: ApiDeps): ComputeServiceDeps {
  return { store: deps.store, clock: deps.clock, serviceDownTime: deps.servers.serviceDownTime };
}

/** The API's deps with the compute services' setting. */
type ServiceApiDeps = ApiDeps & ComputeServiceDeps;

/** Adds the os-services routes to the compute app (already behind the token check). */
export function addComputeServiceRoutes(app: Hono<ApiEnv>, apiDeps: ApiDeps): void {
  const deps: ServiceApiDeps = { ...apiDeps, ...computeServiceDeps(apiDeps) };
  app.get('/v2.1/os-services', async (c) => {
    const mv = c.get('microversion');
    const params = queryParams(c);
    if (atLeast(mv, 2, 75)) rejectUnknownParams(params, new Set(['host', 'binary']));
    const host = lastValue(params, 'host');
    const binary = lastValue(params, 'binary');
    const services = (await listComputeServices(deps, caller(c))).filter(
      (s) =>
        (host === undefined || s.host.name === host) &&
        (binary === undefined || binary === COMPUTE_BINARY),
    );
    const zones = zonesByHost(await deps.store.listAggregates());
    return c.json({ services: services.map((s) => serviceView(s, mv, zones)) });
  });

  app.put('/v2.1/os-services/:id', async (c) => {
    const mv = c.get('microversion');
    const id = c.req.param('id');
    const ctx = caller(c);
    if (atLeast(mv, 2, 53)) {
      if (!UUID.test(id)) throw new ComputeError('request.invalid', `Invalid uuid ${id}`);
      const service = await findComputeService(deps, ctx, id);
      const changes = parseUpdate(await readJsonObject(c, 'object'));
      const updated = await applyUpdate(deps, ctx, service, changes);
      const zones = zonesByHost(await deps.store.listAggregates());
      return c.json({ service: serviceView(updated, mv, zones) });
    }
    return c.json({ service: await legacyUpdate(c, deps, id, mv) });
  });

  app.delete('/v2.1/os-services/:id', async (c) => {
    const mv = c.get('microversion');
    const id = c.req.param('id');
    if (atLeast(mv, 2, 53) ? !UUID.test(id) : !/^\d+$/u.test(id)) {
      // NOTE: Nova wording (services.py delete).
      throw new ComputeError(
        'request.invalid',
        atLeast(mv, 2, 53) ? `Invalid uuid ${id}` : `Invalid ID ${id}`,
      );
    }
    const ctx = caller(c);
    await deleteComputeService(deps, ctx, await findComputeService(deps, ctx, id));
    return c.body(null, 204);
  });
}

/** Nova's service view: `forced_down` from 2.11, the UUID as `id` from 2.53. */
function serviceView(
  s: ComputeService,
  mv: Microversion,
  zones: ReadonlyMap<string, string>,
): Record<string, unknown> {
  return {
    id: atLeast(mv, 2, 53) ? s.uuid : s.id,
    binary: COMPUTE_BINARY,
    host: s.host.name,
    zone: zones.get(s.host.name) ?? DEFAULT_AVAILABILITY_ZONE,
    status: s.host.enabled ? 'enabled' : 'disabled',
    state: s.state,
    // Nova's service updated_at: when the compute last reported, else when it registered.
    updated_at: novaTime(s.host.heartbeatAt ?? s.host.updatedAt),
    disabled_reason: s.host.disabledReason ?? null,
    ...(atLeast(mv, 2, 11) ? { forced_down: s.host.forcedDown ?? false } : {}),
  };
}

/** The 2.53 body: status, disabled_reason (only with status disabled) and forced_down. */
function parseUpdate(body: Record<string, unknown>): ServiceChanges {
  refuseUnknownKeys('service', body, ['status', 'disabled_reason', 'forced_down']);
  const { status, disabled_reason: reason, forced_down: forced } = body;
  if (status !== undefined && status !== 'enabled' && status !== 'disabled') {
    throw invalidField(
      'status',
      status,
      `${JSON.stringify(status)} is not one of ['enabled', 'disabled']`,
    );
  }
  if (reason !== undefined) checkReason(reason);
  const forcedDown = forced === undefined ? undefined : novaBoolean(forced);
  if (forced !== undefined && forcedDown === undefined) {
    throw invalidField('forced_down', forced, `${JSON.stringify(forced)} is not of type 'boolean'`);
  }
  if (status === undefined && forcedDown === undefined) {
    // NOTE: Nova wording (services.py update).
    throw new ComputeError(
      'request.invalid',
      "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
    );
  }
  if (status === 'enabled' && reason !== undefined) {
    throw new ComputeError(
      'request.invalid',
      "Specifying 'disabled_reason' with status 'enabled' is invalid.",
    );
  }
  return {
    ...(status === undefined ? {} : { enabled: status === 'enabled' }),
    ...(typeof reason === 'string' ? { disabledReason: reason } : {}),
    ...(forcedDown === undefined ? {} : { forcedDown }),
  };
}

/** PUT /os-services/{enable|disable|disable-log-reason|force-down} before 2.53. */
async function legacyUpdate(
  c: Context<ApiEnv>,
  deps: ServiceApiDeps,
  action: string,
  mv: Microversion,
): Promise<Record<string, unknown>> {
  const known = [
    'enable',
    'disable',
    'disable-log-reason',
    ...(atLeast(mv, 2, 11) ? ['force-down'] : []),
  ];
  // NOTE: Nova wording (services.py update: an action it does not know).
  if (!known.includes(action)) throw new ComputeError('route.not_found', 'Unknown action');
  const body = await readJsonObject(c, 'object with "host" and "binary"');
  const allowed = [
    'host',
    'binary',
    ...(action === 'disable-log-reason' ? ['disabled_reason'] : []),
    ...(action === 'force-down' ? ['forced_down'] : []),
  ];
  refuseUnknownKeys('service', body, allowed);
  for (const key of ['host', 'binary']) {
    const value = body[key];
    if (typeof value !== 'string' || value.length === 0 || value.length > 255) {
      throw invalidField(key, value, `${key} is a string of 1 to 255 characters and is required`);
    }
  }
  const host = body.host as string;
  const binary = body.binary as string;
  const ctx = caller(c);
  const service = await findByHostAndBinary(deps, ctx, host, binary);
  switch (action) {
    case 'enable':
      await updateComputeService(deps, ctx, service, { enabled: true });
      return { host, binary, status: 'enabled' };
    case 'disable':
      await updateComputeService(deps, ctx, service, { enabled: false });
      return { host, binary, status: 'disabled' };
    case 'disable-log-reason': {
      const reason = body.disabled_reason;
      if (reason === undefined) {
        // NOTE: Nova wording (services.py _disable_log_reason).
        throw new ComputeError('request.invalid', 'Missing disabled reason field');
      }
      checkReason(reason);
      await updateComputeService(deps, ctx, service, {
        enabled: false,
        disabledReason: reason as string,
      });
      return { host, binary, status: 'disabled', disabled_reason: reason };
    }
    default: {
      const forcedDown = novaBoolean(body.forced_down);
      if (forcedDown === undefined) {
        throw invalidField(
          'forced_down',
          body.forced_down,
          `${JSON.stringify(body.forced_down)} is not of type 'boolean'`,
        );
      }
      await applyUpdate(deps, ctx, service, { forcedDown });
      return { host, binary, forced_down: forcedDown };
    }
  }
}

/**
 * An operator's change. A compute service that is no longer forced down is up again: the guests
 * evacuated off its host are removed there and their old claims released (as Nova's compute
 * does when it starts).
 */
async function applyUpdate(
  deps: ServiceApiDeps,
  ctx: RequestContext,
  service: ComputeService,
  changes: ServiceChanges,
): Promise<ComputeService> {
  const updated = await updateComputeService(deps, ctx, service, changes);
  if (service.host.forcedDown === true && updated.host.forcedDown !== true) {
    await deps.servers.cleanUpEvacuated(updated.host.name);
  }
  return updated;
}

function checkReason(reason: unknown): void {
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > 255) {
    throw invalidField(
      'disabled_reason',
      reason,
      'disabled_reason is a string of 1 to 255 characters',
    );
  }
}
