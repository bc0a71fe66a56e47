/**
 * The HTTP edge: one Hono app serving identity (`/identity`), compute (`/compute`), image
 * (`/image`) and placement (`/placement`) on one port, devstack-style. Every response carries a
 * request id; every error goes through toFault(); unexpected errors are logged with their stack
 * and answered with a bare 500.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ComputeError } from '../errors/index.js';
import { TokenCache } from '../services/index.js';
import { computeRoutes } from './compute.js';
import type { ApiDeps, ApiEnv } from './deps.js';
import { toFault, type ApiFamily } from './faults.js';
import { identityRoutes } from './identity.js';
import { imageRoutes } from './image.js';
import { placementFaultBody, placementRoutes } from './placement.js';

export type { ApiDeps, ApiLogger } from './deps.js';

/** The largest JSON request body accepted. */
export const JSON_BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds the whole API. */
export function createApi(given: ApiDeps): Hono<ApiEnv> {
  // Validated tokens are cached only where this process makes every identity write (its writes
  // clear the cache); on a store other processes write too, each request reads the token's state,
  // so a revocation through any process refuses the token here at once.
  const deps: ApiDeps =
    given.tokenCache !== undefined || given.store.sharedWithOtherProcesses === true
      ? given
      : { ...given, tokenCache: new TokenCache() };
  const app = new Hono<ApiEnv>({ strict: false });

  app.use('*', async (c, next) => {
    const requestId = `req-${deps.ids.newUuid()}`;
    c.set('requestId', requestId);
    c.set('caller', undefined);
    c.set('publicEndpoint', deps.publicEndpoint());
    const started = performance.now();
    // Set before the response exists: a header added afterwards makes Hono rebuild the response
    // as a stream, which the Node adapter then writes on its slow path.
    c.header('X-OpenStack-Request-ID', requestId);
    if (c.req.path.startsWith('/compute')) c.header('X-Compute-Request-ID', requestId);
    await next();
    const who = c.get('caller');
    deps.log.info(
      {
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ...(who === undefined ? {} : { user: who.userName, project: who.projectName }),
      },
      'request',
    );
  });

  // JSON documents are small; only image data (PUT …/file) may be large.
  const jsonLimit: MiddlewareHandler<ApiEnv> = bodyLimit({
    maxSize: JSON_BODY_LIMIT_BYTES,
    onError: () => {
      throw new ComputeError(
        'request.too_large',
        `Cannot accept a request body over ${JSON_BODY_LIMIT_BYTES} bytes; only image data uploads may be larger`,
      );
    },
  });
  // Only on methods with a body: checking for one builds the whole web Request of a Node request,
  // which was a tenth of the CPU of a GET.
  app.on(['POST', 'PUT', 'PATCH'], ['/identity/*', '/compute/*'], jsonLimit);
  app.on(['POST', 'PATCH'], '/image/*', jsonLimit);

  app.get('/', (c) =>
    c.json({
      name: 'vpmu',
      endpoints: {
        identity: '/identity/v3',
        compute: '/compute/v2.1',
        image: '/image',
        placement: '/placement',
      },
    }),
  );
  app.route('/identity', identityRoutes(deps));
  app.route('/compute', computeRoutes(deps));
  app.route('/image', imageRoutes(deps));
  app.route('/placement', placementRoutes(deps));

  app.notFound((c) => {
    const err = new ComputeError(
      'route.not_found',
      `The resource could not be found: no endpoint answers ${c.req.method} ${c.req.path}.`,
    );
    return respond(c.req.path, err, c.get('requestId'), deps, (fault) => {
      c.header('X-Compute-Error-Code', fault.code);
      return c.json(faultBody(c.req.path, fault), fault.status as ContentfulStatusCode);
    });
  });

  app.onError((err, c) => {
    if (c.req.raw.signal.aborted || isRequestAborted(err)) {
      // Nobody is left to answer; nginx's 499 in the request log says so without calling it a 500.
      deps.log.info(
        { requestId: c.get('requestId'), path: c.req.path, reason: errorText(err) },
        'client closed the request',
      );
      return c.body(null, 499 as ContentfulStatusCode);
    }
    return respond(c.req.path, err, c.get('requestId'), deps, (fault) => {
      c.header('X-Compute-Error-Code', fault.code);
      if (fault.status === 401 && c.req.path.startsWith('/identity')) {
        c.header('WWW-Authenticate', 'Keystone uri="/identity"');
      }
      if (fault.status === 401 && isPlacement(c.req.path)) {
        c.header('WWW-Authenticate', `Keystone uri="${c.get('publicEndpoint')}/identity"`);
      }
      return c.json(faultBody(c.req.path, fault), fault.status as ContentfulStatusCode);
    });
  });

  return app;
}

/** The error Node's HTTP server gives a request body when the client goes away mid-way. */
function isRequestAborted(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.message === 'aborted' &&
    (err as { code?: unknown }).code === 'ECONNRESET'
  );
}

function isPlacement(path: string): boolean {
  return path === '/placement' || path.startsWith('/placement/');
}

function faultBody(path: string, fault: ReturnType<typeof toFault>): Record<string, unknown> {
  return isPlacement(path) ? placementFaultBody(fault) : fault.body;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function respond(
  path: string,
  err: unknown,
  requestId: string,
  deps: ApiDeps,
  send: (fault: ReturnType<typeof toFault>) => Response,
): Response {
  const family: ApiFamily = path.startsWith('/identity')
    ? 'identity'
    : path.startsWith('/image')
      ? 'image'
      : isPlacement(path)
        ? 'placement'
        : 'compute';
  const fault = toFault(err, family, requestId);
  if (fault.unexpected) {
    deps.log.error(
      {
        requestId,
        path,
        err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err),
      },
      'unexpected error',
    );
  } else if (fault.cause !== undefined) {
    const { code, status, cause } = fault;
    deps.log.error({ requestId, path, code, status, cause }, 'storage failure');
  } else if (fault.status >= 500) {
    // A known failure: the client sees a plain message, the operator the whole of it.
    const cause = err instanceof Error ? err.cause : undefined;
    deps.log.warn(
      {
        requestId,
        path,
        code: fault.code,
        status: fault.status,
        detail: err instanceof Error ? err.message : String(err),
        ...(cause === undefined ? {} : { cause: errorText(cause) }),
      },
      'fault',
    );
  } else {
    deps.log.info({ requestId, path, code: fault.code, status: fault.status }, 'fault');
  }
  return send(fault);
}
