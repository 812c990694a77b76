/**
 * Who is calling: from a bearer token in the call's `authorization` metadata, else from the
 * verified client certificate (its CN, or first SAN). With auth off every caller is trusted and
 * has no identity (the insecure single-node default); with auth on a caller with neither is
 * refused with UNAUTHENTICATED, and so is one with a bad or expired token (never silently
 * downgraded to its certificate).
 */
import type * as grpc from '@grpc/grpc-js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type AuthContextSource, certificateIdentity } from './tls-identity.js';
import { verifyToken } from './tokens.js';

export const AUTHORIZATION_METADATA_KEY = 'authorization';

export interface AuthOptions {
  readonly enabled: boolean;
  /** Verifies bearer tokens; without it tokens are refused. */
  readonly tokenSecret?: Uint8Array | undefined;
  /** Clock for token expiry (tests inject one). */
  readonly nowMs?: () => number;
}

/** The caller: `identity` undefined means trusted (auth off). */
export interface Caller {
  readonly identity: string | undefined;
  /** How it was established, for the audit log. */
  readonly via: 'none' | 'token' | 'certificate';
}

const TRUSTED: Caller = Object.freeze({ identity: undefined, via: 'none' });

export class Authenticator {
  readonly enabled: boolean;
  readonly #secret: Uint8Array | undefined;
  readonly #now: () => number;

  constructor(opts: AuthOptions) {
    this.enabled = opts.enabled;
    this.#secret = opts.tokenSecret;
    this.#now = opts.nowMs ?? Date.now;
  }

  /** The caller of a gRPC call (unary or stream); UNAUTHENTICATED when auth is on and it cannot say who it is. */
  identify(call: { readonly metadata: grpc.Metadata } & AuthContextSource): Caller {
    if (!this.enabled) return TRUSTED;
    const header = call.metadata.get(AUTHORIZATION_METADATA_KEY)[0];
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(String(header));
      if (!m) throw new ConclaveError(ErrorCode.UNAUTHENTICATED, 'the authorization metadata must be "Bearer <token>"');
      if (!this.#secret) throw new ConclaveError(ErrorCode.UNAUTHENTICATED, 'this server accepts no bearer tokens (it has no --auth-token-secret-file); use a client certificate');
      return { identity: verifyToken(this.#secret, m[1] as string, this.#now()).identity, via: 'token' };
    }
    const fromCert = certificateIdentity(call);
    if (fromCert !== undefined) return { identity: fromCert, via: 'certificate' };
    throw new ConclaveError(ErrorCode.UNAUTHENTICATED, 'authentication is required: present a client certificate from the cluster CA or a bearer token (--token)');
  }
}
