/**
 * Bearer tokens: minted and verified with the same secret; anything else (another secret, an
 * altered payload, an expired token, garbage) is UNAUTHENTICATED, and the authenticator turns
 * metadata and certificates into an identity only when auth is on.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { Authenticator } from '../../src/security/authenticator.js';
import { mintToken, verifyToken } from '../../src/security/tokens.js';

const secret = Buffer.alloc(32, 7);
const other = Buffer.alloc(32, 9);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err: unknown) {
    return isConclaveError(err) ? err.code : 'untyped';
  }
  return undefined;
}

function call(token?: string, certCn?: string): { metadata: grpc.Metadata; getAuthContext(): { sslPeerCertificate?: never } | null } {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', token);
  return { metadata, getAuthContext: () => (certCn ? ({ sslPeerCertificate: { subject: { CN: certCn } } } as never) : null) };
}

describe('bearer tokens', () => {
  it('round-trips an identity until it expires', () => {
    const t = mintToken(secret, 'svc-a', 60_000, 1_000);
    expect(verifyToken(secret, t, 30_000)).toEqual({ identity: 'svc-a', expiresAtMs: 61_000 });
    expect(code(() => verifyToken(secret, t, 61_000))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('refuses another secret, an altered payload, and garbage', () => {
    const t = mintToken(secret, 'svc-a', 60_000, 0);
    expect(code(() => verifyToken(other, t, 1))).toBe(ErrorCode.UNAUTHENTICATED);
    const [prefix, , sig] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ sub: 'root', exp: 10 ** 13 })).toString('base64url');
    expect(code(() => verifyToken(secret, `${prefix}.${forged}.${sig}`, 1))).toBe(ErrorCode.UNAUTHENTICATED);
    for (const junk of ['', 'cv1', 'cv1..', 'x.y.z', `${t}x`, 'cv1.e30.AAAA']) expect(code(() => verifyToken(secret, junk, 1))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('refuses to mint with a short secret, a bad identity or a bad lifetime', () => {
    expect(code(() => mintToken(Buffer.alloc(8), 'a', 1000, 0))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(code(() => mintToken(secret, 'has space', 1000, 0))).toBe(ErrorCode.BAD_ARGUMENTS);
    expect(code(() => mintToken(secret, 'a', 0, 0))).toBe(ErrorCode.BAD_ARGUMENTS);
  });
});

describe('authenticator', () => {
  const now = (): number => 5_000;
  const auth = new Authenticator({ enabled: true, tokenSecret: secret, nowMs: now });

  it('takes the identity from a bearer token, else from a verified certificate, else refuses', () => {
    const t = mintToken(secret, 'svc-a', 60_000, 0);
    expect(auth.identify(call(`Bearer ${t}`, 'cert-name'))).toEqual({ identity: 'svc-a', via: 'token' });
    expect(auth.identify(call(undefined, 'cert-name'))).toEqual({ identity: 'cert-name', via: 'certificate' });
    expect(code(() => auth.identify(call()))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('never falls back to the certificate when the token is bad', () => {
    const expired = mintToken(secret, 'svc-a', 1_000, 0);
    expect(code(() => auth.identify(call(`Bearer ${expired}`, 'cert-name')))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(code(() => auth.identify(call('Basic abc', 'cert-name')))).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it('without a secret refuses tokens; with auth off trusts everyone without an identity', () => {
    const certOnly = new Authenticator({ enabled: true });
    expect(code(() => certOnly.identify(call(`Bearer ${mintToken(secret, 'a', 1000, 0)}`)))).toBe(ErrorCode.UNAUTHENTICATED);
    expect(new Authenticator({ enabled: false }).identify(call())).toEqual({ identity: undefined, via: 'none' });
  });
});
