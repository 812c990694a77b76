/**
 * One Conclave replica: durable storage, the Raft driver, the znode state machine, the peer
 * transport and the public gRPC API, wired together. Writes go through the leader (a follower
 * answers NOT_LEADER with the leader's client address); reads are linearizable by default
 * (ReadIndex) or served locally when asked for `SERIALIZABLE`.
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Server as HttpServer, createServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { ConfChangeType, EntryType, Role, decodeConfChange, type Entry, type NodeId } from '../raft/index.js';
import { ConclaveStateMachine, type ApplyResult, type MemberAddresses, type MemberChange, type StateSnapshotRows, type TxnBody, type TxnResult, decodeMemberAddresses, encodeMemberAddresses, encodeTxn, stateSnapshotTables, znodeRow, STATE_MACHINE_NAME, STATE_VERSION } from '../state/index.js';
import { DiskStorage } from '../storage/disk-storage.js';
import type { SnapshotRow } from '../storage/sqlite-snapshot.js';
import { GrpcPeerTransport } from '../transport/grpc-transport.js';
import { CertificateFiles } from '../security/certificate-files.js';
import { type TlsFiles, clientPortCredentials, peerChannelCredentials, peerServerCredentials } from '../security/tls.js';
import { AuditLog } from '../security/audit-log.js';
import { Authenticator } from '../security/authenticator.js';
import { RateLimiter } from '../security/rate-limiter.js';
import { checkTokenSecret } from '../security/tokens.js';
import { loadApi } from '../api/proto.js';
import { NO_REQUEST, type RequestHeader } from '../api/request-parsing.js';
import { createServiceHandlers } from '../api/grpc-services.js';
import type { ServerConfig } from './config.js';
import { ReplicaMetrics } from '../ops/metrics.js';
import { type WatchEvent, WatchHub } from '../watches/index.js';
import { LockWaiters, lockGauges } from './lock-waiters.js';
import { RaftDriver } from './raft-driver.js';
import { SessionTracker } from './session-tracker.js';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const SESSION_CHECK_MS = 50;
const CONTAINER_SWEEP_MS = 1000;
/** How long a read waits for this replica to catch up to the caller's last seen zxid. */
const READ_CATCH_UP_MS = 5000;
/** Rows per write to the snapshot file: one chunk of the tree capture per event-loop turn. */
const SNAPSHOT_CHUNK_ROWS = 2000;

/**
 * Deliberate bugs that only the fault suite sets (test/fault/teeth.test.ts), to prove it catches
 * them. Read once at start from this environment variable.
 */
const UNSAFE_ENV = 'CONCLAVE_FAULT_UNSAFE';
const UNSAFE_MODES = {
  'local-reads': 'linearizable reads and fence checks skip ReadIndex and answer from local, possibly stale, state',
} as const;
type UnsafeMode = keyof typeof UNSAFE_MODES;

function unsafeModeFromEnv(raw: string | undefined): UnsafeMode | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(raw in UNSAFE_MODES)) throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `${UNSAFE_ENV} must be one of ${Object.keys(UNSAFE_MODES).join(', ')}, got "${raw}"`);
  return raw as UnsafeMode;
}

