/**
 * Locks as replicated objects (mutex, rwlock, counting semaphore): pure and deterministic, like the
 * tree. Every mutator takes the txn's `zxid` and `timeMs` and records what it did in a
 * `LockChanges`; a refused request throws a ConclaveError before it changes anything.
 *
 * - Owners are sessions; a session has at most one entry (holding or waiting) per lock, so a
 *   retried acquire returns the existing grant or waiting position.
 * - Strict FIFO: after any change, waiters are granted from the head while the head is compatible
 *   with the holders; the first incompatible one stops the queue (a waiting writer blocks later
 *   readers, so writers are never starved). A new request is granted at once only when nobody
 *   waits, so it never overtakes a waiter.
 * - Fencing token: the zxid of the txn that made the grant. zxids are Raft indexes, so tokens
 *   increase strictly per lock across leader changes, crashes and restores with no counter to
 *   persist. Grants made by one txn (shared readers or semaphore permits woken together) share it.
 * - Lock-delay: when a session expires holding a lock whose `delayMs > 0`, the lock grants nothing
 *   until `timeMs + delayMs`; only a `wake` at or after that time lifts the block (the leader
 *   proposes it; see `locksToWake`).
 * - A lock with no holders, no waiters and no block is forgotten: its kind, permits and delay are
 *   fixed by the acquire that creates it again.
 */
import { crc32c } from '../common/checksum.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { stateLimits, type StateLimits } from './limits.js';
import { type LockKind, type LockMode, isLockKind, isLockMode, validateLockName } from './lock-name.js';
import type { LockAcquireOutcome, LockAcquireRequest, LockChanges, LockDescription, LockHolder, LockWaiter } from './lock-types.js';

