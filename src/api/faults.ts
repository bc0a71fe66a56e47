/**
 * The one place where errors become HTTP. Compute and image faults use Nova's body
 * (`{"badRequest": {"code": 400, "message": …}}`); identity faults use Keystone's
 * (`{"error": {"code": 401, "title": "Unauthorized", "message": …}}`). Every fault carries the
 * stable code in `X-Compute-Error-Code`. Unexpected errors never leak their message.
 */
import { ComputeError, type ErrorCode } from '../errors/index.js';

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
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

/** Which API family answers, deciding the fault body's shape. */
export type ApiFamily = 'compute' | 'image' | 'identity';

/** An HTTP fault: status, stable code and body. */
export interface Fault {
  readonly status: number;
  readonly code: ErrorCode;
  readonly body: Record<string, unknown>;
  /** True for errors nobody threw on purpose (a bug): log them with the stack. */
  readonly unexpected: boolean;
}

/** Turns anything thrown into a fault for the given API family. */
export function toFault(err: unknown, family: ApiFamily, requestId: string): Fault {
  const known = err instanceof ComputeError;
  const status = known ? err.status : 500;
  const code: ErrorCode = known ? err.code : 'internal.unexpected';
  const message = known
    ? err.message
    : `Unexpected API Error. The service log has the details under request ${requestId}.`;
  if (family === 'identity') {
    const title = KEYSTONE_TITLES[status] ?? 'Error';
    return { status, code, unexpected: !known, body: { error: { code: status, title, message } } };
  }
  const name = FAULT_NAMES[status] ?? 'computeFault';
  return { status, code, unexpected: !known, body: { [name]: { code: status, message } } };
}