export class ConclaveServer {
  readonly config: ServerConfig;
  readonly sm = new ConclaveStateMachine();
  readonly #log: Logger;
  #storage!: DiskStorage;
  #transport!: GrpcPeerTransport;
  driver!: RaftDriver;
  #api!: grpc.Server;
  clientPort = 0;
  readonly sessions = new SessionTracker({ nowMs: () => performance.now() });
  watches!: WatchHub;
  #progressTimer: NodeJS.Timeout | undefined;
  #sessionTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  metrics!: ReplicaMetrics;
  #http: HttpServer | undefined;
  metricsPort = 0;
  #lastLeader = 0;
  /** Container and TTL nodes whose removal is proposed and not yet applied. */
  readonly #removing = new Set<string>();
  /** Locks whose wake entry is proposed and not yet applied. */
  readonly #waking = new Set<string>();
  /** Blocked lock acquires on this replica. */
  readonly lockWaiters = new LockWaiters();
  /** Sessions opened through this leader, by client host (for the per-client limit). */
  readonly #sessionsByClient = new Map<string, Set<number>>();
  /** Certificate files of the TLS ports, read again every tlsReloadMs. */
  readonly #certificateFiles: CertificateFiles[] = [];
  #lastSweepMs = 0;
  /** Who is calling (auth on), or everyone trusted (auth off). */
  auth!: Authenticator;
  /** The secret bearer tokens are signed with (--auth-token-secret-file), for MintToken. */
  tokenSecret: Uint8Array | undefined;
  /** Per-session rate limits (--session-rate-ops, --session-rate-bytes). */
  rateLimiter!: RateLimiter;
  /** The audit log, when --audit-log asks for one. */
  audit: AuditLog | undefined;
  /** A deliberate bug for the fault suite's own test (CONCLAVE_FAULT_UNSAFE); never set in production. */
  #unsafe: UnsafeMode | undefined;

  private constructor(config: ServerConfig, log: Logger) {
    this.config = config;
    this.#log = log;
  }

  static async start(config: ServerConfig, log: Logger): Promise<ConclaveServer> {
    const server = new ConclaveServer(config, log);
    try {
      await server.#start();
    } catch (err: unknown) {
      // Release what was opened (storage, the Raft ticker, the peer listener): a replica that
      // cannot start (its port taken, say) must exit, not linger holding its data directory.
      await server.stop().catch(() => undefined);
      throw err;
    }
    return server;
  }

