/**
 * Conclave's replicated state machine: `apply(index, data)` decodes a txn and applies it to the
 * znode tree, the sessions table and the locks (mirrored read-only under `/conclave/locks`). The
 * zxid of a txn is its Raft index. Same input, same output, on every replica; no clock, no
 * randomness, no I/O.
 *
 * Expected failures (bad path, bad version, unknown session, garbage bytes, ...) come back as
 * `{ ok: false, error }` with the state unchanged; apply never throws for them. Only a broken
 * invariant (an assertion) throws: crash rather than corrupt.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import type { MultiOpResult, TreeCapture, TreeOp, TreeOpResult } from './data-tree.js';
import { DataTree } from './data-tree.js';
import { stateLimits, type StateLimits } from './limits.js';
import { parentPath } from './path.js';
import { checkLockMirror, syncLockMirror } from './lock-mirror.js';
import { lockRows, locksFromRows } from './lock-snapshot.js';
import { LockTable } from './locks.js';
import { type LockGrant, type LockRelease, LockChanges } from './lock-types.js';
import { type MemberChange, MemberTable } from './members.js';
import { SessionTable } from './sessions.js';
import { decodeOutcome, memberRows, membersFromRows, sessionRows, sessionsFromRows, treeFromRows, treeRows, type StateSnapshotRows } from './state-snapshot.js';
import { decodeTxn } from './txn-codec.js';
import type { LockTxnBody, Txn } from './txn.js';

export type TxnResult =
  | TreeOpResult
  | { readonly type: 'multi'; readonly results: readonly TreeOpResult[] }
  | { readonly type: 'createSession'; readonly sessionId: number }
  /** `deleted`: the session's ephemeral nodes, removed in this same txn. */
  | { readonly type: 'closeSession'; readonly sessionId: number; readonly deleted: readonly string[] }
  /** An entry with no data (the leader's empty entry at the start of its term). */
  | { readonly type: 'noop' }
  /** `token` when granted (the fencing token); `position` (waiters ahead) when queued; neither for a TryAcquire refused. */
  | { readonly type: 'lockAcquire'; readonly name: string; readonly granted: boolean; readonly token?: number; readonly position?: number }
  | { readonly type: 'lockRelease'; readonly name: string }
  /** `cancelled: false`: the session was not waiting (granted meanwhile, or never queued); nothing changed. */
  | { readonly type: 'lockCancel'; readonly name: string; readonly cancelled: boolean }
  /** `woken: false`: no lock-delay had passed; nothing changed. */
  | { readonly type: 'lockWake'; readonly name: string; readonly woken: boolean };

export interface ApplyError {
  readonly code: ErrorCode;
  readonly message: string;
  /** A failed multi: the index of the op that failed. */
  readonly failedIndex?: number;
  /** A failed multi: per-op results (the failing op's error, RUNTIME_INCONSISTENCY for the others). */
  readonly results?: readonly MultiOpResult[];
}

export type TxnOutcome = { readonly ok: true; readonly result: TxnResult } | { readonly ok: false; readonly error: ApplyError };

/** What changed, for watches: ZooKeeper's NodeCreated, NodeDataChanged, NodeDeleted, NodeChildrenChanged. */
export interface ChangeEvent {
  readonly type: 'created' | 'changed' | 'deleted' | 'children';
  readonly path: string;
  readonly zxid: number;
}

export type ApplyResult = TxnOutcome & {
  /** In apply order; empty when nothing changed. */
  readonly events: readonly ChangeEvent[];
  /** The txn repeated its session's latest request: this is the remembered outcome, nothing was applied. */
  readonly duplicate?: true;
  /**
   * Every lock grant this txn made, in order: to the acquirer, and to waiters that a release,
   * cancel, session end or wake let in (the server answers their blocked Acquire calls). Absent when none.
   */
  readonly lockGrants?: readonly LockGrant[];
  /** Every lock holding this txn ended (release, session close or expiry), in order. Absent when none. */
  readonly lockReleases?: readonly LockRelease[];
};

