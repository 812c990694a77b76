/**
 * Locks under simulated faults, judged after every apply on every replica with a model written
 * apart from src/state/locks.ts:
 *  - the state: never two holders when one is exclusive (mutex, rwlock writer), holders ≤ permits,
 *    holders and waiters are open sessions (a lock of an ended session is gone), each session once
 *    per lock, no waiter left at the head that could hold the lock (unless it is lock-delayed), and
 *    the read-only mirror node says the same;
 *  - the step: grants carry the txn's zxid as token; granted waiters were at the head of the queue
 *    (FIFO; a newcomer is granted only when nobody is left ahead), every holding that appears is a
 *    reported grant and every one that disappears a reported release; a session's close releases
 *    exactly what it held; a failed or duplicate txn changes nothing.
 * `LockTruth` spans replicas (like WatchTruth): they must report the same grants and releases at
 * each zxid, and over the history in zxid order each grant is released at most once and tokens
 * increase per lock (strictly for exclusive grants).
 */
import type { ApplyResult, ConclaveStateMachine, LockDescription, LockMode, Txn } from '../../src/state/index.js';
import { decodeTxn, isReservedPath } from '../../src/state/index.js';

export type LockViews = ReadonlyMap<string, LockDescription>;

export function lockViews(sm: ConclaveStateMachine): LockViews {
  return new Map(sm.locks.names().map((n) => [n, sm.locks.describe(n) as LockDescription]));
}

/** The model's own compatibility rule. */
function fits(d: LockDescription, mode: LockMode): boolean {
  if (d.kind === 'semaphore') return d.holders.length < d.permits;
  if (d.kind === 'mutex' || mode === 'exclusive') return d.holders.length === 0;
  return d.holders.every((h) => h.mode === 'shared');
}

const sessionsOf = (xs: readonly { sessionId: number }[]): number[] => xs.map((x) => x.sessionId);
const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (v: LockViews): string => JSON.stringify([...v].map(([n, d]) => [n, d.blockedUntilMs, d.holders.map((h) => [h.sessionId, h.token, h.mode]), sessionsOf(d.waiters)]));

/** Invariants of one replica's lock state (and its mirror nodes). */
export function checkLockState(sm: ConclaveStateMachine): string | undefined {
  const names = sm.locks.names();
  const dir = sm.tree.exists('/conclave/locks');
  if ((dir?.numChildren ?? 0) !== names.length) return `${dir?.numChildren ?? 0} mirror nodes for ${names.length} locks`;
  for (const name of names) {
    const d = sm.locks.describe(name) as LockDescription;
    const exclusive = d.holders.filter((h) => h.mode === 'exclusive').length;
    if (d.kind === 'mutex' && d.holders.length > 1) return `mutex ${name} has ${d.holders.length} holders`;
    if (exclusive > 0 && d.holders.length > 1) return `lock ${name} has an exclusive holder among ${d.holders.length}`;
    if (d.kind === 'semaphore' && (d.holders.length > d.permits || exclusive > 0)) return `semaphore ${name} has ${d.holders.length} holders for ${d.permits} permits`;
    const all = [...sessionsOf(d.holders), ...sessionsOf(d.waiters)];
    if (new Set(all).size !== all.length) return `lock ${name} lists a session twice: ${all.join(',')}`;
    const gone = all.find((s) => !sm.sessions.has(s));
    if (gone !== undefined) return `lock ${name} is held or awaited by ended session ${gone}`;
    const head = d.waiters[0];
    if (head && d.blockedUntilMs === 0 && fits(d, head.mode)) return `lock ${name}: head waiter ${head.sessionId} could hold it but waits`;
    if (all.length === 0 && d.blockedUntilMs === 0) return `lock ${name} is idle but kept`;
    const mirror = JSON.parse(new TextDecoder().decode(sm.tree.get(`/conclave/locks/${name}`).data)) as { holders: { sessionId: number; token: number }[]; waiters: { sessionId: number }[] };
    const holders = d.holders.map((h) => `${h.sessionId}@${h.token}`).join(',');
    if (mirror.holders.map((h) => `${h.sessionId}@${h.token}`).join(',') !== holders || !same(sessionsOf(mirror.waiters), sessionsOf(d.waiters))) {
      return `mirror of ${name} disagrees with the lock`;
    }
  }
  return undefined;
}