  async #start(): Promise<void> {
    const cfg = this.config;
    this.#unsafe = unsafeModeFromEnv(process.env[UNSAFE_ENV]);
    if (this.#unsafe) {
      this.#log.warn({ [UNSAFE_ENV]: this.#unsafe }, `UNSAFE BUILD: ${UNSAFE_ENV}=${this.#unsafe} switches on a deliberate bug (${UNSAFE_MODES[this.#unsafe]}); only the fault suite's own test may set it`);
    }
    this.tokenSecret = await readTokenSecret(cfg.authTokenSecretFile);
    this.auth = new Authenticator({ enabled: cfg.auth, tokenSecret: this.tokenSecret });
    if (cfg.auth && !cfg.tls) this.#log.warn({}, 'auth is on without TLS on the client port: bearer tokens cross the network in the clear');
    this.rateLimiter = new RateLimiter({ opsPerSecond: cfg.sessionRateOps, bytesPerSecond: cfg.sessionRateBytes });
    this.audit = cfg.auditLog === undefined ? undefined : new AuditLog(cfg.auditLog);
    this.watches = new WatchHub({
      historyEventsMax: cfg.watchHistoryEvents,
      historyBytesMax: cfg.watchHistoryBytes,
      watchesPerWatcherMax: cfg.watchesPerStream,
      watchesMax: cfg.watchesMax,
      bufferedBytesPerWatcherMax: cfg.watchBufferBytes,
      compactionWarningEvents: Math.max(1, Math.floor(cfg.watchHistoryEvents / 10)),
    });
    this.#storage = await DiskStorage.open(cfg.dataDir, { onWarning: (msg, details) => this.#log.warn(details, msg) });
    const peers = new Map([...cfg.members].filter(([id]) => id !== cfg.id).map(([id, m]) => [id, this.#dialAddress(id, m.peer)] as const));
    const peerFiles = cfg.peerTls && this.#watchCertificates(cfg.peerTls, 'peer-tls');
    if (cfg.peerTls) this.#log.info({ cert: cfg.peerTls.certFile, ca: cfg.peerTls.caFile, reloadMs: cfg.tlsReloadMs }, 'peer port: mutual TLS');
    const credentials = peerFiles && { server: peerServerCredentials(peerFiles), channel: peerChannelCredentials(peerFiles) };
    this.#transport = await GrpcPeerTransport.start({ id: cfg.id, listen: cfg.peerListen, peers, credentials, onWarning: (msg, d) => this.#log.warn(d, msg) });
    this.driver = await RaftDriver.start({
      id: cfg.id,
      storage: this.#storage,
      transport: this.#transport,
      ...(cfg.join ? {} : { bootstrapVoters: [...cfg.members.keys()], bootstrapContext: (id: NodeId) => encodeMemberAddresses(cfg.members.get(id) as MemberAddresses) }),
      tickMs: cfg.tickMs,
      electionTicks: cfg.electionTicks,
      onPersisted: (seconds) => this.metrics?.fsyncSeconds.observe(seconds),
      onSnapshot: (seconds) => this.metrics?.snapshotSeconds.observe(seconds),
      onApplied: (seconds) => this.metrics?.applySeconds.observe(seconds),
      onProposalFailed: () => this.metrics?.proposalsFailed.inc(),
      onFatal: (err) => {
        this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'replica stopped: storage failure');
        process.exitCode = 1;
        void this.stop();
      },
      onRemoved: () => {
        if (this.#stopped) return;
        this.#log.warn({ id: cfg.id }, 'this member was removed from the cluster; stopping');
        void this.stop();
      },
      hooks: {
        apply: (e) => {
          if (e.type !== EntryType.Normal) {
            this.#applyConfChange(e);
            this.watches.applied(e.index, []);
            return undefined;
          }
          const result = this.sm.apply(e.index, e.data);
          this.watches.applied(e.index, result.events.length === 0 ? [] : this.#withData(result.events));
          if (result.lockGrants) this.lockWaiters.granted(result.lockGrants);
          if (result.ok && result.result.type === 'closeSession') this.lockWaiters.sessionEnded(result.result.sessionId);
          return result;
        },
        restore: async (file) => {
          if (!file) return;
          const read = async (table: string): Promise<SnapshotRow[]> => {
            const rows: SnapshotRow[] = [];
            for await (const batch of this.#storage.snapshots.readRows(file.path, table, 2000)) for (const r of batch) rows.push(r);
            return rows;
          };
          // Tables added since a snapshot was written (acls and quotas, v4; session_outcomes, v5) restore as empty.
          const present = new Set((await this.#storage.snapshots.readTables(file.path)).map((t) => t.name));
          const optional = async (table: string): Promise<SnapshotRow[]> => (present.has(table) ? read(table) : []);
          const rows: StateSnapshotRows = { znodes: await read('znodes'), sessions: await read('sessions'), sessionOutcomes: await optional('session_outcomes'), members: await read('members'), locks: await read('locks'), acls: await optional('acls'), quotas: await optional('quotas') };
          this.sm.restore(rows, file.index);
          this.watches.restart(file.index);
          this.#updatePeers();
        },
        snapshot: {
          stateMachine: STATE_MACHINE_NAME,
          stateVersion: STATE_VERSION,
          tables: stateSnapshotTables,
          everyEntries: cfg.snapshotEveryEntries,
          stateRows: () => this.sm.tree.nodeCount(),
          fill: async (w) => {
            // A point-in-time view at the applied index, read a chunk per turn while applies go on
            // (copying a large tree at once stalled the event loop for ~0.4 s per 100k znodes).
            const { znodes, rows } = this.sm.captureSnapshot();
            try {
              for (let chunk = znodes.next(SNAPSHOT_CHUNK_ROWS); chunk.length > 0; chunk = znodes.next(SNAPSHOT_CHUNK_ROWS)) {
                await w.write('znodes', chunk.map(znodeRow));
              }
            } finally {
              znodes.end();
            }
            for (const [table, all] of [['sessions', rows.sessions], ['session_outcomes', rows.sessionOutcomes], ['members', rows.members], ['locks', rows.locks], ['acls', rows.acls], ['quotas', rows.quotas]] as const) {
              for (let i = 0; i < all.length; i += SNAPSHOT_CHUNK_ROWS) await w.write(table, all.slice(i, i + SNAPSHOT_CHUNK_ROWS) as SnapshotRow[]);
            }
          },
        },
      },
    });
    const api = loadApi();
    this.#api = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    const handlers = createServiceHandlers(this);
    this.#api.addService(api.Conclave.service, handlers.conclave);
    this.#api.addService(api.Cluster.service, handlers.cluster);
    this.#api.addService(api.Locks.service, handlers.locks);
    this.#api.addService(api.Access.service, handlers.access);
    this.#api.addService(api.Health.service, handlers.health);
    // Server reflection, so grpcurl and similar tools work without the .proto files.
    new ReflectionService(api.definition).addToServer(this.#api);
    this.clientPort = await new Promise<number>((resolve, reject) =>
      this.#api.bindAsync(cfg.listen, this.#clientCredentials(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.metrics = new ReplicaMetrics({
      isLeader: () => this.isLeader(),
      hasLeader: () => this.driver.status().lead !== 0,
      term: () => this.driver.status().term,
      commitIndex: () => this.driver.status().commit,
      appliedIndex: () => this.driver.status().applied,
      pendingProposals: () => this.driver.pendingProposals(),
      sessions: () => this.sm.sessions.size,
      ephemerals: () => this.sm.tree.ephemeralOwners().reduce((n, id) => n + this.sm.tree.ephemeralsOf(id).length, 0),
      znodes: () => this.sm.tree.nodeCount(),
      dataBytes: () => this.sm.tree.dataBytes(),
      watchers: () => this.watches.watcherCount,
      watches: () => this.watches.registry.size,
      watchEventsSent: () => this.watches.stats.eventsSent,
      slowWatchersCut: () => this.watches.stats.slowWatchersCut,
      watchHistoryEvents: () => this.watches.history.length,
      watchHistoryBytes: () => this.watches.history.bytes,
      watchHistoryOldestZxid: () => this.watches.history.oldestZxid,
      ...lockGauges(this.sm),
    });
    this.metricsPort = await this.#startHttp(cfg.metricsListen);
    this.#sessionTimer = setInterval(() => this.#expireSessions(), SESSION_CHECK_MS);
    this.#sessionTimer.unref();
    this.#progressTimer = setInterval(() => this.watches.progress(), cfg.watchProgressMs);
    this.#progressTimer.unref();
    this.#log.info({ id: cfg.id, listen: `${cfg.listen.split(':')[0]}:${this.clientPort}`, peerListen: `${cfg.peerListen.split(':')[0]}:${this.#transport.port}`, metricsListen: `${cfg.metricsListen.split(':')[0]}:${this.metricsPort}`, dataDir: cfg.dataDir, members: [...cfg.members.keys()] }, 'conclave replica started');
  }

  #watchCertificates(files: TlsFiles, prefix: 'tls' | 'peer-tls'): CertificateFiles {
    const watched = new CertificateFiles(files, { prefix, reloadMs: this.config.tlsReloadMs, log: this.#log });
    this.#certificateFiles.push(watched);
    return watched;
  }

  /** The client port's credentials: TLS (certificate files read again every tlsReloadMs) or plaintext. */
  #clientCredentials(): grpc.ServerCredentials {
    const tls = this.config.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    this.#log.info({ clientAuth: tls.clientAuth, cert: tls.certFile, ca: tls.caFile, reloadMs: this.config.tlsReloadMs }, 'client port: TLS');
    return clientPortCredentials(tls, this.#watchCertificates(tls, 'tls'));
  }

  /** Ready to serve: a leader is known and everything committed here is applied. */
  isReady(): boolean {
    const s = this.driver.status();
    return !this.#stopped && s.lead !== 0 && s.applied >= s.commit;
  }

  async #startHttp(listen: string): Promise<number> {
    const http = createServer((req, res) => {
      const route = (req.url ?? '').split('?')[0];
      if (route === '/metrics') {
        this.metrics.registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
            res.end(body);
          },
          () => {
            res.writeHead(500);
            res.end();
          },
        );
      } else if (route === '/livez') {
        res.writeHead(this.#stopped ? 503 : 200, { 'content-type': 'text/plain' });
        res.end(this.#stopped ? 'stopped\n' : 'ok\n');
      } else if (route === '/readyz') {
        const ready = this.isReady();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
        res.end(ready ? 'ready\n' : 'not ready: no leader known, or not caught up\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: try /metrics, /livez or /readyz\n');
      }
    });
    this.#http = http;
    const [host, port] = listen.split(':') as [string, string];
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(Number(port), host, () => resolve());
    });
    const addr = http.address();
    return typeof addr === 'object' && addr ? addr.port : 0;
  }

  isLeader(): boolean {
    return this.driver.status().role === Role.Leader;
  }

  /** The leader's client address, for NOT_LEADER hints. */
  leaderAddress(): string | undefined {
    const lead = this.driver.status().lead;
    return lead ? this.memberAddresses(lead)?.client : undefined;
  }

  /** A member's addresses: the replicated member list, else (before it arrives) the configured ones. */
  memberAddresses(id: NodeId): MemberAddresses | undefined {
    return this.sm.members.get(id) ?? this.config.members.get(id);
  }

  /** Created and changed events carry the node's data and stat as of this entry (for watches that ask, and resumes). */
  #withData(events: readonly { type: WatchEvent['type']; path: string; zxid: number }[]): WatchEvent[] {
    const tree = this.sm.tree;
    return events.map((e) => {
      if (e.type !== 'created' && e.type !== 'changed') return e;
      const stat = tree.exists(e.path);
      return stat ? { ...e, data: tree.get(e.path).data, stat } : e;
    });
  }

  /** A committed membership change: record the member's addresses and tell the transport. */
  #applyConfChange(e: Entry): void {
    const cc = decodeConfChange(e.data);
    let change: MemberChange;
    if (cc.type === ConfChangeType.Remove) change = { type: 'remove', id: cc.nodeId };
    else {
      let addresses: MemberAddresses = { peer: '', client: '' };
      try {
        if (cc.context) addresses = decodeMemberAddresses(cc.context);
      } catch (err: unknown) {
        this.#log.warn({ nodeId: cc.nodeId, err: err instanceof Error ? err.message : String(err) }, 'membership change with an unreadable member record');
      }
      change = { type: 'add', member: { id: cc.nodeId, ...addresses } };
    }
    this.sm.applyMemberChange(e.index, change);
    this.#updatePeers();
  }

  /** Peers come from the replicated member list once there is one (configured addresses until then). */
  #updatePeers(): void {
    if (!this.#transport) return;
    const source: Iterable<[NodeId, MemberAddresses]> = this.sm.members.size > 0 ? this.sm.members.list().map((m) => [m.id, m] as [NodeId, MemberAddresses]) : this.config.members;
    const peers = new Map<NodeId, string>();
    for (const [id, m] of source) if (id !== this.config.id && m.peer !== '') peers.set(id, this.#dialAddress(id, m.peer));
    this.#transport.setPeers(peers);
  }

  /** Where to dial a member: its advertised peer address unless --peer-dial redirects it. */
  #dialAddress(id: NodeId, advertised: string): string {
    return this.config.peerDial.get(id) ?? advertised;
  }

  notLeader(): ConclaveError {
    const lead = this.driver.status().lead;
    return new ConclaveError(ErrorCode.NOT_LEADER, lead ? `replica ${this.config.id} is not the leader; ${lead} is` : `replica ${this.config.id} knows no leader yet`, {
      leader: this.leaderAddress() ?? '',
    });
  }

  /** Propose a write on the leader; resolves with its result and zxid once applied here. */
  async write(body: TxnBody, request: RequestHeader = NO_REQUEST, identity?: string): Promise<{ result: TxnResult; zxid: number }> {
    const { applied, zxid } = await this.writeRaw(body, request, identity);
    if (!applied.ok) throw new ConclaveError(applied.error.code, applied.error.message);
    return { result: applied.result, zxid };
  }

  /**
   * Like `write`, but a failed txn comes back as its apply result (a failed multi's per-op results).
   * `request`: the session and request id (none: a write outside any session, never deduplicated).
   * `identity`: the caller's, checked against the ACLs when the txn is applied (undefined: trusted).
   */
  async writeRaw(body: TxnBody, request: RequestHeader = NO_REQUEST, identity?: string): Promise<{ applied: ApplyResult; zxid: number }> {
    const { sessionId, seq, lowestUnansweredSeq } = request;
    if (!this.isLeader()) throw this.notLeader();
    // Any request of a session counts as a keep-alive (as in ZooKeeper).
    // (Not for another identity's session: the apply refuses that request, and it must not keep the session alive.)
    const session = sessionId > 0 ? this.sm.sessions.get(sessionId) : undefined;
    if (session && (identity === undefined || session.owner === '' || session.owner === identity)) this.sessions.touch(sessionId, session.timeoutMs);
    const { index, result } = await this.driver.propose(encodeTxn({ timeMs: Date.now(), sessionId, seq, ...(lowestUnansweredSeq !== undefined ? { lowestUnansweredSeq } : {}), ...(identity !== undefined ? { identity } : {}), body }));
    return { applied: result as ApplyResult, zxid: index };
  }

  /**
   * Wait until this replica may serve a read: linearizable reads confirm a fresh read point with the
   * leader; every read waits until `minZxid` (the newest the caller has seen) is applied here, within
   * a bound, so a session never sees its zxid go backwards when it moves between replicas.
   */
  async readBarrier(linearizable: boolean, minZxid = 0): Promise<void> {
    // The fault suite's deliberate bug: serve "linearizable" reads from local state, possibly stale.
    if (linearizable && this.#unsafe !== 'local-reads') await this.driver.readIndex();
    if (minZxid > this.sm.lastApplied) {
      const caughtUp = await Promise.race([
        this.driver.waitApplied(minZxid).then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), READ_CATCH_UP_MS).unref()),
      ]);
      if (!caughtUp) {
        throw new ConclaveError(ErrorCode.UNAVAILABLE, `replica ${this.config.id} has applied ${this.sm.lastApplied}, behind the ${minZxid} this client has seen; try another replica`);
      }
    }
  }

