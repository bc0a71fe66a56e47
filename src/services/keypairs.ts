/**
 * Key pair use cases (Nova's os-keypairs): a user's public keys, by name. vpmu keeps the public
 * half only; a generated key pair's private key is returned once and never stored. Policy
 * (Nova's defaults): a user manages its own key pairs (readers only read them); an admin acts for
 * another user with `user_id`. Generated: an RSA 2048 SSH key, or for `x509` a self-signed
 * certificate (./x509.ts). Quota: the user's `key_pairs` quota (./quotas.ts), checked in the
 * store's insert transaction. A server's key_name delivers the key to its guest on the config
 * drive (./guest-data.ts).
 */
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { ComputeError } from '../errors/index.js';
import type { Clock } from '../ports/clock.js';
import type { KeypairRecord, KeypairType, Store } from '../ports/store.js';
import { requireAdmin, requireWriter, type RequestContext } from './identity.js';
import { keypairQuota } from './quotas.js';
import { selfSignedCertificate } from './x509.js';

export type { KeypairRecord, KeypairType } from '../ports/store.js';

/** Nova's default `key_pairs` quota: key pairs per user (the quota API changes it). */
export const KEYPAIRS_PER_USER = 100;

/** The comment of a generated public key (Nova writes "Generated-by-Nova"). */
export const GENERATED_KEY_COMMENT = 'Generated-by-vpmu';

/** What key pair use cases need. */
export interface KeypairDeps {
  readonly store: Store;
  readonly clock: Clock;
}

/** A create request, shape-checked by the API; no public key asks for a generated one. */
export interface NewKeypair {
  readonly name: string;
  readonly type: KeypairType;
  readonly publicKey?: string;
  /** Another user's id (admins only). */
  readonly userId?: string;
}

/** A created key pair, with the private key when vpmu generated it. */
export interface CreatedKeypair {
  readonly keypair: KeypairRecord;
  readonly privateKey?: string;
}

export async function createKeypair(
  deps: KeypairDeps,
  ctx: RequestContext,
  input: NewKeypair,
): Promise<CreatedKeypair> {
  requireWriter(ctx, `create key pair ${input.name}`);
  const userId = await owner(deps, ctx, input.userId, 'create');
  let publicKey = input.publicKey;
  let privateKey: string | undefined;
  if (publicKey === undefined) {
    if (input.type === 'x509') {
      const made = selfSignedCertificate(userId, deps.clock.now());
      publicKey = made.certificate;
      privateKey = made.privateKey;
    } else {
      ({ publicKey, privateKey } = generateSshKeypair());
    }
  }
  const fingerprint =
    input.type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey);
  const keypair = await deps.store.createKeypair(
    {
      userId,
      name: input.name,
      type: input.type,
      publicKey,
      fingerprint,
      createdAt: deps.clock.now().toISOString(),
    },
    await keypairQuota(deps.store, { projectId: ctx.projectId, userId }),
  );
  return privateKey === undefined ? { keypair } : { keypair, privateKey };
}

/** The user's key pairs (the caller's, or another user's for an admin), sorted by name. */
export async function listKeypairs(
  deps: KeypairDeps,
  ctx: RequestContext,
  userId?: string,
): Promise<KeypairRecord[]> {
  return deps.store.listKeypairs(await owner(deps, ctx, userId, 'index'));
}

export async function showKeypair(
  deps: KeypairDeps,
  ctx: RequestContext,
  name: string,
  userId?: string,
): Promise<KeypairRecord> {
  const user = await owner(deps, ctx, userId, 'show');
  const keypair = await deps.store.getKeypair(user, name);
  if (keypair === undefined) throw keypairNotFound(name, user);
  return keypair;
}

export async function deleteKeypair(
  deps: KeypairDeps,
  ctx: RequestContext,
  name: string,
  userId?: string,
): Promise<void> {
  const user = await owner(deps, ctx, userId, 'delete');
  if ((await deps.store.getKeypair(user, name)) === undefined) throw keypairNotFound(name, user);
  requireWriter(ctx, `delete key pair ${name}`);
  if (!(await deps.store.deleteKeypair(user, name))) throw keypairNotFound(name, user);
}