interface Lock {
  readonly kind: LockKind;
  readonly permits: number;
  readonly delayMs: number;
  blockedUntilMs: number;
  holders: LockHolder[];
  waiters: LockWaiter[];
}

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ConclaveError {
  return new ConclaveError(code, message, details);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether a request in `mode` may be granted next to the current holders (waiters aside). */
export function compatible(kind: LockKind, permits: number, holders: readonly { readonly mode: LockMode }[], mode: LockMode): boolean {
  switch (kind) {
    case 'mutex':
      return holders.length === 0;
    case 'rwlock':
      return mode === 'exclusive' ? holders.length === 0 : holders.every((h) => h.mode === 'shared');
    case 'semaphore':
      return holders.length < permits;
  }
}

export class LockTable {
  readonly limits: Readonly<StateLimits>;
  readonly #locks = new Map<string, Lock>();
  /** Session → names of the locks it holds or waits for. */
  readonly #bySession = new Map<number, Set<string>>();
  /** Names of the locks under a lock-delay, so the leader's timer does not scan every lock. */
  readonly #blocked = new Set<string>();

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  get size(): number {
    return this.#locks.size;
  }

  /** Names of every known lock, sorted. */
  names(): string[] {
    return [...this.#locks.keys()].sort();
  }

  describe(name: string): LockDescription | undefined {
    const l = this.#locks.get(name);
    if (l === undefined) return undefined;
    return { name, kind: l.kind, permits: l.permits, delayMs: l.delayMs, blockedUntilMs: l.blockedUntilMs, holders: [...l.holders], waiters: [...l.waiters] };
  }

  /** Whether `token` is a current holder's token of `name` (Chubby's CheckSequencer). */
  validateFence(name: string, token: number): boolean {
    return this.#locks.get(name)?.holders.some((h) => h.token === token) ?? false;
  }

  /** Blocked locks whose lock-delay has passed at `nowMs`, sorted: the leader proposes a wake for each. */
  locksToWake(nowMs: number): string[] {
    return [...this.#blocked].filter((name) => (this.#locks.get(name) as Lock).blockedUntilMs <= nowMs).sort();
  }

  /** The earliest lock-delay end, for the leader's timer; undefined when no lock is blocked. */
  nextWakeMs(): number | undefined {
    let next: number | undefined;
    for (const name of this.#blocked) {
      const until = (this.#locks.get(name) as Lock).blockedUntilMs;
      if (next === undefined || until < next) next = until;
    }
    return next;
  }

  /** Names of the locks the session holds or waits for, sorted. */
  locksOf(sessionId: number): string[] {
    return [...(this.#bySession.get(sessionId) ?? [])].sort();
  }

  /** Sessions with a lock entry, ascending. */
  owners(): number[] {
    return [...this.#bySession.keys()].sort((a, b) => a - b);
  }

  /** Order-independent digest of every lock. */
  digest(): number {
    let sum = 0;
    for (const name of this.#locks.keys()) sum = (sum + crc32c(encoder.encode(describeCanonically(this.describe(name) as LockDescription)))) % 0x1_0000_0000;
    return sum;
  }

  // -------------------------------------------------------------------------------------------
  // Writes.

  acquire(req: LockAcquireRequest, sessionId: number, zxid: number, timeMs: number, changes: LockChanges): LockAcquireOutcome {
    const { name, kind, mode, permits, delayMs, value } = this.#checkRequest(req);
    const lock = this.#locks.get(name);
    if (lock !== undefined && (lock.kind !== kind || lock.permits !== permits || lock.delayMs !== delayMs)) {
      throw fail(ErrorCode.BAD_ARGUMENTS, `lock ${name} is a ${describeShape(lock)}, not a ${describeShape({ kind, permits, delayMs })}`, { name });
    }
    const held = lock?.holders.findIndex((h) => h.sessionId === sessionId) ?? -1;
    const waiting = lock?.waiters.findIndex((w) => w.sessionId === sessionId) ?? -1;
    const entry = lock === undefined ? undefined : held >= 0 ? lock.holders[held] : lock.waiters[waiting];
    if (lock !== undefined && entry !== undefined) {
      // Idempotent: the same grant or place in line. A new value is proclaimed (leader election).
      if (entry.mode !== mode) throw fail(ErrorCode.BAD_ARGUMENTS, `session ${sessionId} already ${held >= 0 ? 'holds' : 'waits for'} lock ${name} in ${entry.mode} mode`, { name });
      if (!sameBytes(entry.value, value)) {
        if (held >= 0) lock.holders[held] = { ...(entry as LockHolder), value };
        else lock.waiters[waiting] = { ...entry, value };
        changes.touched.add(name);
      }
      return held >= 0 ? { granted: true, token: (entry as LockHolder).token } : { granted: false, position: waiting };
    }
    if (lock === undefined && this.#locks.size >= this.limits.locksMax) {
      throw fail(ErrorCode.LIMIT_EXCEEDED, `at most ${this.limits.locksMax} locks may be in use`, { name });
    }
    const target = lock ?? { kind, permits, delayMs, blockedUntilMs: 0, holders: [], waiters: [] };
    if (target.blockedUntilMs === 0 && target.waiters.length === 0 && compatible(kind, permits, target.holders, mode)) {
      if (lock === undefined) this.#locks.set(name, target);
      this.#index(sessionId, name, true);
      this.#grant(name, target, { sessionId, mode, sinceMs: timeMs, value }, zxid, changes);
      return { granted: true, token: zxid };
    }
    if (req.wait !== true) return { granted: false };
    // A new lock is always grantable, so `lock` is defined here.
    if (target.waiters.length >= this.limits.lockWaitersMax) {
      throw fail(ErrorCode.LIMIT_EXCEEDED, `lock ${name} already has ${target.waiters.length} waiters`, { name });
    }
    target.waiters.push({ sessionId, mode, sinceMs: timeMs, value });
    this.#index(sessionId, name, true);
    changes.touched.add(name);
    return { granted: false, position: target.waiters.length - 1 };
  }

  /** Ends the session's holding of `name`; throws NO_NODE when it holds none (waiting is not holding: cancel). */
  release(name: string, sessionId: number, zxid: number, timeMs: number, changes: LockChanges): void {
    validateLockName(name, this.limits);
    const lock = this.#locks.get(name);
    const at = lock?.holders.findIndex((h) => h.sessionId === sessionId) ?? -1;
    if (lock === undefined || at < 0) throw fail(ErrorCode.NO_NODE, `session ${sessionId} does not hold lock ${name}`, { name, sessionId });
    const [h] = lock.holders.splice(at, 1) as [LockHolder];
    this.#index(sessionId, name, false);
    changes.releases.push({ name, sessionId, token: h.token, reason: 'released' });
    this.#settle(name, lock, zxid, timeMs, changes);
  }

  /** Withdraws the session's waiting request; false (nothing changes) when it is not waiting, e.g. granted meanwhile. */
  cancel(name: string, sessionId: number, zxid: number, timeMs: number, changes: LockChanges): boolean {
    validateLockName(name, this.limits);
    const lock = this.#locks.get(name);
    const at = lock?.waiters.findIndex((w) => w.sessionId === sessionId) ?? -1;
    if (lock === undefined || at < 0) return false;
    lock.waiters.splice(at, 1);
    this.#index(sessionId, name, false);
    this.#settle(name, lock, zxid, timeMs, changes);
    return true;
  }

  /** Lifts a lock-delay that has passed at `timeMs` and grants waiters; false when there was none to lift. */
  wake(name: string, zxid: number, timeMs: number, changes: LockChanges): boolean {
    validateLockName(name, this.limits);
    const lock = this.#locks.get(name);
    if (lock === undefined || lock.blockedUntilMs === 0 || timeMs < lock.blockedUntilMs) return false;
    lock.blockedUntilMs = 0;
    this.#blocked.delete(name);
    this.#settle(name, lock, zxid, timeMs, changes);
    return true;
  }

  /**
   * The session ended: release everything it holds and drop its waiting requests, then grant the
   * waiters. On expiry, a lock with a lock-delay that it held is blocked until `timeMs + delayMs`.
   */
  endSession(sessionId: number, expired: boolean, zxid: number, timeMs: number, changes: LockChanges): void {
    for (const name of this.locksOf(sessionId)) {
      const lock = this.#locks.get(name) as Lock;
      const at = lock.holders.findIndex((h) => h.sessionId === sessionId);
      if (at >= 0) {
        const [h] = lock.holders.splice(at, 1) as [LockHolder];
        changes.releases.push({ name, sessionId, token: h.token, reason: expired ? 'expired' : 'closed' });
        if (expired && lock.delayMs > 0) {
          lock.blockedUntilMs = Math.max(lock.blockedUntilMs, timeMs + lock.delayMs);
          this.#blocked.add(name);
        }
      } else {
        lock.waiters = lock.waiters.filter((w) => w.sessionId !== sessionId);
      }
      this.#settle(name, lock, zxid, timeMs, changes);
    }
    this.#bySession.delete(sessionId);
  }

  // -------------------------------------------------------------------------------------------
  // Restore from a snapshot.

  /**
   * Builds a table from stored locks. Throws CORRUPTED unless each is a state this table could
   * have reached: valid shapes, compatible holders, a session at most once per lock, tokens at most
   * `appliedIndex`, and a head waiter that could not be granted (unless the lock is blocked).
   */
  static fromDescriptions(locks: Iterable<LockDescription>, appliedIndex: number, limits: Readonly<StateLimits> = stateLimits): LockTable {
    const table = new LockTable(limits);
    for (const d of locks) {
      const corrupt = (why: string): ConclaveError => fail(ErrorCode.CORRUPTED, `snapshot lock ${JSON.stringify(String(d.name))}: ${why}`, { name: d.name });
      try {
        validateLockName(d.name, limits);
      } catch {
        throw corrupt('bad name');
      }
      if (table.#locks.has(d.name)) throw corrupt('duplicate');
      if (!isLockKind(d.kind) || !isCount(d.permits) || d.permits < 1 || (d.kind !== 'semaphore' && d.permits !== 1)) throw corrupt('bad kind or permits');
      if (!isCount(d.delayMs) || !isCount(d.blockedUntilMs)) throw corrupt('bad delay');
      const lock: Lock = { kind: d.kind, permits: d.permits, delayMs: d.delayMs, blockedUntilMs: d.blockedUntilMs, holders: [], waiters: [] };
      const seen = new Set<number>();
      for (const e of [...d.holders, ...d.waiters]) {
        if (!isCount(e.sessionId) || e.sessionId === 0 || seen.has(e.sessionId)) throw corrupt('zero or repeated session');
        seen.add(e.sessionId);
        if (!isLockMode(e.mode) || e.mode !== modeFor(d.kind, e.mode)) throw corrupt(`mode ${String(e.mode)} in a ${d.kind}`);
        if (!isCount(e.sinceMs) || !(e.value instanceof Uint8Array)) throw corrupt('bad entry');
      }
      for (const h of d.holders) {
        if (!isCount(h.token) || h.token === 0 || h.token > appliedIndex) throw corrupt(`token ${String(h.token)} outside 1..${appliedIndex}`);
        if (h.token < (lock.holders[lock.holders.length - 1]?.token ?? 0)) throw corrupt('holders out of grant order');
        if (!compatible(lock.kind, lock.permits, lock.holders, h.mode)) throw corrupt('incompatible holders');
        lock.holders.push({ sessionId: h.sessionId, token: h.token, mode: h.mode, sinceMs: h.sinceMs, value: Uint8Array.from(h.value) });
      }
      lock.waiters = d.waiters.map((w) => ({ sessionId: w.sessionId, mode: w.mode, sinceMs: w.sinceMs, value: Uint8Array.from(w.value) }));
      const head = lock.waiters[0];
      if (head !== undefined && lock.blockedUntilMs === 0 && compatible(lock.kind, lock.permits, lock.holders, head.mode)) throw corrupt('its head waiter should hold it');
      if (lock.holders.length === 0 && lock.waiters.length === 0 && lock.blockedUntilMs === 0) throw corrupt('idle');
      table.#locks.set(d.name, lock);
      if (lock.blockedUntilMs > 0) table.#blocked.add(d.name);
      for (const s of seen) table.#index(s, d.name, true);
    }
    return table;
  }

  // -------------------------------------------------------------------------------------------

  #checkRequest(req: LockAcquireRequest): { name: string; kind: LockKind; mode: LockMode; permits: number; delayMs: number; value: Uint8Array } {
    if (typeof req !== 'object' || req === null) throw fail(ErrorCode.BAD_ARGUMENTS, 'an acquire must be an object');
    const { name, kind } = req;
    validateLockName(name, this.limits);
    if (!isLockKind(kind)) throw fail(ErrorCode.BAD_ARGUMENTS, `unknown lock kind ${String(kind)}`, { name });
    const requested = req.mode ?? 'exclusive';
    if (!isLockMode(requested)) throw fail(ErrorCode.BAD_ARGUMENTS, `unknown lock mode ${String(requested)}`, { name });
    if (kind === 'mutex' && requested === 'shared') throw fail(ErrorCode.BAD_ARGUMENTS, 'a mutex has no shared mode: use an rwlock', { name });
    const permits = req.permits ?? 0;
    if (!isCount(permits)) throw fail(ErrorCode.BAD_ARGUMENTS, `permits must be a non-negative integer, got ${String(permits)}`, { name });
    if (kind === 'semaphore') {
      if (permits === 0) throw fail(ErrorCode.BAD_ARGUMENTS, 'a semaphore needs at least 1 permit', { name });
      if (permits > this.limits.lockPermitsMax) throw fail(ErrorCode.LIMIT_EXCEEDED, `a semaphore has at most ${this.limits.lockPermitsMax} permits, got ${permits}`, { name });
    } else if (permits > 1) throw fail(ErrorCode.BAD_ARGUMENTS, `permits are for semaphores, not a ${kind}`, { name });
    const delayMs = req.delayMs ?? 0;
    if (!isCount(delayMs)) throw fail(ErrorCode.BAD_ARGUMENTS, `delayMs must be a non-negative integer, got ${String(delayMs)}`, { name });
    if (delayMs > this.limits.lockDelayMsMax) throw fail(ErrorCode.LIMIT_EXCEEDED, `lock-delay is at most ${this.limits.lockDelayMsMax} ms, got ${delayMs}`, { name });
    const value = req.value ?? new Uint8Array(0);
    if (!(value instanceof Uint8Array)) throw fail(ErrorCode.BAD_ARGUMENTS, 'value must be bytes', { name });
    if (value.length > this.limits.lockValueBytesMax) throw fail(ErrorCode.LIMIT_EXCEEDED, `a lock value has at most ${this.limits.lockValueBytesMax} bytes, got ${value.length}`, { name });
    return { name, kind, mode: modeFor(kind, requested), permits: kind === 'semaphore' ? permits : 1, delayMs, value: Uint8Array.from(value) };
  }

  #grant(name: string, lock: Lock, w: LockWaiter, zxid: number, changes: LockChanges): void {
    lock.holders.push({ sessionId: w.sessionId, token: zxid, mode: w.mode, sinceMs: w.sinceMs, value: w.value });
    changes.grants.push({ name, sessionId: w.sessionId, token: zxid, mode: w.mode });
    changes.touched.add(name);
  }

  /** After a change: grant from the head while compatible (unless blocked), and forget an idle lock. */
  #settle(name: string, lock: Lock, zxid: number, timeMs: number, changes: LockChanges): void {
    changes.touched.add(name);
    if (lock.blockedUntilMs === 0) {
      let head = lock.waiters[0];
      while (head !== undefined && compatible(lock.kind, lock.permits, lock.holders, head.mode)) {
        lock.waiters.shift();
        this.#grant(name, lock, { ...head, sinceMs: timeMs }, zxid, changes);
        head = lock.waiters[0];
      }
    }
    if (lock.holders.length === 0 && lock.waiters.length === 0 && lock.blockedUntilMs === 0) this.#locks.delete(name);
  }

  #index(sessionId: number, name: string, add: boolean): void {
    let names = this.#bySession.get(sessionId);
    if (add) {
      if (names === undefined) this.#bySession.set(sessionId, (names = new Set()));
      names.add(name);
    } else if (names !== undefined) {
      names.delete(name);
      if (names.size === 0) this.#bySession.delete(sessionId);
    }
  }
}

/** The mode a grant is recorded in: a mutex is exclusive, a semaphore permit shared, an rwlock as asked. */
function modeFor(kind: LockKind, requested: LockMode): LockMode {
  return kind === 'rwlock' ? requested : kind === 'mutex' ? 'exclusive' : 'shared';
}

function describeShape(s: { kind: LockKind; permits: number; delayMs: number }): string {
  return `${s.kind}${s.kind === 'semaphore' ? ` of ${s.permits} permits` : ''}${s.delayMs > 0 ? ` with a ${s.delayMs} ms lock-delay` : ''}`;
}

const encoder = new TextEncoder();

/** A stable text form of a lock (values in base64): the input of its digest. */
export function describeCanonically(d: LockDescription): string {
  const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64');
  return JSON.stringify([
    d.name,
    d.kind,
    d.permits,
    d.delayMs,
    d.blockedUntilMs,
    d.holders.map((h) => [h.sessionId, h.token, h.mode, h.sinceMs, b64(h.value)]),
    d.waiters.map((w) => [w.sessionId, w.mode, w.sinceMs, b64(w.value)]),
  ]);
}