  /**
   * Open a session (on the leader). A client host holds at most `maxSessionsPerClient` open
   * sessions; the count lives on the leader and starts afresh with a new leader.
   */
  async openSession(timeoutMs: number, clientHost: string, identity?: string): Promise<number> {
    if (!this.isLeader()) throw this.notLeader();
    const limit = this.config.maxSessionsPerClient;
    let mine = this.#sessionsByClient.get(clientHost);
    if (mine) for (const id of mine) if (!this.sm.sessions.has(id)) mine.delete(id);
    if (limit > 0 && mine && mine.size >= limit) {
      throw new ConclaveError(ErrorCode.LIMIT_EXCEEDED, `client ${clientHost} already holds ${mine.size} open sessions, the limit (--max-sessions-per-client)`, { limit });
    }
    const sessionId = this.newSessionId();
    if (!mine) this.#sessionsByClient.set(clientHost, (mine = new Set()));
    mine.add(sessionId);
    try {
      await this.write({ type: 'createSession', sessionId, timeoutMs }, NO_REQUEST, identity);
    } catch (err: unknown) {
      mine.delete(sessionId);
      throw err;
    }
    this.sessions.touch(sessionId, timeoutMs);
    return sessionId;
  }

  /** A snapshot covering everything applied here, for a backup: its file, index and size. */
  async snapshotForDownload(): Promise<{ path: string; index: number; bytes: number }> {
    await this.driver.snapshotNow();
    const file = this.#storage.snapshotFile();
    if (!file) throw new ConclaveError(ErrorCode.UNAVAILABLE, `replica ${this.config.id} has no snapshot to offer yet`);
    return { path: file.path, index: file.index, bytes: file.bytes };
  }

