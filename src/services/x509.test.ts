import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';

import { selfSignedCertificate } from './x509.js';

describe('selfSignedCertificate', () => {
  // Serial bytes that once gave a non-minimal INTEGER (a leading zero byte before a byte below
  // 0x80) or a negative one: each must still give a certificate OpenSSL parses.
  const cases: [string, Buffer][] = [
    ['all zero', Buffer.alloc(16)],
    ['leading zero, small next byte', Buffer.from([0x00, 0x01, ...Array<number>(14).fill(0xaa)])],
    ['top bit set', Buffer.alloc(16, 0xff)],
    ['0x80 then zeros', Buffer.from([0x80, ...Array<number>(15).fill(0)])],
  ];
  for (const [name, random] of cases) {
    it(`makes a parseable certificate with a positive serial: ${name}`, () => {
      const { certificate, privateKey } = selfSignedCertificate(
        'user-1',
        new Date('2026-11-30T00:00:00Z'),
        random,
      );
      const cert = new X509Certificate(certificate);
      assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/u);
      assert.equal(cert.subject, 'CN=user-1');
      assert.equal(cert.issuer, 'CN=user-1');
      assert.ok(cert.verify(cert.publicKey), 'self-signed: verifies with its own key');
      assert.ok(cert.checkPrivateKey(createPrivateKey(privateKey)));
      assert.equal(cert.validFrom, 'Nov 30 00:00:00 2026 GMT');
    });
  }
});
