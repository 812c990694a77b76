/**
 * Bearer tokens: an identity and an expiry, signed with HMAC-SHA256 under a secret every member
 * shares (`--auth-token-secret-file`). Stateless, like a JWT with one fixed algorithm: a member
 * verifies a token without asking anyone, and rotating the secret revokes every token at once.
 *
 * Wire form: `cv1.<payload>.<signature>`, both parts base64url; the payload is JSON
 * `{"sub": identity, "exp": expiry in ms since the epoch}`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import { validateIdentity } from '../state/index.js';

const PREFIX = 'cv1';
/** Secrets shorter than this are refused: HMAC-SHA256 wants at least its output size. */
export const TOKEN_SECRET_BYTES_MIN = 32;
/** The longest a token may live: long-lived credentials belong in client certificates. */
export const TOKEN_TTL_MS_MAX = 366 * 24 * 3600 * 1000;

export interface TokenClaims {
  readonly identity: string;
  readonly expiresAtMs: number;
}

function unauthenticated(message: string): ConclaveError {
  return new ConclaveError(ErrorCode.UNAUTHENTICATED, message);
}

function sign(secret: Uint8Array, payload: string): Buffer {
  return createHmac('sha256', secret).update(`${PREFIX}.${payload}`).digest();
}

export function checkTokenSecret(secret: Uint8Array): void {
  if (secret.byteLength < TOKEN_SECRET_BYTES_MIN) {
    throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `the token secret must hold at least ${TOKEN_SECRET_BYTES_MIN} bytes, got ${secret.byteLength} (make one with: head -c 32 /dev/urandom > secret)`);
  }
}

/** A token for `identity`, valid for `ttlMs` from `nowMs`. */
export function mintToken(secret: Uint8Array, identity: string, ttlMs: number, nowMs: number): string {
  checkTokenSecret(secret);
  validateIdentity(identity);
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > TOKEN_TTL_MS_MAX) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `token lifetime must be 1 ms to ${TOKEN_TTL_MS_MAX / 86_400_000} days, got ${ttlMs} ms`);
  const payload = Buffer.from(JSON.stringify({ sub: identity, exp: nowMs + ttlMs })).toString('base64url');
  return `${PREFIX}.${payload}.${sign(secret, payload).toString('base64url')}`;
}

/** The claims of a genuine, unexpired token; UNAUTHENTICATED otherwise (saying why, never echoing the token). */
export function verifyToken(secret: Uint8Array, token: string, nowMs: number): TokenClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) throw unauthenticated('the bearer token is malformed (expected cv1.<payload>.<signature>)');
  const [, payload, signature] = parts as [string, string, string];
  const expected = sign(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthenticated('the bearer token has a bad signature (signed with another secret, or altered)');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw unauthenticated('the bearer token payload is not JSON');
  }
  const { sub, exp } = (claims ?? {}) as { sub?: unknown; exp?: unknown };
  if (!isIdentity(sub) || typeof exp !== 'number' || !Number.isSafeInteger(exp)) throw unauthenticated('the bearer token payload lacks a valid identity or expiry');
  if (exp <= nowMs) throw unauthenticated(`the bearer token of ${sub} expired at ${new Date(exp).toISOString()}`);
  return { identity: sub, expiresAtMs: exp };
}

function isIdentity(x: unknown): x is string {
  try {
    validateIdentity(x);
    return true;
  } catch (err: unknown) {
    if (isConclaveError(err)) return false;
    throw err;
  }
}
