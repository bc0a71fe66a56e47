/**
 * The image cache of a compute host: `<dir>/<image id>` files downloaded from vpmu's image API
 * (`GET <api>/image/v2/images/{id}` for the record, `.../file` for the data) into a temporary file
 * of the same directory, verified against the record's hash and size, then renamed into place.
 * The compute authenticates as a user of the identity API (`POST <api>/identity/v3/auth/tokens`),
 * keeps the token until shortly before it expires and asks for a new one when the API answers 401.
 */
import { createHash, getHashes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { ComputeError } from '../../errors/index.js';
import type { CachedImage, ImageCache } from '../../ports/image-cache.js';

/** The user the compute fetches images as (vpmu's admin, whose password every process has). */
export interface ImageApiCredentials {
  readonly userName: string;
  readonly password: string;
  readonly projectName: string;
  /** The domain of the user and the project. @default 'default' */
  readonly domainId?: string;
}

export interface HttpImageCacheOptions {
  /** The cache directory; created when missing. */
  readonly dir: string;
  /** The root of a vpmu API (`http://host:8774`), serving /identity/v3 and /image. */
  readonly apiUrl: string;
  readonly credentials: ImageApiCredentials;
  /** When an entry was last used, and how old it is on eviction. @default the system clock */
  readonly clock?: { now(): Date };
  /** How long an API request, or a download without a byte, may take. @default 60 000 */
  readonly timeoutMs?: number;
  /** A token is asked for again this long before it expires. @default 60 000 */
  readonly tokenMarginMs?: number;
}

/** What the image API's record says the data must be. */
interface ImageData {
  readonly checksum: string | null;
  readonly osHashAlgo: string | null;
  readonly osHashValue: string | null;
  readonly size: number | null;
}

/** A cache entry's file name: an image id (never a path). */
const ENTRY = /^[A-Za-z0-9-]+$/u;
/** A download's temporary file: `<image id>.<uuid>.partial`. */
const PARTIAL = /^([A-Za-z0-9-]+)\.[0-9a-f-]{36}\.partial$/u;

/** See the file header. */
export class HttpImageCache implements ImageCache {
  readonly #dir: string;
  readonly #api: string;
  readonly #credentials: ImageApiCredentials;
  readonly #clock: { now(): Date };
  readonly #timeoutMs: number;
  readonly #tokenMarginMs: number;
  /** Downloads under way, by image id: concurrent builds of one image share one. */
  readonly #downloads = new Map<string, Promise<void>>();
  /** Builds holding each entry. */
  readonly #holds = new Map<string, number>();
  /** Entries being removed by an eviction round: an acquire waits for it, then downloads again. */
  readonly #evicting = new Map<string, Promise<void>>();
  #token: { readonly text: string; readonly renewAt: number } | undefined;
  #authenticating: Promise<string> | undefined;

  constructor(options: HttpImageCacheOptions) {
    this.#dir = options.dir;
    this.#api = options.apiUrl.replace(/\/+$/u, '');
    this.#credentials = options.credentials;
    this.#clock = options.clock ?? { now: () => new Date() };
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#tokenMarginMs = options.tokenMarginMs ?? 60_000;
  }

  async acquire(imageId: string): Promise<CachedImage> {
    if (!ENTRY.test(imageId)) {
      throw new ComputeError('input.invalid', `Cannot cache image "${imageId}": not an image id`);
    }
    const file = path.join(this.#dir, imageId);
    // Held from here on, so an eviction round that has not decided yet keeps it.
    this.#holds.set(imageId, (this.#holds.get(imageId) ?? 0) + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (this.#holds.get(imageId) ?? 1) - 1;
      if (left > 0) this.#holds.set(imageId, left);
      else this.#holds.delete(imageId);
    };
    try {
      await this.#evicting.get(imageId);
      if (!(await exists(file))) {
        let download = this.#downloads.get(imageId);
        if (download === undefined) {
          download = this.#download(imageId, file).finally(() => {
            this.#downloads.delete(imageId);
          });
          this.#downloads.set(imageId, download);
        }
        await download;
      }
      const now = this.#clock.now();
      await utimes(file, now, now);
      return { path: file, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  async evict(maxAgeSeconds: number, referenced: ReadonlySet<string>): Promise<string[]> {
    const names = await readdir(this.#dir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    const removed: string[] = [];
    for (const name of names.sort()) {
      const file = path.join(this.#dir, name);
      const partial = PARTIAL.exec(name);
      if (partial !== null) {
        // A crash's leftover: its image has no download under way in this process.
        if (this.#downloads.has(partial[1] ?? '')) continue;
        await rm(file, { force: true });
        removed.push(file);
        continue;
      }
      if (!ENTRY.test(name) || referenced.has(file)) continue;
      const modified = await stat(file).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      if (modified === undefined) continue;
      if (this.#clock.now().getTime() - modified < maxAgeSeconds * 1000) continue;
      // Decided and started with no await in between: an acquire from now on waits for it.
      if (this.#holds.has(name) || this.#downloads.has(name)) continue;
      const removal = rm(file, { force: true }).finally(() => {
        this.#evicting.delete(name);
      });
      this.#evicting.set(name, removal);
      await removal;
      removed.push(file);
    }
    return removed;
  }

  /** Downloads the image's data to a temporary file, verifies it and renames it into place. */
  async #download(imageId: string, file: string): Promise<void> {
    const recordUrl = `${this.#api}/image/v2/images/${imageId}`;
    const record = await this.#imageRequest(imageId, recordUrl);
    const body: unknown = await record.json().catch((error: unknown) => {
      throw downloadFailed(imageId, recordUrl, `its record is not JSON (${reasonOf(error)})`);
    });
    const expected = imageData(imageId, recordUrl, body);
    const check = verifier(imageId, expected);
    const dataUrl = `${recordUrl}/file`;
    const response = await this.#imageRequest(imageId, dataUrl);
    if (response.status !== 200 || response.body === null) {
      await response.body?.cancel();
      throw downloadFailed(
        imageId,
        dataUrl,
        `the image API has no data for it (${String(response.status)})`,
      );
    }
    await mkdir(this.#dir, { recursive: true });
    const temp = `${file}.${randomUUID()}.partial`;
    const hash = createHash(check.algorithm);
    let size = 0;
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        for (;;) {
          const chunk = await this.#withIdleTimeout(reader.read(), () => {
            void reader.cancel();
          });
          if (chunk.done) break;
          hash.update(chunk.value);
          size += chunk.value.byteLength;
          await handle.write(chunk.value);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      check.verify(hash.digest('hex'), size);
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      if (error instanceof ComputeError) throw error;
      throw downloadFailed(imageId, dataUrl, reasonOf(error));
    }
  }

  /** A GET on the image API with the token, asking for a new token once on a 401. */
  async #imageRequest(imageId: string, url: string): Promise<Response> {
    for (let attempt = 0; ; attempt += 1) {
      const token = await this.#currentToken(imageId);
      let response: Response;
      // The timeout bounds the wait for the answer's head only: a large image's body may take
      // longer, and its reads are bounded one by one (#withIdleTimeout).
      const controller = new AbortController();
      const timer = setTimeout(() => {
        controller.abort(new Error(`no answer in ${String(this.#timeoutMs)} ms`));
      }, this.#timeoutMs);
      try {
        response = await fetch(url, {
          headers: { 'x-auth-token': token },
          signal: controller.signal,
        });
      } catch (error) {
        throw downloadFailed(imageId, url, `the image API cannot be reached (${reasonOf(error)})`);
      } finally {
        clearTimeout(timer);
      }
      if (response.status === 401 && attempt === 0) {
        await response.body?.cancel();
        // The token expired early or was revoked: forget it and ask for another.
        if (this.#token?.text === token) this.#token = undefined;
        continue;
      }
      if (response.status < 200 || response.status > 299) {
        const detail = await response.text().catch(() => '');
        throw downloadFailed(
          imageId,
          url,
          `the image API answered ${String(response.status)}${detail === '' ? '' : `: ${detail.slice(0, 300)}`}`,
        );
      }
      return response;
    }
  }

  /** The token in hand, or a new one (one request at a time, shared by every download). */
  async #currentToken(imageId: string): Promise<string> {
    const token = this.#token;
    if (token !== undefined && this.#clock.now().getTime() < token.renewAt) return token.text;
    this.#authenticating ??= this.#authenticate(imageId).finally(() => {
      this.#authenticating = undefined;
    });
    return this.#authenticating;
  }

  async #authenticate(imageId: string): Promise<string> {
    const url = `${this.#api}/identity/v3/auth/tokens`;
    const { userName, password, projectName } = this.#credentials;
    const domain = { id: this.#credentials.domainId ?? 'default' };
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ['password'],
              password: { user: { name: userName, domain, password } },
            },
            scope: { project: { name: projectName, domain } },
          },
        }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw downloadFailed(imageId, url, `the identity API cannot be reached (${reasonOf(error)})`);
    }
    const body = (await response.json().catch(() => undefined)) as
      { token?: { expires_at?: unknown } } | undefined;
    const text = response.headers.get('x-subject-token');
    if (response.status !== 201 || text === null) {
      throw downloadFailed(
        imageId,
        url,
        `the identity API refused user ${userName} of project ${projectName} (${String(response.status)}): check VPMU_ADMIN_PASSWORD`,
      );
    }
    const expiresAt = body?.token?.expires_at;
    const expires = typeof expiresAt === 'string' ? Date.parse(expiresAt) : Number.NaN;
    const now = this.#clock.now().getTime();
    // Kept until shortly before it expires (at least half its life, for a short-lived one).
    const renewAt = Number.isNaN(expires)
      ? now
      : Math.max(expires - this.#tokenMarginMs, now + (expires - now) / 2);
    this.#token = { text, renewAt };
    return text;
  }

  /** `read`, or a rejection when no byte came for the timeout (`abort` then stops the stream). */
  async #withIdleTimeout<T>(read: Promise<T>, abort: () => void): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        abort();
        reject(new Error(`no data for ${String(this.#timeoutMs / 1000)} s`));
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([read, idle]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The hash and size the record promises, from the image API's JSON. */
function imageData(imageId: string, url: string, json: unknown): ImageData {
  const record = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const text = (key: string) => (typeof record[key] === 'string' ? record[key] : null);
  const size = typeof record.size === 'number' ? record.size : null;
  if (typeof record.id !== 'string' || record.id !== imageId) {
    throw downloadFailed(imageId, url, 'the image API answered with no record of this image');
  }
  return {
    checksum: text('checksum'),
    osHashAlgo: text('os_hash_algo'),
    osHashValue: text('os_hash_value'),
    size,
  };
}

/** The hash to compute (os_hash_algo where Node has it, else MD5) and the check of the result. */
function verifier(
  imageId: string,
  expected: ImageData,
): { algorithm: string; verify(digest: string, size: number): void } {
  const named = expected.osHashAlgo?.toLowerCase();
  const multihash =
    named !== undefined && expected.osHashValue !== null && getHashes().includes(named);
  const algorithm = multihash ? named : 'md5';
  const wanted = multihash ? expected.osHashValue : expected.checksum;
  if (wanted === null) {
    throw new ComputeError(
      'image.checksum_mismatch',
      `Cannot use image ${imageId}: its record has no checksum (os_hash_value or checksum) to verify its data against`,
    );
  }
  const label = multihash ? `os_hash_value (${algorithm})` : 'checksum (md5)';
  return {
    algorithm,
    verify: (digest, size) => {
      const hashes = `${label} expected ${wanted}, got ${digest}`;
      if (expected.size !== null && size !== expected.size) {
        throw new ComputeError(
          'image.checksum_mismatch',
          `Image ${imageId} downloaded from the image API does not match its record: size expected ${String(expected.size)} bytes, got ${String(size)}; ${hashes}; the download was discarded`,
        );
      }
      if (digest !== wanted.toLowerCase()) {
        throw new ComputeError(
          'image.checksum_mismatch',
          `Image ${imageId} downloaded from the image API does not match its record: ${hashes}; the download was discarded`,
        );
      }
    },
  };
}

function downloadFailed(imageId: string, url: string, reason: string): ComputeError {
  return new ComputeError(
    'host.image_download_failed',
    `Cannot fetch image ${imageId} into this compute's image cache from ${url}: ${reason}`,
  );
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
