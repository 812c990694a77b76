/**
 * Conclave's replicated state machine: `apply(index, data)` decodes a txn and applies it to the
 * znode tree, the sessions table, the locks (mirrored read-only under `/conclave/locks`), the ACLs
 * (checked here, at apply time, for a txn that carries an identity) and the quotas. The
 * zxid of a txn is its Raft index. Same input, same output, on every replica; no clock, no
 * randomness, no I/O.
 *
 * Expected failures (bad path, bad version, unknown session, garbage bytes, ...) come back as
 * `{ ok: false, error }` with the state unchanged; apply never throws for them. Only a broken
 * invariant (an assertion) throws: crash rather than corrupt.
 */
import { assert } from '../common/assert.js';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { AclTable, type Permission, ROOT_IDENTITY } from './acl.js';
import type { MultiOpResult, TreeCapture, TreeOp, TreeOpResult } from './data-tree.js';
import { DataTree, failedMulti } from './data-tree.js';
import { stateLimits, type StateLimits } from './limits.js';
import { lockNodePath } from './lock-name.js';
import { parentPath, validatePath } from './path.js';
import { QuotaTable } from './quotas.js';
import { checkLockMirror, syncLockMirror } from './lock-mirror.js';
import { lockRows, locksFromRows } from './lock-snapshot.js';
import { LockTable } from './locks.js';
import { type LockGrant, type LockRelease, LockChanges } from './lock-types.js';
import { type MemberChange, MemberTable } from './members.js';
import { SessionTable } from './sessions.js';
import { decodeOutcome, memberRows, membersFromRows, sessionOutcomeRows, sessionRows, sessionsFromRows, treeFromRows, treeRows, type StateSnapshotRows } from './state-snapshot.js';
import { decodeTxn } from './txn-codec.js';
import type { LockTxnBody, SecurityTxnBody, Txn, TxnBody } from './txn.js';

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
  | { readonly type: 'lockWake'; readonly name: string; readonly woken: boolean }
  | { readonly type: 'setAcl' | 'removeAcl' | 'setQuota' | 'removeQuota'; readonly path: string };

export interface ApplyError {
  readonly code: ErrorCode;
  readonly message: string;
  /** A failed multi: the index of the op that failed. */
  readonly failedIndex?: number;
  /** A failed multi: per-op results (the failing op's error, RUNTIME_INCONSISTENCY for the others). */
  readonly results?: readonly MultiOpResult[];
  /** QUOTA_EXCEEDED only: `path` (the node), `quota` (the quota's path), its `maxNodes`/`maxBytes`, and its usage `nodes`, `bytes`. */
  readonly details?: Readonly<Record<string, unknown>>;
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
  if (err.code === ErrorCode.QUOTA_EXCEEDED) return { ok: false, error: { code: err.code, message: err.message, details: err.details } };
  return { ok: false, error: { code: err.code, message: err.message } };
}

/**
 * The permission a tree op needs and the path it needs it on; undefined for an op of no known
 * type (the tree refuses it). Throws BAD_PATH for a bad path, as the tree would: it says nothing
 * about the state.
 */
function opPermission(op: TreeOp, pathBytesMax: number): readonly [Permission, string] | undefined {
  if (typeof op !== 'object' || op === null) return undefined;
  const perm: Permission | undefined = op.type === 'create' ? 'create' : op.type === 'set' ? 'write' : op.type === 'delete' ? 'delete' : op.type === 'check' ? 'read' : undefined;
  if (perm === undefined) return undefined;
  // A sequential create is checked on the requested prefix: the suffix is not known before apply.
  validatePath(op.path, { allowSequentialPrefix: op.type === 'create' && op.sequential === true, pathBytesMax });
  return [perm, op.path];
}

function isSecurityBody(body: TxnBody): body is SecurityTxnBody {
  return body.type === 'setAcl' || body.type === 'removeAcl' || body.type === 'setQuota' || body.type === 'removeQuota';
}

