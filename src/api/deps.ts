/** What the HTTP API needs; src/main/ builds it from configuration and adapters. */
import type {
  Clock,
  ImageFiles,
  ImageInspector,
  ImageLimits,
  ImageRecord,
  Ids,
  LockoutPolicy,
  NotifierStats,
  RequestContext,
  Servers,
  Store,
  TokenCache,
} from '../services/index.js';
import type { Microversion } from './microversion.js';

/** Structured logging, as pino offers it (fields first, then the message). */
export interface ApiLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Ports and settings the API routes use. */
export interface ApiDeps {
  readonly store: Store;
  readonly files: ImageFiles;
  /** Checks uploaded image data against its declared disk_format. */
  readonly inspector: ImageInspector;
  /** image_size_cap, user_storage_quota, image_property_quota. */
  readonly imageLimits: ImageLimits;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Lifetime of issued tokens. */
  readonly tokenTtlSeconds: number;
  /**
   * Validated tokens kept in memory; createApi() makes one when none is given, unless the store is
   * shared with other processes (then none: see TokenCache).
   */
  readonly tokenCache?: TokenCache;
  /** Keystone's lockout after repeated failed password logins. */
  readonly lockout: LockoutPolicy;
  /**
   * The URL clients reach this API at (Keystone's `public_endpoint`), without a trailing slash:
   * the base of the catalog, `Location` headers and links, never the client's `Host` header. A
   * function because a port the system picks is known only once listening.
   */
  readonly publicEndpoint: () => string;
  /** Region named in the service catalog. @default "RegionOne" */
  readonly region: string;
  readonly log: ApiLogger;
  /** The servers use cases (they hold the hypervisor connections). */
  readonly servers: Servers;
  /** Called after an image's properties change (the image.update notification). */
  readonly onImageUpdate?: (image: ImageRecord) => void;
  /** The notifier's counters (published, buffered, dropped, reconnects), for operators. */
  readonly notifierStats: () => NotifierStats;
}

/** Hono variables every route can read. */
export interface ApiEnv {
  Variables: {
    requestId: string;
    /** ApiDeps.publicEndpoint() as this request saw it. */
    publicEndpoint: string;
    caller: RequestContext | undefined;
    microversion: Microversion;
  };
}