export function decodeOrUndefined(data: Uint8Array): Txn | undefined {
  try {
    return decodeTxn(data);
  } catch {
    return undefined;
  }
}

/** Lock txns and session closes; nothing else may change a lock. */
export function touchesLocks(txn: Txn | undefined): boolean {
  return txn !== undefined && (txn.body.type.startsWith('lock') || txn.body.type === 'closeSession');
}

/** Any other txn: no grants, no releases, no change under /conclave. */
export function checkNoLockChange(zxid: number, r: ApplyResult): string | undefined {
  if (r.lockGrants || r.lockReleases || r.events.some((e) => isReservedPath(e.path))) return `zxid ${zxid}: a txn that is not about locks changed them`;
  return undefined;
}

/** One replica's step from `before` to its current state by `txn` at `zxid` with result `r`. */
export function checkLockApply(zxid: number, txn: Txn | undefined, before: LockViews, r: ApplyResult, sm: ConclaveStateMachine): string | undefined {
  const after = lockViews(sm);
  const grants = r.lockGrants ?? [];
  const releases = r.lockReleases ?? [];
  if (!r.ok || r.duplicate) {
    if (grants.length > 0 || releases.length > 0 || show(before) !== show(after)) return `zxid ${zxid}: a ${r.duplicate ? 'duplicate' : 'failed'} txn changed locks`;
    return undefined;
  }
  const held = (v: LockViews, name: string, s: number): number | undefined => v.get(name)?.holders.find((h) => h.sessionId === s)?.token;
  for (const g of grants) {
    if (g.token !== zxid) return `zxid ${zxid}: grant of ${g.name} to ${g.sessionId} has token ${g.token}`;
    // Lock-delay: nothing is granted while blocked; only a wake at or after the deadline lifts it.
    const blocked = before.get(g.name)?.blockedUntilMs ?? 0;
    const stillBlocked = after.get(g.name)?.blockedUntilMs ?? 0;
    if (stillBlocked > 0 || (blocked > 0 && !(txn?.body.type === 'lockWake' && txn.timeMs >= blocked))) {
      return `zxid ${zxid}: ${g.name} granted to ${g.sessionId} during its lock-delay (blocked until ${blocked} before, ${stillBlocked} after)`;
    }
    if (held(after, g.name, g.sessionId) !== g.token || held(before, g.name, g.sessionId) !== undefined) return `zxid ${zxid}: grant of ${g.name} to ${g.sessionId} is not a new holding`;
  }
  for (const x of releases) {
    if (held(before, x.name, x.sessionId) !== x.token || held(after, x.name, x.sessionId) !== undefined) return `zxid ${zxid}: release of ${x.name} by ${x.sessionId} ended no holding`;
  }
  // Every holding that appeared was reported as a grant, every one that ended as a release.
  const count = (v: LockViews): number => [...v.values()].reduce((n, d) => n + d.holders.length, 0);
  if (count(after) !== count(before) + grants.length - releases.length) return `zxid ${zxid}: holdings changed without a grant or release (${show(before)} -> ${show(after)})`;
  for (const [name, pre] of before) {
    const got = grants.filter((g) => g.name === name).map((g) => g.sessionId);
    const postWaiters = sessionsOf(after.get(name)?.waiters ?? []);
    const queue = sessionsOf(pre.waiters);
    // Those still in line or granted, in queue order (the rest were cancelled or ended).
    const kept = queue.filter((s) => got.includes(s) || postWaiters.includes(s));
    const fromQueue = got.filter((s) => queue.includes(s));
    if (!same(fromQueue, kept.slice(0, fromQueue.length))) return `zxid ${zxid}: FIFO broken on ${name}: granted [${fromQueue}] from queue [${queue}]`;
    const stillWaiting = postWaiters.filter((s) => queue.includes(s));
    if (!same(stillWaiting, kept.slice(fromQueue.length))) return `zxid ${zxid}: queue of ${name} reordered: [${queue}] -> [${postWaiters}]`;
    if (postWaiters.length > stillWaiting.length + 1 || !same(postWaiters.slice(0, stillWaiting.length), stillWaiting)) {
      return `zxid ${zxid}: a newcomer entered the queue of ${name} other than at its end: [${queue}] -> [${postWaiters}]`;
    }
    if (got.some((s) => !queue.includes(s)) && stillWaiting.length > 0) return `zxid ${zxid}: a newcomer overtook the queue of ${name}`;
  }
  if (txn?.body.type === 'closeSession') {
    const s = txn.body.sessionId;
    const reason = txn.body.expired === true ? 'expired' : 'closed';
    const had = [...before].filter(([, d]) => d.holders.some((h) => h.sessionId === s)).map(([n]) => n).sort();
    const freed = releases.filter((x) => x.sessionId === s && x.reason === reason).map((x) => x.name).sort();
    if (freed.join() !== had.join() || releases.length !== had.length) return `zxid ${zxid}: closing session ${s} released [${freed}] of [${had}]`;
    if ([...after.values()].some((d) => [...d.holders, ...d.waiters].some((e) => e.sessionId === s))) return `zxid ${zxid}: session ${s} still in a lock after its close`;
    for (const name of reason === 'expired' ? had : []) {
      const delayMs = before.get(name)?.delayMs ?? 0;
      if (delayMs > 0 && (after.get(name)?.blockedUntilMs ?? 0) < txn.timeMs + delayMs) return `zxid ${zxid}: ${name} lost by expired session ${s} is not lock-delayed`;
    }
  } else if (releases.length > (txn?.body.type === 'lockRelease' ? 1 : 0) || releases.some((x) => x.reason !== 'released' || x.sessionId !== txn?.sessionId)) {
    return `zxid ${zxid}: a ${txn?.body.type ?? 'txn'} released ${JSON.stringify(releases)}`;
  }
  return undefined;
}