function fail(code: ErrorCode, message: string): TxnOutcome {
  return { ok: false, error: { code, message: `${code}: ${message}` } };
}

export class ConclaveStateMachine {
  #tree: DataTree;
  #sessions = new SessionTable<TxnOutcome>();
  #members = new MemberTable();
  #locks: LockTable;
  #acls: AclTable;
  #quotas: QuotaTable;
  #lastApplied = 0;
  /** The digest as of an applied index (see `digest`). */
  #digestAt: { readonly applied: number; readonly value: number } | undefined;
  readonly limits: Readonly<StateLimits>;

  constructor(limits: Readonly<StateLimits> = stateLimits) {
    this.limits = limits;
    this.#tree = new DataTree(limits);
    this.#locks = new LockTable(limits);
    this.#acls = new AclTable(limits);
    this.#quotas = new QuotaTable(limits);
    this.#tree.observeSizes(this.#quotas);
  }

  /** The ACLs, for reads (`allowed`, `effective`, `list`; `version` to cache decisions). Do not mutate them directly. */
  get acls(): AclTable {
    return this.#acls;
  }

  /** The quotas and their usage, for reads. Do not mutate them directly. */
  get quotas(): QuotaTable {
    return this.#quotas;
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
    if (body.type === 'createSession') return { ...this.#createSession(body.sessionId, body.timeoutMs, txn.identity ?? ''), events };
    const sessionDenied = this.#notOwner(txn.identity, body.type === 'closeSession' ? body.sessionId : txn.sessionId);
    if (sessionDenied) return { ...sessionDenied, events };
    if (body.type === 'closeSession') return withLocks(this.#closeSession(body.sessionId, body.expired === true, zxid, txn.timeMs, events, changes), events, changes);

    if (txn.sessionId !== 0 && !this.#sessions.has(txn.sessionId)) {
      return { ...fail(ErrorCode.SESSION_EXPIRED, `session ${txn.sessionId} is not open`), events };
    }
    if (txn.seq !== 0) {
      if (txn.sessionId === 0) return { ...fail(ErrorCode.BAD_ARGUMENTS, 'a request id needs a session'), events };
      // The client has had answers to everything below its lowest unanswered seq (not given: below
      // this one); a request is itself unanswered, so it never makes itself stale.
      const lowest = txn.lowestUnansweredSeq === undefined || txn.lowestUnansweredSeq === 0 ? txn.seq : Math.min(txn.lowestUnansweredSeq, txn.seq);
      this.#sessions.forgetThrough(txn.sessionId, lowest - 1);
      const session = this.#sessions.get(txn.sessionId);
      assert(session !== undefined, 'checked above');
      if (txn.seq <= session.forgottenThrough) {
        return { ...fail(ErrorCode.STALE_REQUEST, `request ${txn.seq} of session ${txn.sessionId} was answered before and its outcome is forgotten (requests up to ${session.forgottenThrough} are)`), events };
      }
      const remembered = this.#sessions.outcome(txn.sessionId, txn.seq);
      if (remembered !== undefined) return { ...remembered, events, duplicate: true };
    }

    let outcome: TxnOutcome | undefined = this.#authorize(txn);
    if (outcome !== undefined) {
      // Denied: nothing is applied.
    } else if (body.type === 'lockAcquire' || body.type === 'lockRelease' || body.type === 'lockCancel' || body.type === 'lockWake') {
      outcome = this.#applyLock(body, txn, zxid, events, changes);
    } else if (isSecurityBody(body)) {
      outcome = this.#applySecurity(body);
    } else outcome = this.#applyOps(body.type === 'multi' ? body.ops : [body], body.type === 'multi', txn, zxid, events);
    if (txn.seq !== 0) this.#sessions.remember(txn.sessionId, txn.seq, outcome);
    return withLocks(outcome, events, changes);
  }

  /**
   * PERMISSION_DENIED when the txn's identity lacks a permission it needs (every op of a multi is
   * checked before any is applied; a denied op fails the multi at its index), BAD_PATH for a bad
   * path; undefined when it may go on, or carries no identity. Checked before anything that looks
   * at the state, so a refusal never tells whether a node exists.
   */
  #authorize(txn: Txn): TxnOutcome | undefined {
    const identity = txn.identity;
    if (identity === undefined || identity === '') return undefined;
    const body = txn.body;
    const pathBytesMax = this.limits.pathBytesMax;
    /** Throws PERMISSION_DENIED (or BAD_PATH for a bad path); `allowed` is safe on any string. */
    const require = (need: readonly [Permission, string] | undefined): void => {
      if (need === undefined || this.#acls.allowed(identity, need[0], need[1])) return;
      throw new ConclaveError(ErrorCode.PERMISSION_DENIED, `${identity} may not ${need[0]} ${need[1]}`);
    };
    let i = 0;
    try {
      switch (body.type) {
        case 'multi':
          if (!Array.isArray(body.ops)) return undefined;
          for (; i < body.ops.length; i++) require(opPermission(body.ops[i] as TreeOp, pathBytesMax));
          return undefined;
        case 'lockAcquire':
        case 'lockRelease':
        case 'lockCancel':
          require(['lock', lockNodePath(String(body.name))]);
          return undefined;
        case 'lockWake':
        case 'createSession':
        case 'closeSession':
          return undefined;
        case 'setAcl':
        case 'removeAcl':
        case 'setQuota':
        case 'removeQuota':
          validatePath(body.path, { pathBytesMax });
          require(['admin', body.path]);
          return undefined;
        default:
          require(opPermission(body, pathBytesMax));
          return undefined;
      }
    } catch (err: unknown) {
      if (!(err instanceof ConclaveError)) throw err;
      if (body.type !== 'multi') return errorOutcome(err);
      const error = { code: err.code, message: err.message };
      const { failedIndex, results } = failedMulti(body.ops.length, i, error);
      return { ok: false, error: { ...error, failedIndex, results } };
    }
  }

  #applySecurity(body: SecurityTxnBody): TxnOutcome {
    try {
      switch (body.type) {
        case 'setAcl':
          this.#acls.set(body.path, body.grants);
          break;
        case 'removeAcl':
          this.#acls.remove(body.path);
          break;
        case 'setQuota':
          this.#quotas.set(body.path, { maxNodes: body.maxNodes, maxBytes: body.maxBytes }, this.#tree);
          break;
        case 'removeQuota':
          this.#quotas.remove(body.path);
          break;
      }
    } catch (err: unknown) {
      if (err instanceof ConclaveError) return errorOutcome(err);
      throw err;
    }
    return { ok: true, result: { type: body.type, path: body.path } };
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
      if (!r.ok) return { ok: false, error: { ...r.error, failedIndex: r.failedIndex, results: r.results } };
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

  /**
   * PERMISSION_DENIED when an identity uses a session another identity opened: a session owns
   * ephemerals and locks, and its id is no secret (lock holders list it).
   */
  #notOwner(identity: string | undefined, sessionId: number): TxnOutcome | undefined {
    if (identity === undefined || identity === '' || identity === ROOT_IDENTITY || sessionId === 0) return undefined;
    const owner = this.#sessions.get(sessionId)?.owner;
    if (owner === undefined || owner === '' || owner === identity) return undefined;
    return fail(ErrorCode.PERMISSION_DENIED, `${identity} may not use session ${sessionId}, which another identity opened`);
  }

  #createSession(sessionId: number, timeoutMs: number, owner: string): TxnOutcome {
    if (!(sessionId > 0) || !(timeoutMs > 0)) return fail(ErrorCode.BAD_ARGUMENTS, `bad session ${sessionId} or timeout ${timeoutMs}`);
    this.#sessions.open(sessionId, timeoutMs, owner);
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
   * A digest of the whole replicated state (tree, sessions, members, locks, ACLs, quotas) for comparing replicas.
   * It reads every node (about 3 ms per 1,000 znodes), so it is kept until the next applied entry:
   * a tool polling `Cluster.Status` on a quiet replica costs nothing after the first call.
   */
  digest(): number {
    if (this.#digestAt?.applied === this.#lastApplied) return this.#digestAt.value;
    const value = (this.#tree.digest() + this.#sessions.digest(encodeOutcome) + this.#members.digest() + this.#locks.digest() + this.#acls.digest() + this.#quotas.digest()) % 0x1_0000_0000;
    this.#digestAt = { applied: this.#lastApplied, value };
    return value;
  }

  /** The rows of the snapshot tables (`stateSnapshotTables`), sorted by primary key. */
  snapshotRows(): Required<StateSnapshotRows> {
    return { ...this.#smallRows(), znodes: treeRows(this.#tree) };
  }

  #smallRows(): Required<Omit<StateSnapshotRows, 'znodes'>> {
    return {
      sessions: sessionRows(this.#sessions, encodeOutcome),
      sessionOutcomes: sessionOutcomeRows(this.#sessions, encodeOutcome),
      members: memberRows(this.#members),
      locks: lockRows(this.#locks),
      acls: this.#acls.rows(),
      quotas: this.#quotas.rows(),
    };
  }

  /**
   * The snapshot tables as of now, for writing while applies go on: the small tables copied at
   * once, the znodes as a `TreeCapture` read a chunk at a time (end it when done). Rows are not
   * sorted; the snapshot file orders them by key.
   */
  captureSnapshot(): { readonly znodes: TreeCapture; readonly rows: Required<Omit<StateSnapshotRows, 'znodes'>> } {
    return {
      znodes: this.#tree.capture(this.#lastApplied),
      rows: this.#smallRows(),
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
    const sessions = sessionsFromRows(rows.sessions, rows.sessionOutcomes ?? [], decodeOutcome);
    const members = membersFromRows(rows.members);
    const locks = locksFromRows(rows.locks ?? [], appliedIndex, this.limits);
    // Older snapshots have no ACLs or quotas. Quota usage is recounted from the restored tree.
    const acls = AclTable.fromRows(rows.acls ?? [], this.limits, this.#acls.version);
    const quotas = QuotaTable.fromRows(rows.quotas ?? [], tree, this.limits);
    this.#replaceState(tree, sessions, members, locks, acls, quotas, appliedIndex);
  }

  #replaceState(tree: DataTree, sessions: SessionTable<TxnOutcome>, members: MemberTable, locks: LockTable, acls: AclTable, quotas: QuotaTable, appliedIndex: number): void {
    for (const owner of tree.ephemeralOwners()) {
      if (!sessions.has(owner)) throw new ConclaveError(ErrorCode.CORRUPTED, `snapshot holds ephemerals of session ${owner}, which is not open`, { owner });
    }
    for (const owner of locks.owners()) {
      if (!sessions.has(owner)) throw new ConclaveError(ErrorCode.CORRUPTED, `snapshot holds locks of session ${owner}, which is not open`, { owner, locks: locks.locksOf(owner) });
    }
    checkLockMirror(tree, locks);
    tree.observeSizes(quotas);
    this.#tree = tree;
    this.#sessions = sessions;
    this.#members = members;
    this.#locks = locks;
    this.#acls = acls;
    this.#quotas = quotas;
    this.#lastApplied = appliedIndex;
    this.#digestAt = undefined;
  }
}

const encoder = new TextEncoder();

/** The bytes of a remembered outcome (JSON: it holds paths, stats and codes, never znode data). */
export function encodeOutcome(o: TxnOutcome): Uint8Array {
  return encoder.encode(JSON.stringify(o));
}
