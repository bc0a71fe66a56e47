/**
 * A minimal self-signed X.509 certificate (RSA 2048, SHA-256), DER-encoded by hand because
 * node:crypto parses certificates but does not make them. Used for Nova's generated `x509` key
 * pairs (below 2.92): the subject and issuer are `CN=<user id>`, valid for ten years, with no
 * extensions.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** One DER element: tag, definite length, contents. */
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const sequence = (...items: Buffer[]): Buffer => der(0x30, ...items);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

/** A UTCTime (YYMMDDHHMMSSZ); valid for years 1950 to 2049. */
function utcTime(date: Date): Buffer {
  const text = date
    .toISOString()
    .replace(/[-:T]/gu, '')
    .replace(/\.\d+Z$/u, 'Z')
    .slice(2);
  return der(0x17, Buffer.from(text, 'ascii'));
}

function commonName(cn: string): Buffer {
  return sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(cn, 'utf8')))));
}

/**
 * A certificate serial number from 16 random bytes: a positive DER INTEGER in minimal form.
 * Clearing only the top bit leaves a leading zero byte about once in 256 certificates, which
 * OpenSSL refuses to parse ("illegal padding"); setting the next bit keeps the first byte in
 * 0x40-0x7f, so the encoding is always minimal and positive (126 random bits).
 */
export function certificateSerial(random: Buffer): Buffer {
  const serial = Buffer.from(random);
  serial[0] = 0x40 | ((serial[0] ?? 0) & 0x3f);
  return serial;
}

/** A new self-signed certificate and its private key, both PEM. */
export function selfSignedCertificate(
  cn: string,
  now: Date,
  random: Buffer = randomBytes(16),
): { certificate: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sha256WithRsa = sequence(oid('1.2.840.113549.1.1.11'), der(0x05));
  const serial = certificateSerial(random);
  const notAfter = new Date(now.getTime() + 3650 * 86_400_000);
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))), // version 3
    der(0x02, serial),
    sha256WithRsa,
    commonName(cn),
    sequence(utcTime(now), utcTime(notAfter)),
    commonName(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
    der(
      0xa3,
      sequence(
        // extendedKeyUsage: clientAuth
        sequence(oid('2.5.29.37'), der(0x04, sequence(oid('1.3.6.1.5.5.7.3.2')))),
        // subjectAltName: otherName, Microsoft's UPN
        sequence(
          oid('2.5.29.17'),
          der(
            0x04,
            sequence(
              der(
                0xa0,
                oid('1.3.6.1.4.1.311.20.2.3'),
                der(0xa0, der(0x0c, Buffer.from(`${cn}@localhost`, 'utf8'))),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = sequence(tbs, sha256WithRsa, der(0x03, Buffer.from([0]), signature));
  const lines = cert.toString('base64').match(/.{1,64}/gu) ?? [];
  return {
    certificate: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