  newSessionId(): number {
    for (;;) {
      const id = randomInt(1, 2 ** 47);
      if (!this.sm.sessions.has(id)) return id;
    }
  }

  #expireSessions(): void {
    if (this.#stopped) return;
    const lead = this.driver.status().lead;
    if (lead !== this.#lastLeader) {
      if (lead !== 0) this.metrics.leaderChanges.inc();
      this.#lastLeader = lead;
    }
    if (!this.isLeader()) {
      this.sessions.reset();
      this.#sessionsByClient.clear();
      return;
    }
    const open = new Map<number, number>();
    for (const id of this.sm.sessions.ids()) open.set(id, this.sm.sessions.get(id)?.timeoutMs ?? 0);
    for (const id of this.sessions.expired(open)) {
      this.#log.info({ sessionId: id }, 'session expired');
      this.write({ type: 'closeSession', sessionId: id, expired: true }).catch(() => this.sessions.retry(id));
    }
    this.#sweepContainersAndTtl();
    this.#wakeLocks();
  }

  /** Locks whose lock-delay has passed get a wake entry (only a wake lifts a lock-delay). */
  #wakeLocks(): void {
    for (const name of this.sm.locks.locksToWake(Date.now())) {
      if (this.#waking.has(name)) continue;
      this.#waking.add(name);
      this.metrics.lockDelayWakes.inc();
      this.write({ type: 'lockWake', name })
        .catch(() => undefined)
        .finally(() => this.#waking.delete(name));
    }
  }

  /**
   * The leader removes empty containers and expired TTL nodes (ZooKeeper's ContainerManager), once
   * a second, each by a delete at the version it saw, so a node changed meanwhile survives.
   */
  #sweepContainersAndTtl(): void {
    const now = Date.now();
    if (now - this.#lastSweepMs < CONTAINER_SWEEP_MS) return;
    this.#lastSweepMs = now;
    const tree = this.sm.tree;
    for (const path of [...tree.containerCandidates(), ...tree.ttlCandidates(now)]) {
      const stat = tree.exists(path);
      if (!stat || this.#removing.has(path)) continue;
      this.#removing.add(path);
      this.write({ type: 'delete', path, version: stat.version })
        .catch(() => undefined)
        .finally(() => this.#removing.delete(path));
    }
  }

  #resolveStopped: () => void = () => undefined;
  /** Resolves once the replica has stopped (by `stop()`, a storage failure, or its removal from the cluster). */
  readonly stopped: Promise<void> = new Promise((resolve) => {
    this.#resolveStopped = resolve;
  });

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#sessionTimer) clearInterval(this.#sessionTimer);
    if (this.#progressTimer) clearInterval(this.#progressTimer);
    this.#api?.forceShutdown();
    this.#http?.close();
    this.metrics?.close();
    this.audit?.close();
    await this.driver?.stop();
    await this.#transport?.close();
    for (const files of this.#certificateFiles) files.close();
    await this.#storage?.close();
    this.#resolveStopped();
  }
}

/** The bearer-token secret from its file (trailing newline kept: the bytes are the secret). */
async function readTokenSecret(file: string | undefined): Promise<Uint8Array | undefined> {
  if (file === undefined) return undefined;
  let secret: Uint8Array;
  try {
    secret = await readFile(file);
  } catch (err: unknown) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `cannot read --auth-token-secret-file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  checkTokenSecret(secret);
  return secret;
}
