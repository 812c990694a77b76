/**
 * The Conclave client: one session, one multiplexed stream to the leader, every znode operation,
 * persistent watches that resume across failovers, and the session's state events.
 *
 *   await using client = await Client.connect({ endpoints: ['127.0.0.1:4180'] });
 *   client.on('suspended', ({ safeUntil }) => ...);
 *   await client.create('/app/lock', 'me', { ephemeral: true });
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { Cache } from './recipes/cache.js';
import { deleteTree } from './delete-tree.js';
import { clientInternals } from './internals.js';
import type { Answer } from './pending-request.js';
import { clientChannel } from '../security/tls.js';
import { SessionCore } from './session-core.js';
import * as access from './access-calls.js';
import type {
  AclGrant,
  AclInfo,
  AclList,
  CallOptions,
  ChildrenOptions,
  ChildrenResult,
  ClientEvents,
  ClientOptions,
  ClusterStatus,
  Consistency,
  CreateOptions,
  CreateResult,
  Data,
  DeleteOptions,
  DeleteResult,
  ExistsResult,
  GetResult,
  MemberList,
  MintedToken,
  MultiResult,
  Op,
  QuotaInfo,
  QuotaLimits,
  QuotaList,
  ReadOptions,
  SessionState,
  SetOptions,
  SetResult,
  SyncResult,
  TokenSource,
  WatchOptions,
  WhoAmIResult,
} from './types.js';
import { WatchStream } from './watch-stream.js';
import { type AcquireOptions, type AcquireResult, type LockInfo, acquireLock, describeLock, releaseLock, validateFence } from './lock-calls.js';
import { Election } from './recipes/election.js';
import { type Lock, lockOrThrow } from './recipes/lock.js';
import { type RequestOp, type WireOpResult, type WireStat, bodyOf, createFields, expectedVersion, fromBytes, toBytes, toOpResult, toStat } from './wire.js';

const DEFAULT_TIMEOUT_MS = 10_000;
const ALL_CHILDREN_PAGE = 1000;

type Listener<K extends keyof ClientEvents> = (...args: ClientEvents[K]) => void;

export class Client {
  readonly #core: SessionCore;

  private constructor(core: SessionCore) {
    this.#core = core;
  }

  /** Connect to the cluster and open a session (UNAVAILABLE if none opens within connectTimeoutMs). */
  static async connect(opts: ClientOptions): Promise<Client> {
    const core = new SessionCore({
      endpoints: opts.endpoints,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      channel: { ...clientChannel(opts.tls), token: checkedToken(opts.token) },
    });
    await core.start();
    return new Client(core);
  }

  get sessionId(): number {
    return this.#core.sessionId;
  }

  /** The session timeout the server granted. */
  get sessionTimeoutMs(): number {
    return this.#core.sessionTimeoutMs;
  }

  get state(): SessionState {
    return this.#core.state;
  }

  /** The newest zxid this client has seen (every read asks for at least this). */
  get lastZxid(): number {
    return this.#core.lastZxid;
  }

  /** `performance.now()` time until which the session is certainly alive on the server (see 'suspended'). */
  get safeUntil(): number {
    return this.#core.safeUntil;
  }

  on<K extends keyof ClientEvents>(event: K, listener: Listener<K>): this {
    this.#core.on(event, listener);
    return this;
  }

  once<K extends keyof ClientEvents>(event: K, listener: Listener<K>): this {
    this.#core.once(event, listener);
    return this;
  }

  off<K extends keyof ClientEvents>(event: K, listener: Listener<K>): this {
    this.#core.off(event, listener);
    return this;
  }

  // --- writes

  async create(path: string, data?: Data, opts: CreateOptions = {}): Promise<CreateResult> {
    const fields = { path, data: toBytes(data), ...createFields(opts) };
    const body = bodyOf<{ path: string; stat: WireStat; zxid: number }>((await this.#write('create', fields, opts)).frame, 'create');
    return { path: body.path, stat: toStat(body.stat), zxid: body.zxid };
  }

  async set(path: string, data: Data, opts: SetOptions = {}): Promise<SetResult> {
    const fields = { path, data: toBytes(data), expectedVersion: expectedVersion(opts.version) };
    const body = bodyOf<{ stat: WireStat; zxid: number }>((await this.#write('set', fields, opts)).frame, 'set');
    return { stat: toStat(body.stat), zxid: body.zxid };
  }

  async delete(path: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    if (opts.recursive) return deleteTree(this, path, opts.version, opts.signal);
    const fields = { path, expectedVersion: expectedVersion(opts.version) };
    const body = bodyOf<{ zxid: number }>((await this.#write('delete', fields, opts)).frame, 'delete');
    return { zxid: body.zxid };
  }

  /** Apply every op or none. A failed op is reported in the result (ok false), not thrown. */
  async multi(ops: readonly Op[], opts: CallOptions = {}): Promise<MultiResult> {
    const body = bodyOf<{ ok: boolean; failedIndex: number; results: WireOpResult[]; zxid: number }>((await this.#write('multi', { ops: ops.map(wireOp) }, opts)).frame, 'multi');
    return { ok: body.ok, failedIndex: body.failedIndex, results: body.results.map(toOpResult), zxid: body.zxid };
  }

  // --- reads

  async get(path: string, opts: ReadOptions = {}): Promise<GetResult> {
    const answer = await this.#read('get', { path }, opts);
    const body = bodyOf<{ data: Uint8Array; stat: WireStat; zxid: number }>(answer.frame, 'get');
    return { data: fromBytes(body.data), stat: toStat(body.stat), zxid: body.zxid, ...watchOf(answer) };
  }

  async exists(path: string, opts: ReadOptions = {}): Promise<ExistsResult> {
    const answer = await this.#read('exists', { path }, opts);
    const body = bodyOf<{ exists: boolean; stat: WireStat | null; zxid: number }>(answer.frame, 'exists');
    return { stat: body.exists ? toStat(body.stat) : undefined, zxid: body.zxid, ...watchOf(answer) };
  }

  async children(path: string, opts: ChildrenOptions = {}): Promise<ChildrenResult> {
    const answer = await this.#read('children', { path, after: opts.after ?? '', limit: opts.limit ?? 0 }, opts);
    const body = bodyOf<{ names: string[]; stat: WireStat; more: boolean; zxid: number }>(answer.frame, 'children');
    return { names: body.names, stat: toStat(body.stat), more: body.more, zxid: body.zxid, ...watchOf(answer) };
  }

  /** Every child name of `path`, a page at a time (each page is consistent; the whole list need not be). */
  async *allChildren(path: string, opts: { consistency?: Consistency; pageSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<string, void, undefined> {
    let after = '';
    for (;;) {
      const page = await this.children(path, { after, limit: opts.pageSize ?? ALL_CHILDREN_PAGE, ...(opts.consistency ? { consistency: opts.consistency } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      yield* page.names;
      const last = page.names[page.names.length - 1];
      if (!page.more || last === undefined) return;
      after = last;
    }
  }

  /** Wait until the leader has applied everything committed before this call. */
  async sync(opts: CallOptions = {}): Promise<SyncResult> {
    const answer = await this.#core.request({ kind: 'read', op: 'sync', build: () => ({}), signal: opts.signal });
    return { zxid: bodyOf<{ zxid: number }>(answer.frame, 'sync').zxid };
  }

  // --- watches

  /**
   * A persistent watch as an async iterable: `for await (const e of client.watch('/cfg', { recursive: true }))`.
   * It resumes across reconnects with no gap and no duplicate; it throws COMPACTED (details
   * oldestZxid, currentZxid) if the server no longer has the history to resume from: re-read then.
   * Stop it with `break`, `close()` or the signal.
   */
  watch(path: string, opts: WatchOptions = {}): WatchStream {
    return new WatchStream(this.#core, path, opts);
  }

  /** A local mirror of the subtree at `path` (call `ready()` before reading it). */
  cache(path: string): Cache {
    return new Cache(this, path);
  }

  // --- locks (server-side objects: fair, fenced, released with the session)

  /** One acquire: granted (with its fencing token), or not within `timeoutMs` (0: try once). */
  acquireLock(name: string, opts: AcquireOptions = {}): Promise<AcquireResult> {
    return acquireLock(this.#core, name, opts, this.#core.requestTimeoutMs);
  }

  releaseLock(name: string, opts: CallOptions = {}): Promise<{ zxid: number }> {
    return releaseLock(this.#core, name, opts);
  }

  /** Holders (with tokens and values) and waiters of a lock, linearizably. */
  describeLock(name: string, opts: CallOptions = {}): Promise<LockInfo> {
    return describeLock(this.#core, name, opts);
  }

  /** Is `token` a current holder's token of `name`? What a guarded resource asks before it acts. */
  validateFence(name: string, token: number, opts: CallOptions = {}): Promise<boolean> {
    return validateFence(this.#core, name, token, opts);
  }

  /**
   * Hold a lock: `await using lock = await client.lock('jobs')`. Waits up to `timeoutMs` (default
   * 30 s), then throws UNAVAILABLE. `kind`/`mode`/`permits` make it an rwlock side or a semaphore permit.
   */
  lock(name: string, opts: AcquireOptions = {}): Promise<Lock> {
    return lockOrThrow(this, name, opts);
  }

  /** Run `fn` holding the lock; release it afterwards, whatever happens. */
  async withLock<T>(name: string, fn: (lock: Lock) => Promise<T>, opts: AcquireOptions = {}): Promise<T> {
    const lock = await this.lock(name, opts);
    try {
      return await fn(lock);
    } finally {
      await lock.release();
    }
  }

  election(name: string): Election {
    return new Election(this, name);
  }

  // --- the cluster

  /** The status of the member this client talks to. */
  async status(): Promise<ClusterStatus> {
    const s = await this.#core.clusterCall<ClusterStatus>('Status', {});
    return { id: s.id, role: s.role, term: s.term, leader: s.leader, commit: s.commit, applied: s.applied, zxid: s.zxid, voters: [...s.voters], learners: [...s.learners], digest: s.digest };
  }

  async members(): Promise<MemberList> {
    const list = await this.#core.clusterCall<MemberList>('MemberList', {});
    return { leader: list.leader, members: list.members.map((m) => ({ id: m.id, peerAddress: m.peerAddress, clientAddress: m.clientAddress, learner: m.learner })) };
  }

  // --- access control (the Access service; PERMISSION_DENIED without the permission each names)

  /** Set the ACL on `path` (a subtree root; it need not exist), replacing any there. Needs `admin` on it. */
  setAcl(path: string, grants: readonly AclGrant[]): Promise<AclInfo> {
    return access.setAcl(this.#core, path, grants);
  }

  /** The ACL set exactly on `path` (`exists` false: none). Needs `admin` on it. */
  getAcl(path: string): Promise<AclInfo> {
    return access.getAcl(this.#core, path);
  }

  /** Remove the ACL set on `path` (NO_NODE if none). Needs `admin` on it. */
  removeAcl(path: string): Promise<{ zxid: number }> {
    return access.removeAcl(this.#core, path);
  }

  /** Every ACL on a path this client may administer. */
  listAcls(): Promise<AclList> {
    return access.listAcls(this.#core);
  }

  /** Limit the nodes and/or data bytes of the subtree at `path`. Needs `admin` on it. */
  setQuota(path: string, limits: QuotaLimits): Promise<QuotaInfo> {
    return access.setQuota(this.#core, path, limits);
  }

  /** The quota on `path` with the subtree's usage (`exists` false: none). Needs `read` on it. */
  getQuota(path: string): Promise<QuotaInfo> {
    return access.getQuota(this.#core, path);
  }

  /** Remove the quota on `path` (NO_NODE if none). Needs `admin` on it. */
  removeQuota(path: string): Promise<{ zxid: number }> {
    return access.removeQuota(this.#core, path);
  }

  /** Every quota on a path this client may read. */
  listQuotas(): Promise<QuotaList> {
    return access.listQuotas(this.#core);
  }

  /** Who the server takes this client for; given `path`, its permissions there. */
  whoAmI(path?: string): Promise<WhoAmIResult> {
    return access.whoAmI(this.#core, path);
  }

  /** A bearer token for `identity`, signed by the server (needs `admin` on `/`, e.g. root). */
  mintToken(identity: string, ttlMs: number): Promise<MintedToken> {
    return access.mintToken(this.#core, identity, ttlMs);
  }

  /** Close the session (its ephemerals are deleted now) and the connection. Pending operations fail. */
  close(): Promise<void> {
    return this.#core.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  get [clientInternals](): SessionCore {
    return this.#core;
  }

  #write(op: RequestOp, fields: object, opts: CallOptions): Promise<Answer> {
    return this.#core.request({ kind: 'write', op, build: ({ header }) => ({ header, ...fields }), signal: opts.signal });
  }

  #read(op: RequestOp, fields: object, opts: ReadOptions): Promise<Answer> {
    const consistency = opts.consistency === 'serializable' ? 'SERIALIZABLE' : 'LINEARIZABLE';
    const watch = opts.watch === true;
    return this.#core.request({ kind: 'read', op, build: ({ minZxid }) => ({ ...fields, consistency, minZxid, watch }), signal: opts.signal, oneShot: watch });
  }
}

/** A string token must fit in a header: BAD_ARGUMENTS now rather than a failed connection later. */
function checkedToken(token: TokenSource | undefined): TokenSource | undefined {
  if (token === undefined || typeof token === 'function') return token;
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'token must be a non-empty string of printable ASCII without spaces (a bearer token from `conclave auth token`)');
  return token;
}

function watchOf(answer: Answer): { watch?: GetResult['watch'] } {
  return answer.oneShot ? { watch: answer.oneShot } : {};
}

function wireOp(op: Op): object {
  if ('create' in op) {
    const c = op.create;
    return { create: { path: c.path, data: toBytes(c.data), ...createFields(c) } };
  }
  if ('set' in op) return { set: { path: op.set.path, data: toBytes(op.set.data), expectedVersion: expectedVersion(op.set.version) } };
  if ('delete' in op) return { delete: { path: op.delete.path, expectedVersion: expectedVersion(op.delete.version) } };
  return { check: { path: op.check.path, expectedVersion: op.check.version } };
}