export class LockTruth {
  readonly #byZxid = new Map<number, string>();
  #lastZxid = 0;
  /** name/session/token of every holding granted and not yet released. */
  readonly #live = new Set<string>();
  readonly #lastToken = new Map<string, number>();
  readonly stats = { grants: 0, releases: 0, expiries: 0 };

  /** What a replica reported at `zxid`; a problem if replicas disagree or the history breaks a rule. */
  record(zxid: number, r: ApplyResult): string | undefined {
    const grants = r.lockGrants ?? [];
    const releases = r.lockReleases ?? [];
    const text = grants.length === 0 && releases.length === 0 ? '' : JSON.stringify([grants, releases]);
    const seen = this.#byZxid.get(zxid);
    if (seen !== undefined) return seen === text ? undefined : `replicas disagree on the locks of zxid ${zxid}: ${seen} vs ${text}`;
    this.#byZxid.set(zxid, text);
    if (zxid <= this.#lastZxid) return `lock truth: zxid ${zxid} first applied after ${this.#lastZxid}`;
    this.#lastZxid = zxid;
    for (const x of releases) {
      if (!this.#live.delete(`${x.name}/${x.sessionId}/${x.token}`)) return `zxid ${zxid}: ${x.name} held by ${x.sessionId} with token ${x.token} released twice or never granted`;
      this.stats.releases++;
      if (x.reason === 'expired') this.stats.expiries++;
    }
    for (const g of grants) {
      const last = this.#lastToken.get(g.name) ?? 0;
      if (g.token < last || (g.mode === 'exclusive' && g.token === last)) return `zxid ${zxid}: token ${g.token} of ${g.name} does not follow ${last}`;
      this.#lastToken.set(g.name, g.token);
      this.#live.add(`${g.name}/${g.sessionId}/${g.token}`);
      this.stats.grants++;
    }
    return undefined;
  }
}