/** Whose key pairs a request acts on: the caller's, or (admins only) a known user's. */
async function owner(
  deps: KeypairDeps,
  ctx: RequestContext,
  userId: string | undefined,
  action: string,
): Promise<string> {
  if (userId === undefined || userId === ctx.userId) return ctx.userId;
  requireAdmin(ctx, `os_compute_api:os-keypairs:${action}`);
  if ((await deps.store.getUser(userId)) === undefined) {
    throw new ComputeError(
      'request.invalid',
      `Invalid input for field/attribute user_id. Value: ${userId}. No such user`,
    );
  }
  return userId;
}

// NOTE: Nova's wording (nova/exception.py KeypairNotFound, InvalidKeypair).
export function keypairNotFound(name: string, userId: string): ComputeError {
  return new ComputeError('keypair.not_found', `Keypair ${name} not found for user ${userId}`);
}

export function invalidKeypair(reason: string): ComputeError {
  return new ComputeError('keypair.invalid', `Keypair data is invalid: ${reason}`);
}

/** SSH wire-format public key types and the fields after the type name. */
const SSH_KEY_FIELDS: Record<string, number> = {
  'ssh-rsa': 2,
  'ssh-ed25519': 1,
  'ssh-dss': 4,
  'ecdsa-sha2-nistp256': 2,
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
};

/**
 * The fingerprint Nova gives an OpenSSH public key ("TYPE BASE64 [COMMENT]"): the MD5 of the
 * decoded key blob, colon-separated lower-case hex (as `ssh-keygen -l -E md5`). A key that does
 * not parse is Nova's 400 "failed to generate fingerprint".
 */
export function sshFingerprint(publicKey: string): string {
  const blob = sshKeyBlob(publicKey);
  if (blob === undefined) throw invalidKeypair('failed to generate fingerprint');
  return colonHex(createHash('md5').update(blob).digest());
}

/** The decoded blob of a well-formed OpenSSH public key line; undefined when it is not one. */
function sshKeyBlob(publicKey: string): Buffer | undefined {
  const [type, data] = publicKey.trim().split(/\s+/u);
  if (type === undefined || data === undefined) return undefined;
  const fields = SSH_KEY_FIELDS[type];
  if (fields === undefined || !/^[A-Za-z0-9+/]+={0,2}$/u.test(data) || data.length % 4 !== 0) {
    return undefined;
  }
  const blob = Buffer.from(data, 'base64');
  const strings: Buffer[] = [];
  let at = 0;
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(at);
    if (at + 4 + length > blob.length) return undefined;
    strings.push(blob.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (strings.length !== fields + 1 || strings[0]?.toString('latin1') !== type) return undefined;
  if (strings.slice(1).some((s) => s.length === 0)) return undefined;
  if (type === 'ssh-ed25519' && strings[1]?.length !== 32) return undefined;
  if (type.startsWith('ecdsa-') && strings[1]?.toString('latin1') !== type.slice(11)) {
    return undefined;
  }
  return blob;
}

/**
 * The fingerprint Nova gives an X.509 certificate (PEM): the SHA-1 of its DER, colon-separated
 * lower-case hex. One that does not parse is Nova's 400.
 */
export function x509Fingerprint(pem: string): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw invalidKeypair(
      `failed to generate X509 fingerprint. Error message: ${(err as Error).message}`,
    );
  }
  return colonHex(createHash('sha1').update(cert.raw).digest());
}

function colonHex(digest: Buffer): string {
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A new RSA 2048 key: the public half in OpenSSH format, the private half as PKCS#1 PEM. */
function generateSshKeypair(): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string };
  const sshString = (b: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, b]);
  };
  const mpint = (b64url: string): Buffer => {
    const raw = Buffer.from(b64url, 'base64url');
    return sshString((raw[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), raw]) : raw);
  };
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(jwk.e), mpint(jwk.n)]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} ${GENERATED_KEY_COMMENT}`,
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}
