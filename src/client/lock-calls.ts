/**
 * The lock calls on the session stream: acquire (blocking server-side up to its timeout), release,
 * describe and validateFence. The recipes (`recipes/lock.ts`, `recipes/election.ts`) build on these.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { SessionCore } from './session-core.js';
import type { CallOptions, Data } from './types.js';
import { bodyOf, toBytes } from './wire.js';

export type LockKind = 'mutex' | 'rwlock' | 'semaphore';
export type LockMode = 'exclusive' | 'shared';

export interface AcquireOptions extends CallOptions {
  /** Default 'mutex'. Fixed by the lock's first acquire. */
  readonly kind?: LockKind;
  /** rwlock: 'shared' for readers; default 'exclusive'. */
  readonly mode?: LockMode;
  /** semaphore: how many may hold it at once. */
  readonly permits?: number;
  /** How long to wait in line; 0 tries once. Default 30000. */
  readonly timeoutMs?: number;
  /** After a holder's session expires without releasing, nobody gets the lock for this long. */
  readonly delayMs?: number;
  /** What the holder proclaims (leader election). */
  readonly value?: Data;
}

export interface AcquireResult {
  readonly granted: boolean;
  /** The fencing token: strictly increasing per lock for exclusive grants. */
  readonly token?: number;
  readonly zxid: number;
}

export interface LockHolderInfo {
  readonly sessionId: number;
  readonly token: number;
  readonly mode: LockMode;
  readonly sinceMs: number;
  readonly value: Uint8Array;
}

export interface LockInfo {
  readonly name: string;
  /** false: nobody holds it or waits for it. */
  readonly exists: boolean;
  readonly kind?: LockKind;
  readonly permits?: number;
  readonly delayMs?: number;
  readonly blockedUntilMs?: number;
  readonly holders: readonly LockHolderInfo[];
  readonly waiters: readonly { readonly sessionId: number; readonly mode: LockMode; readonly sinceMs: number }[];
  readonly zxid: number;
}

export const DEFAULT_ACQUIRE_TIMEOUT_MS = 30_000;
const KIND: Readonly<Record<LockKind, string>> = { mutex: 'MUTEX', rwlock: 'RWLOCK', semaphore: 'SEMAPHORE' };
const MODE: Readonly<Record<LockMode, string>> = { exclusive: 'EXCLUSIVE', shared: 'SHARED' };
const mode = (m: string): LockMode => (m === 'SHARED' ? 'shared' : 'exclusive');

export async function acquireLock(core: SessionCore, name: string, opts: AcquireOptions, requestTimeoutMs: number): Promise<AcquireResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, `timeoutMs must be a non-negative integer, got ${timeoutMs}`);
  const fields = {
    name,
    kind: KIND[opts.kind ?? 'mutex'],
    mode: MODE[opts.mode ?? 'exclusive'],
    permits: opts.permits ?? 0,
    timeoutMs,
    delayMs: opts.delayMs ?? 0,
    value: toBytes(opts.value),
  };
  const answer = await core.request({
    kind: 'write',
    op: 'lockAcquire',
    build: ({ header }) => ({ header, ...fields }),
    remembered: false,
    signal: opts.signal,
    // The server answers by the lock's timeout; the usual budget covers the rest.
    timeoutMs: timeoutMs + requestTimeoutMs,
  });
  const body = bodyOf<{ granted: boolean; token: number; zxid: number }>(answer.frame, 'lockAcquire');
  return body.granted ? { granted: true, token: body.token, zxid: body.zxid } : { granted: false, zxid: body.zxid };
}

export async function releaseLock(core: SessionCore, name: string, opts: CallOptions = {}): Promise<{ zxid: number }> {
  const answer = await core.request({ kind: 'write', op: 'lockRelease', build: ({ header }) => ({ header, name }), signal: opts.signal });
  return { zxid: bodyOf<{ zxid: number }>(answer.frame, 'lockRelease').zxid };
}

interface WireLock {
  name: string;
  exists: boolean;
  kind: string;
  permits: number;
  delayMs: number;
  blockedUntilMs: number;
  holders: { sessionId: number; token: number; mode: string; sinceMs: number; value: Uint8Array | null }[];
  waiters: { sessionId: number; mode: string; sinceMs: number }[];
  zxid: number;
}

export async function describeLock(core: SessionCore, name: string, opts: CallOptions = {}): Promise<LockInfo> {
  const answer = await core.request({ kind: 'read', op: 'lockDescribe', build: ({ minZxid }) => ({ name, consistency: 'LINEARIZABLE', minZxid }), signal: opts.signal });
  const d = bodyOf<WireLock>(answer.frame, 'lockDescribe');
  const holders = d.holders.map((h) => ({ sessionId: h.sessionId, token: h.token, mode: mode(h.mode), sinceMs: h.sinceMs, value: h.value ?? new Uint8Array(0) }));
  const waiters = d.waiters.map((w) => ({ sessionId: w.sessionId, mode: mode(w.mode), sinceMs: w.sinceMs }));
  if (!d.exists) return { name, exists: false, holders, waiters, zxid: d.zxid };
  const kind = (Object.entries(KIND).find(([, v]) => v === d.kind)?.[0] ?? 'mutex') as LockKind;
  return { name, exists: true, kind, permits: d.permits, delayMs: d.delayMs, blockedUntilMs: d.blockedUntilMs, holders, waiters, zxid: d.zxid };
}

export async function validateFence(core: SessionCore, name: string, token: number, opts: CallOptions = {}): Promise<boolean> {
  const answer = await core.request({ kind: 'read', op: 'validateFence', build: () => ({ name, token }), signal: opts.signal });
  return bodyOf<{ valid: boolean }>(answer.frame, 'validateFence').valid;
}
