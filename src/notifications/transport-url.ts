/**
 * oslo.messaging's transport URL, `rabbit://USER:PASS@HOST:PORT[,USER:PASS@HOST:PORT…]/VHOST`,
 * parsed purely. Credentials and the virtual host are percent-decoded, as oslo does.
 */
import { fail, ok, type Result } from '../domain/index.js';
import type { Issue } from '../errors/index.js';

/** One broker of the URL. */
export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
}

/** A parsed `rabbit://` URL. */
export interface TransportUrl {
  /** In the URL's order; a client tries the next one on reconnect. */
  readonly brokers: readonly [BrokerAddress, ...BrokerAddress[]];
  /** `/` when the URL has no path or an empty one. */
  readonly virtualHost: string;
}

const DEFAULT_PORT = 5672;
const SCHEME = 'rabbit://';

function issue(url: string, problem: string): Result<never> {
  return fail({
    code: 'notifier.invalid_transport_url',
    path: ['transport_url'],
    message: `Cannot use transport URL "${redactUrl(url)}": ${problem}`,
  } satisfies Issue);
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Parses a transport URL. Every problem names the URL (with its passwords masked) and what is
 * wrong with it.
 * @example parseTransportUrl('rabbit://guest:guest@127.0.0.1:5672/')
 */
export function parseTransportUrl(url: string): Result<TransportUrl> {
  if (!url.startsWith(SCHEME)) {
    const scheme = /^([a-z0-9+.-]+):\/\//iu.exec(url)?.[1];
    return issue(
      url,
      scheme === undefined
        ? 'expected rabbit://USER:PASS@HOST:PORT/VHOST'
        : `scheme "${scheme}" is not supported; use rabbit://`,
    );
  }
  const rest = url.slice(SCHEME.length);
  if (rest.includes('?') || rest.includes('#')) {
    return issue(url, 'query options (after "?") are not supported');
  }
  const slash = rest.indexOf('/');
  const hostPart = slash === -1 ? rest : rest.slice(0, slash);
  const vhostRaw = slash === -1 ? '' : rest.slice(slash + 1);
  const virtualHost = decode(vhostRaw);
  if (virtualHost === undefined)
    return issue(url, 'the virtual host is not valid percent-encoding');
  if (hostPart === '') return issue(url, 'no host given');

  const brokers: BrokerAddress[] = [];
  for (const entry of hostPart.split(',')) {
    const at = entry.lastIndexOf('@');
    const userInfo = at === -1 ? '' : entry.slice(0, at);
    const hostPort = at === -1 ? entry : entry.slice(at + 1);
    const colon = userInfo.indexOf(':');
    const username = decode(colon === -1 ? userInfo : userInfo.slice(0, colon));
    const password = decode(colon === -1 ? '' : userInfo.slice(colon + 1));
    if (username === undefined || password === undefined) {
      return issue(url, 'the user name or password is not valid percent-encoding');
    }
    const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d*))?$/iu.exec(hostPort);
    if (match === null) return issue(url, `"${hostPort}" is not HOST or HOST:PORT`);
    const host = match[1] ?? match[2] ?? '';
    const portText = match[3];
    const port = portText === undefined || portText === '' ? DEFAULT_PORT : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return issue(url, `port "${portText ?? ''}" is not between 1 and 65535`);
    }
    brokers.push({ host, port, username: username || 'guest', password: password || 'guest' });
  }
  const [first, ...others] = brokers;
  if (first === undefined) return issue(url, 'no host given');
  return ok({ brokers: [first, ...others], virtualHost: virtualHost === '' ? '/' : virtualHost });
}

/**
 * The URL with every password replaced by `***`, for logs and messages.
 * @example redactUrl('rabbit://u:secret@h/') // 'rabbit://u:***@h/'
 */
export function redactUrl(url: string): string {
  return url.replace(/([/,][^:/@,]*):[^@/,]*@/gu, '$1:***@');
}
