/**
 * Background lock traffic for simulations of the real state machine, beside ZnodeTraffic: its own
 * sessions acquire (blocking or try), release, cancel, proclaim values and end (closed or
 * expired), on a mutex, a mutex with a lock-delay, an rwlock, a semaphore and an election lock;
 * some requests carry request ids and some are proposed twice, so dedup is exercised; and, as the
 * leader would, it proposes a wake for every lock whose delay has passed. Everything goes to the
 * current leader under the same faults as the rest; nobody waits for the answers: the lock checker
 * judges every apply. It draws from its own generator, so adding it left the simulator's other
 * draws as they were.
 */
import type { Rng } from '../../src/common/rng.js';
import { type LockKind, type LockMode, type Txn, type TxnBody, encodeTxn } from '../../src/state/index.js';
import type { SimNode } from './sim-node.js';
import { ZnodeApp } from './znode-app.js';

const RATE = 0.15;
/** Session ids apart from ZnodeTraffic's (which counts from 1). */
const SESSION_BASE = 1_000_000;

interface LockSpec {
  readonly name: string;
  readonly kind: LockKind;
  readonly permits: number;
  readonly delayMs: number;
}

const LOCKS: readonly LockSpec[] = [
  { name: 'm', kind: 'mutex', permits: 0, delayMs: 0 },
  { name: 'md', kind: 'mutex', permits: 0, delayMs: 25 },
  { name: 'rw', kind: 'rwlock', permits: 0, delayMs: 0 },
  { name: 'sem', kind: 'semaphore', permits: 2, delayMs: 10 },
  { name: 'el', kind: 'mutex', permits: 0, delayMs: 0 },
];

export class LockTraffic {
  readonly #rng: Rng;
  #nextSession = SESSION_BASE;
  readonly #seq = new Map<number, number>();
  #last: Uint8Array | undefined;
  readonly stats = { proposed: 0, retried: 0, wakes: 0 };

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  tick(now: number, leader: SimNode): void {
    const app = leader.sm;
    if (!(app instanceof ZnodeApp)) return;
    const rng = this.#rng;
    for (const name of app.sm.locks.locksToWake(now)) {
      if (!rng.chance(0.5)) continue;
      this.stats.wakes++;
      leader.proposeRaw(now, encodeTxn({ timeMs: now, sessionId: 0, seq: 0, body: { type: 'lockWake', name } }));
    }
    if (!rng.chance(RATE)) return;
    if (this.#last && rng.chance(0.08)) {
      // A client's retry of its last request: same bytes, same request id.
      this.stats.retried++;
      leader.proposeRaw(now, this.#last);
      return;
    }
    const mine = app.sm.sessions.ids().filter((id) => id >= SESSION_BASE);
    if (mine.length < 3 || rng.chance(0.04)) {
      this.#propose(now, leader, { timeMs: now, sessionId: 0, seq: 0, body: { type: 'createSession', sessionId: this.#nextSession++, timeoutMs: 1000 } });
      return;
    }
    const lock = rng.pick(LOCKS);
    const d = app.sm.locks.describe(lock.name);
    const holders = d?.holders.map((h) => h.sessionId) ?? [];
    const waiters = d?.waiters.map((w) => w.sessionId) ?? [];
    // Mostly sessions that matter (holders, waiters), sometimes anyone (the error paths).
    const some = (xs: number[]): number => (xs.length > 0 && rng.chance(0.85) ? rng.pick(xs) : rng.pick(mine));
    const action = rng.int(0, 9);
    let session: number;
    let body: TxnBody;
    if (action <= 3) {
      session = rng.pick(mine);
      body = this.#acquire(lock, session, rng.chance(0.8));
    } else if (action <= 5) {
      session = some(holders);
      body = { type: 'lockRelease', name: lock.name };
    } else if (action === 6) {
      session = some(waiters);
      body = { type: 'lockCancel', name: lock.name };
    } else if (action === 7) {
      session = some(holders);
      this.#propose(now, leader, { timeMs: now, sessionId: 0, seq: 0, body: { type: 'closeSession', sessionId: session, expired: rng.chance(0.6) } });
      return;
    } else if (action === 8) {
      // A holder proclaims a new value (election), or a request of the wrong shape (refused).
      session = some(holders);
      body = rng.chance(0.7) ? this.#acquire(lock, session, true) : { ...this.#acquire(lock, session, true), kind: lock.kind === 'mutex' ? 'rwlock' : 'mutex' };
    } else {
      session = rng.pick(mine);
      body = this.#acquire(lock, session, false);
    }
    const seq = rng.chance(0.5) ? (this.#seq.get(session) ?? 0) + 1 : 0;
    if (seq > 0) this.#seq.set(session, seq);
    this.#propose(now, leader, { timeMs: now, sessionId: session, seq, body });
  }

  #acquire(lock: LockSpec, session: number, wait: boolean): Extract<TxnBody, { type: 'lockAcquire' }> {
    const mode: LockMode = lock.kind === 'rwlock' && this.#rng.chance(0.6) ? 'shared' : 'exclusive';
    const value = lock.name === 'el' ? new TextEncoder().encode(`s${session}:${this.#rng.int(0, 3)}`) : new Uint8Array(0);
    return { type: 'lockAcquire', name: lock.name, kind: lock.kind, mode, permits: lock.permits, wait, delayMs: lock.delayMs, value };
  }

  #propose(now: number, leader: SimNode, txn: Txn): void {
    const data = encodeTxn(txn);
    if (txn.seq > 0) this.#last = data;
    this.stats.proposed++;
    leader.proposeRaw(now, data);
  }
}
