/**
 * The handlers of the `Locks` service (also served on the session stream). An acquire that cannot
 * be granted at once waits server-side — no polling, no herd: the grant arrives with the entry that
 * made it (a release, a session's end, a wake) — until granted, timed out, cancelled by the caller,
 * or its session ends. A wait that ends without a grant withdraws the session from the queue with a
 * cancel entry, so no grant goes to a caller that stopped waiting.
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import type { ConclaveServer } from '../server/conclave-server.js';
import { type LockDescription, type LockKind, type LockMode, type TxnResult, lockNodePath, stateLimits, validateLockName } from '../state/index.js';
import { authorize } from './access-control.js';
import type { CallContext, Handler } from './conclave-service.js';
import { type Req, bad, header, linearizable, num } from './request-parsing.js';

const KIND_OF: Readonly<Record<string, LockKind>> = { MUTEX: 'mutex', RWLOCK: 'rwlock', SEMAPHORE: 'semaphore' };
const MODE_OF: Readonly<Record<string, LockMode>> = { EXCLUSIVE: 'exclusive', SHARED: 'shared' };
const KIND_NAME: Readonly<Record<LockKind, string>> = { mutex: 'MUTEX', rwlock: 'RWLOCK', semaphore: 'SEMAPHORE' };
const MODE_NAME: Readonly<Record<LockMode, string>> = { exclusive: 'EXCLUSIVE', shared: 'SHARED' };
/** The longest an acquire may block. */
export const LOCK_TIMEOUT_MS_MAX = 3_600_000;

function lockName(req: Req): string {
  const name = req['name'];
  validateLockName(name, stateLimits);
  return name;
}

function enumOf<T>(table: Readonly<Record<string, T>>, value: unknown, what: string): T {
  const v = typeof value === 'string' ? table[value] : undefined;
  if (v === undefined) throw bad(`unknown ${what} ${String(value)}`);
  return v;
}

function describeMessage(name: string, d: LockDescription | undefined, zxid: number): object {
  if (!d) return { name, exists: false, holders: [], waiters: [], zxid };
  return {
    name,
    exists: true,
    kind: KIND_NAME[d.kind],
    permits: d.permits,
    delayMs: d.delayMs,
    blockedUntilMs: d.blockedUntilMs,
    holders: d.holders.map((h) => ({ sessionId: h.sessionId, token: h.token, mode: MODE_NAME[h.mode], sinceMs: h.sinceMs, value: h.value })),
    waiters: d.waiters.map((w) => ({ sessionId: w.sessionId, mode: MODE_NAME[w.mode], sinceMs: w.sinceMs })),
    zxid,
  };
}

/** The session's current grant of `name`, if it holds it. */
function heldToken(server: ConclaveServer, name: string, sessionId: number): number | undefined {
  return server.sm.locks.describe(name)?.holders.find((h) => h.sessionId === sessionId)?.token;
}

function acquireResult(r: TxnResult): { granted: boolean; token?: number } {
  if (r.type !== 'lockAcquire') throw new ConclaveError(ErrorCode.RUNTIME_INCONSISTENCY, 'unexpected result');
  return r.token === undefined ? { granted: r.granted } : { granted: r.granted, token: r.token };
}