function withLocks(outcome: TxnOutcome, events: readonly ChangeEvent[], changes: LockChanges): ApplyResult {
  return {
    ...outcome,
    events,
    ...(changes.grants.length > 0 ? { lockGrants: changes.grants } : {}),
    ...(changes.releases.length > 0 ? { lockReleases: changes.releases } : {}),
  };
}

function errorOutcome(err: ConclaveError): TxnOutcome {
  return { ok: false, error: { code: err.code, message: err.message } };
}

function fail(code: ErrorCode, message: string): TxnOutcome {
  return { ok: false, error: { code, message: `${code}: ${message}` } };
}

export class ConclaveStateMachine {
  #tree: DataTree;
  #sessions = new SessionTable<TxnOutcome>();
  #members = new MemberTable();
  #locks: LockTable;
  #lastApplied = 0;
  /** The digest as of an applied index (see `digest`). */
  #digestAt: { readonly applied: number; readonly value: number } | undefined;
  readonly limits: Readonly<StateLimits>;

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
    this.#tree = new DataTree(limits);
    this.#locks = new LockTable(limits);
  }

  /** The locks, for reads: `describe`, `validateFence`, `locksToWake`. Do not mutate them directly. */
  get locks(): LockTable {
    return this.#locks;
  }

  /** The znode tree, for reads (get, exists, children) and the leader's candidate lists. Do not mutate it directly. */
  get tree(): DataTree {
    return this.#tree;
  }

  get sessions(): SessionTable<TxnOutcome> {
    return this.#sessions;
  }

  /** Every member's addresses, as replicated by membership changes. */
  get members(): MemberTable {
    return this.#members;
  }

  /** The index (zxid) of the last applied entry. */
  get lastApplied(): number {
    return this.#lastApplied;
  }

  /** Applies the committed entry at `index`; its zxid is `index`. */
  apply(index: number, data: Uint8Array): ApplyResult {
    assert(Number.isSafeInteger(index) && index > this.#lastApplied, () => `apply index ${index} must exceed ${this.#lastApplied}`);
    this.#lastApplied = index;
    if (data.length === 0) return { ok: true, result: { type: 'noop' }, events: [] };
    let txn: Txn;
    try {
      txn = decodeTxn(data);
    } catch (err: unknown) {
      if (err instanceof ConclaveError) return { ...errorOutcome(err), events: [] };
      throw err;
    }
    return this.applyTxn(index, txn);
  }

  /** Applies the committed membership change at `index` (a Raft conf change entry, decoded by the shell). */
  applyMemberChange(index: number, change: MemberChange): void {
    assert(Number.isSafeInteger(index) && index > this.#lastApplied, () => `apply index ${index} must exceed ${this.#lastApplied}`);
    this.#lastApplied = index;
    this.#digestAt = undefined;
    this.#members.apply(change);
  }

  /** Applies a decoded txn at zxid `zxid` (`apply` without the decoding; the simulator may use it). */
  applyTxn(zxid: number, txn: Txn): ApplyResult {
    this.#digestAt = undefined;
    const events: ChangeEvent[] = [];
    const changes = new LockChanges();
    const body = txn.body;
    if (body.type === 'createSession') return { ...this.#createSession(body.sessionId, body.timeoutMs), events };
    if (body.type === 'closeSession') return withLocks(this.#closeSession(body.sessionId, body.expired === true, zxid, txn.timeMs, events, changes), events, changes);

    if (txn.sessionId !== 0 && !this.#sessions.has(txn.sessionId)) {
      return { ...fail(ErrorCode.SESSION_EXPIRED, `session ${txn.sessionId} is not open`), events };
    }
    if (txn.seq !== 0) {
      if (txn.sessionId === 0) return { ...fail(ErrorCode.BAD_ARGUMENTS, 'a request id needs a session'), events };
      const session = this.#sessions.get(txn.sessionId);
      assert(session !== undefined, 'checked above');
      if (txn.seq < session.lastSeq) {
        return { ...fail(ErrorCode.STALE_REQUEST, `request ${txn.seq} of session ${txn.sessionId} precedes its latest, ${session.lastSeq}`), events };
      }
      if (txn.seq === session.lastSeq && session.lastResult !== undefined) return { ...session.lastResult, events, duplicate: true };
    }

    let outcome: TxnOutcome;
    if (body.type === 'lockAcquire' || body.type === 'lockRelease' || body.type === 'lockCancel' || body.type === 'lockWake') {
      outcome = this.#applyLock(body, txn, zxid, events, changes);
    } else outcome = this.#applyOps(body.type === 'multi' ? body.ops : [body], body.type === 'multi', txn, zxid, events);
    if (txn.seq !== 0) this.#sessions.remember(txn.sessionId, txn.seq, outcome);
    return withLocks(outcome, events, changes);
  }

  #applyLock(body: LockTxnBody, txn: Txn, zxid: number, events: ChangeEvent[], changes: LockChanges): TxnOutcome {
    if (body.type !== 'lockWake' && txn.sessionId === 0) return fail(ErrorCode.BAD_ARGUMENTS, 'a lock request needs a session: sessions own locks');
    const locks = this.#locks;
    let result: TxnResult;
    try {
      switch (body.type) {
        case 'lockAcquire':
          result = { type: 'lockAcquire', name: body.name, ...locks.acquire(body, txn.sessionId, zxid, txn.timeMs, changes) };
          break;
        case 'lockRelease':
          locks.release(body.name, txn.sessionId, zxid, txn.timeMs, changes);
          result = { type: 'lockRelease', name: body.name };
          break;
        case 'lockCancel':
          result = { type: 'lockCancel', name: body.name, cancelled: locks.cancel(body.name, txn.sessionId, zxid, txn.timeMs, changes) };
          break;
        case 'lockWake':
          result = { type: 'lockWake', name: body.name, woken: locks.wake(body.name, zxid, txn.timeMs, changes) };
          break;
      }
    } catch (err: unknown) {
      if (err instanceof ConclaveError) return errorOutcome(err);
      throw err;
    }
    syncLockMirror(this.#tree, locks, changes.touched, zxid, txn.timeMs, events);
    return { ok: true, result };
  }

  #applyOps(ops: readonly TreeOp[], isMulti: boolean, txn: Txn, zxid: number, events: ChangeEvent[]): TxnOutcome {
    let results: readonly TreeOpResult[];
    if (isMulti) {
      let r;
      try {
        r = this.#tree.multi(ops, txn.sessionId, zxid, txn.timeMs);
      } catch (err: unknown) {
        if (err instanceof ConclaveError) return errorOutcome(err);
        throw err;
      }
      if (!r.ok) return { ok: false, error: { code: r.error.code, message: r.error.message, failedIndex: r.failedIndex, results: r.results } };
      results = r.results;
    } else {
      try {
        results = [this.#tree.applyOp(ops[0] as TreeOp, txn.sessionId, zxid, txn.timeMs)];
      } catch (err: unknown) {
        if (err instanceof ConclaveError) return errorOutcome(err);
        throw err;
      }
    }
    results.forEach((res, i) => {
      const op = ops[i] as TreeOp;
      if (res.type === 'create') {
        events.push({ type: 'created', path: res.path, zxid }, { type: 'children', path: parentPath(res.path), zxid });
      } else if (res.type === 'set') {
        events.push({ type: 'changed', path: op.path, zxid });
      } else if (res.type === 'delete') {
        events.push({ type: 'deleted', path: op.path, zxid }, { type: 'children', path: parentPath(op.path), zxid });
      }
    });
    return { ok: true, result: isMulti ? { type: 'multi', results } : (results[0] as TreeOpResult) };
  }

  #createSession(sessionId: number, timeoutMs: number): TxnOutcome {
    if (!(sessionId > 0) || !(timeoutMs > 0)) return fail(ErrorCode.BAD_ARGUMENTS, `bad session ${sessionId} or timeout ${timeoutMs}`);
    this.#sessions.open(sessionId, timeoutMs);
    return { ok: true, result: { type: 'createSession', sessionId } };
  }

  /** Deletes the session's ephemerals and releases its locks (granting their waiters), all in this one txn. */
  #closeSession(sessionId: number, expired: boolean, zxid: number, timeMs: number, events: ChangeEvent[], changes: LockChanges): TxnOutcome {
    if (!this.#sessions.has(sessionId)) return fail(ErrorCode.SESSION_EXPIRED, `session ${sessionId} is not open`);
    const deleted = this.#tree.ephemeralsOf(sessionId);
    for (const path of deleted) {
      // Ephemerals have no children and nothing else can refuse this delete.
      this.#tree.delete(path, -1, zxid);
      events.push({ type: 'deleted', path, zxid }, { type: 'children', path: parentPath(path), zxid });
    }
    this.#locks.endSession(sessionId, expired, zxid, timeMs, changes);
    syncLockMirror(this.#tree, this.#locks, changes.touched, zxid, timeMs, events);
    this.#sessions.close(sessionId);
    return { ok: true, result: { type: 'closeSession', sessionId, deleted } };
  }

  /**
   * A digest of the whole replicated state (tree, sessions, members, locks) for comparing replicas.
   * It reads every node (about 3 ms per 1,000 znodes), so it is kept until the next applied entry:
   * a tool polling `Cluster.Status` on a quiet replica costs nothing after the first call.
   */
  digest(): number {
    if (this.#digestAt?.applied === this.#lastApplied) return this.#digestAt.value;
    const value = (this.#tree.digest() + this.#sessions.digest(encodeOutcome) + this.#members.digest() + this.#locks.digest()) % 0x1_0000_0000;
    this.#digestAt = { applied: this.#lastApplied, value };
    return value;
  }

  /** The rows of the snapshot tables (`stateSnapshotTables`), sorted by primary key. */
  snapshotRows(): Required<StateSnapshotRows> {
    return { znodes: treeRows(this.#tree), sessions: sessionRows(this.#sessions, encodeOutcome), members: memberRows(this.#members), locks: lockRows(this.#locks) };
  }

  /**
   * The snapshot tables as of now, for writing while applies go on: the small tables copied at
   * once, the znodes as a `TreeCapture` read a chunk at a time (end it when done). Rows are not
   * sorted; the snapshot file orders them by key.
   */
  captureSnapshot(): { readonly znodes: TreeCapture; readonly rows: Required<Omit<StateSnapshotRows, 'znodes'>> } {
    return {
      znodes: this.#tree.capture(this.#lastApplied),
      rows: { sessions: sessionRows(this.#sessions, encodeOutcome), members: memberRows(this.#members), locks: lockRows(this.#locks) },
    };
  }

  /**
   * Replaces the whole state with a snapshot's rows (INTEGER cells may be numbers or bigints).
   * `appliedIndex` is the snapshot's index. Throws CORRUPTED, leaving the state as it was, on rows
   * that do not form a valid state.
   */
  restore(rows: StateSnapshotRows, appliedIndex: number): void {
    assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, 'snapshot index is a non-negative integer');
    const tree = treeFromRows(rows.znodes, this.limits);
    const sessions = sessionsFromRows(rows.sessions, decodeOutcome);
    const members = membersFromRows(rows.members);
    this.#replaceState(tree, sessions, members, locksFromRows(rows.locks ?? [], appliedIndex, this.limits), appliedIndex);
  }

  #replaceState(tree: DataTree, sessions: SessionTable<TxnOutcome>, members: MemberTable, locks: LockTable, appliedIndex: number): void {
    for (const owner of tree.ephemeralOwners()) {
      if (!sessions.has(owner)) throw new ConclaveError(ErrorCode.CORRUPTED, `snapshot holds ephemerals of session ${owner}, which is not open`, { owner });
    }
    for (const owner of locks.owners()) {
      if (!sessions.has(owner)) throw new ConclaveError(ErrorCode.CORRUPTED, `snapshot holds locks of session ${owner}, which is not open`, { owner, locks: locks.locksOf(owner) });
    }
    checkLockMirror(tree, locks);
    this.#tree = tree;
    this.#sessions = sessions;
    this.#members = members;
    this.#locks = locks;
    this.#lastApplied = appliedIndex;
    this.#digestAt = undefined;
  }
}

const encoder = new TextEncoder();

/** The bytes of a remembered outcome (JSON: it holds paths, stats and codes, never znode data). */
export function encodeOutcome(o: TxnOutcome): Uint8Array {
  return encoder.encode(JSON.stringify(o));
}
