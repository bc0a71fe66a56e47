/**
 * The one place where errors become HTTP. Compute and image faults use Nova's body
 * (`{"badRequest": {"code": 400, "message": …}}`); identity faults use Keystone's
 * (`{"error": {"code": 401, "title": "Unauthorized", "message": …}}`); placement faults use
 * Placement's (`{"errors": [{"status": 404, "title": "Not Found", "detail": …, "code": …}]}`).
 * Every fault carries the stable code in `X-Compute-Error-Code`. Unexpected errors never leak
 * their message, nor do failures whose words are about the host (libvirt's, a path): those go to
 * the log.
 */
import { ComputeError, speaksOfHost, type ErrorCode } from '../errors/index.js';

/** Nova's fault names by status (nova/api/openstack/wsgi.py, class Fault). */
const FAULT_NAMES: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** Keystone's error titles by status. */
const KEYSTONE_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Placement's titles and webob's explanations by status: Placement's `detail` is the explanation,
 * a blank line and the message (osc-placement shows the last line).
 */
const PLACEMENT_STATUS: Readonly<Record<number, readonly [string, string]>> = {
  400: [
    'Bad Request',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  ],
  401: [
    'Unauthorized',
    'This server could not verify that you are authorized to access the document you requested.',
  ],
  403: ['Forbidden', 'Access was denied to this resource.'],
  404: ['Not Found', 'The resource could not be found.'],
  405: ['Method Not Allowed', 'The method specified is not allowed for this resource.'],
  406: ['Not Acceptable', 'The resource could not be generated in an acceptable form.'],
  413: ['Request Entity Too Large', 'The request is larger than the server is willing to process.'],
  500: [
    'Internal Server Error',
    'The server has either erred or is incapable of performing the requested operation.',
  ],
  503: [
    'Service Unavailable',
    'The server is currently unavailable. Please try again at a later time.',
  ],
};

/** Which API family answers, deciding the fault body's shape. */
export type ApiFamily = 'compute' | 'image' | 'identity' | 'placement';

/** An HTTP fault: status, stable code and body. */
export interface Fault {
  readonly status: number;
  readonly code: ErrorCode;
  readonly body: Record<string, unknown>;
  /** True for errors nobody threw on purpose (a bug): log them with the stack. */
  readonly unexpected: boolean;
  /** For a storage failure, SQLite's or the file system's code (for the log, never the body). */
  readonly cause?: string;
}

/**
 * What the state directory's disk said, when `err` is a storage failure: SQLite's result codes
 * (SqliteError) and the file system's errno codes (Node's system errors). Undefined otherwise.
 */
export function storageFailure(err: unknown): { full: boolean; cause: string } | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (!(err instanceof Error) || typeof code !== 'string') return undefined;
  if (['SQLITE_FULL', 'ENOSPC', 'EDQUOT'].includes(code)) return { full: true, cause: code };
  const failing =
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    ['EROFS', 'EIO'].includes(code);
  return failing ? { full: false, cause: code } : undefined;
}

/**
 * A storage failure as one of our errors: path-free, no SQLite or errno text for tenants. (Image
 * data that does not fit is the image store's own 413, `image.over_limit`.)
 */
function storageError(failure: { full: boolean }): ComputeError {
  return new ComputeError(
    'storage.unavailable',
    `The service cannot record changes now: its storage is ${failure.full ? 'full' : 'read-only or failing'}. Nothing was changed; try again later.`,
  );
}

/** Turns anything thrown into a fault for the given API family. */
export function toFault(thrown: unknown, family: ApiFamily, requestId: string): Fault {
  const failure = storageFailure(thrown);
  const err = failure === undefined ? thrown : storageError(failure);
  const known = err instanceof ComputeError;
  const status = known ? err.status : 500;
  const code: ErrorCode = known ? err.code : 'internal.unexpected';
  const message = !known
    ? `Unexpected API Error. The service log has the details under request ${requestId}.`
    : status >= 500 && speaksOfHost(code)
      ? `The compute host could not complete the request (${code}). The service log has the details under request ${requestId}.`
      : err.message;
  const cause = failure === undefined ? {} : { cause: failure.cause };
  if (family === 'identity') {
    const title = KEYSTONE_TITLES[status] ?? 'Error';
    return {
      status,
      code,
      unexpected: !known,
      ...cause,
      body: { error: { code: status, title, message } },
    };
  }
  if (family === 'placement') {
    const [title, explanation] = PLACEMENT_STATUS[status] ?? ['Error', 'The request failed.'];
    return {
      status,
      code,
      unexpected: !known,
      ...cause,
      body: {
        errors: [
          {
            status,
            title,
            detail: `${explanation}\n\n ${message}  `,
            code: 'placement.undefined_code',
            request_id: requestId,
          },
        ],
      },
    };
  }
  const name = FAULT_NAMES[status] ?? 'computeFault';
  return {
    status,
    code,
    unexpected: !known,
    ...cause,
    body: { [name]: { code: status, message } },
  };
}