async function acquire(server: ConclaveServer, req: Req, ctx: CallContext): Promise<object> {
  const started = performance.now();
  const observe = (result: string): void => server.metrics?.lockWaitSeconds.observe({ result }, (performance.now() - started) / 1000);
  const name = lockName(req);
  authorize(server, ctx, 'lock', lockNodePath(name));
  const kind = enumOf(KIND_OF, req['kind'] ?? 'MUTEX', 'lock kind');
  const mode = enumOf(MODE_OF, req['mode'] ?? 'EXCLUSIVE', 'lock mode');
  const permits = num(req, 'permits');
  const timeoutMs = num(req, 'timeoutMs');
  const delayMs = num(req, 'delayMs');
  if (timeoutMs > LOCK_TIMEOUT_MS_MAX) throw bad(`timeout_ms must be at most ${LOCK_TIMEOUT_MS_MAX}`);
  const value = req['value'] instanceof Uint8Array ? req['value'] : new Uint8Array(0);
  const h = header(req);
  if (h.sessionId === 0) throw bad('a lock is held by a session: the request header needs session_id');
  const wait = timeoutMs > 0;
  // Listen before proposing: the grant may be applied in the very entry of a later release.
  const waiter = wait ? server.lockWaiters.wait(name, h.sessionId) : undefined;
  try {
    // No request id: an acquire is idempotent per (lock, session) — a retry joins its own grant or
    // place in line — and a remembered "waiting" answer could outlive the wait it describes.
    const { result, zxid } = await server.write({ type: 'lockAcquire', name, kind, mode, permits, wait, delayMs, value }, { sessionId: h.sessionId, seq: 0 }, ctx.caller.identity);
    const first = acquireResult(result);
    // A replayed answer (a retried request) may say "waiting" for a lock granted since.
    const token = first.token ?? heldToken(server, name, h.sessionId);
    if (first.granted || token !== undefined || !waiter) {
      observe(token !== undefined ? 'granted' : 'busy');
      return token !== undefined ? { granted: true, token, zxid } : { granted: false, zxid };
    }
    const outcome = await waitForGrant(waiter.granted, timeoutMs, ctx.signal);
    if (outcome.token !== undefined) {
      observe('granted');
      return { granted: true, token: outcome.token, zxid: server.sm.lastApplied };
    }
    // Timed out or abandoned: leave the queue, unless the grant won the race. Trusted (no identity):
    // withdrawing must work even if the caller's permission was revoked while it waited.
    const { result: cancelled } = await server.write({ type: 'lockCancel', name }, { sessionId: h.sessionId, seq: 0 });
    const late = heldToken(server, name, h.sessionId);
    if (cancelled.type === 'lockCancel' && !cancelled.cancelled && late !== undefined) {
      observe('granted');
      return { granted: true, token: late, zxid: server.sm.lastApplied };
    }
    observe('timeout');
    return { granted: false, zxid: server.sm.lastApplied };
  } catch (err: unknown) {
    observe(isConclaveError(err) ? err.code : 'error');
    throw err;
  } finally {
    waiter?.cancel();
  }
}

function waitForGrant(granted: Promise<number>, timeoutMs: number, signal: AbortSignal | undefined): Promise<{ token?: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish({}), timeoutMs);
    const onAbort = (): void => finish({});
    const finish = (v: { token?: number }): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    granted.then(
      (token) => finish({ token }),
      (err: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export function lockHandlers(server: ConclaveServer): Record<string, Handler> {
  return {
    Acquire: (req, ctx) => acquire(server, req, ctx),
    Release: async (req, ctx) => {
      const name = lockName(req);
      authorize(server, ctx, 'lock', lockNodePath(name));
      const h = header(req);
      if (h.sessionId === 0) throw bad('a lock is held by a session: the request header needs session_id');
      const { zxid } = await server.write({ type: 'lockRelease', name }, h, ctx.caller.identity);
      return { zxid };
    },
    Describe: async (req, ctx) => {
      const name = lockName(req);
      authorize(server, ctx, 'read', lockNodePath(name));
      await server.readBarrier(linearizable(req), num(req, 'minZxid'));
      return describeMessage(name, server.sm.locks.describe(name), server.sm.lastApplied);
    },
    ValidateFence: async (req, ctx) => {
      const name = lockName(req);
      authorize(server, ctx, 'read', lockNodePath(name));
      const token = num(req, 'token');
      await server.readBarrier(true);
      return { valid: server.sm.locks.validateFence(name, token), zxid: server.sm.lastApplied };
    },
  };
}
