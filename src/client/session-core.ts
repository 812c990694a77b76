/**
 * The client's session and its one connection to the leader: connect and follow the leader,
 * keep-alives, the session states, and every request from send to answer with retries.
 *
 * Write retries are exactly-once by `{ sessionId, seq }`: the server applies each seq once and
 * answers a repeat from memory. Every write tells the lowest seq this client still waits on, and
 * the server remembers the outcomes from there up (Raft thesis §6.3), so all the writes in flight
 * when a connection was lost can be resent: with the SAME seq, before anything else, in seq order.
 * A write the server refused without applying it (NOT_LEADER, PROPOSAL_BACKPRESSURE,
 * LEADER_TRANSFERRING, RATE_LIMITED) gets a fresh seq. STALE_REQUEST is now only possible when the
 * server had to forget an outcome (more writes in flight than it remembers); it is surfaced as is.
 */
import { ConclaveError, ErrorCode, isConclaveError } from '../common/errors.js';
import { backoffMs, delay } from './backoff.js';
import { abortReason, closedError, describe, lostError, unavailable } from './client-errors.js';
import type { ChannelSettings, Connection, UnaryService } from './connection.js';
import { Endpoints } from './endpoints.js';
import { type Handshake, handshake } from './handshake.js';
import { KeepAlives } from './keep-alive.js';
import { OneShotWatches } from './one-shot-watches.js';
import { type Answer, PendingRequest, type RequestInit } from './pending-request.js';
import { RequestQueue } from './request-queue.js';
import { TypedEmitter } from './typed-emitter.js';
import type { ClientEvents, MemberList, SessionInfo, SessionState } from './types.js';
import type { HostedWatch, WatchHost } from './watch-host.js';
import { type ResponseFrame, type WireEvent, errorOf } from './wire.js';

export interface CoreOptions {
  readonly endpoints: readonly string[];
  /** Credentials and options of every connection (TLS or plaintext); plaintext when left out. */
  readonly channel?: ChannelSettings;
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/** Requests in flight on the stream at once (the server refuses more than its own bound, 4096 by default). */
const IN_FLIGHT_MAX = 1024;
/** Leader hints followed in a row before backing off. */
const HOPS_MAX = 3;
const CLOSE_SESSION_WAIT_MS = 3000;
/** The least time a member gets to answer the first frame of a new stream. */
const HANDSHAKE_MS_MIN = 1000;
/** Errors worth another try on another member or later; others refuse the session for good. */
const RETRYABLE: ReadonlySet<string> = new Set([ErrorCode.NOT_LEADER, ErrorCode.UNAVAILABLE, ErrorCode.PROPOSAL_BACKPRESSURE, ErrorCode.LEADER_TRANSFERRING, ErrorCode.TOO_MANY_REQUESTS]);

export class SessionCore extends TypedEmitter<ClientEvents> implements WatchHost {
  readonly #opts: CoreOptions;
  readonly #endpoints: Endpoints;
  readonly #requests = new Set<PendingRequest>();
  readonly #queue = new RequestQueue();
  readonly #oneShots = new OneShotWatches();
  readonly #watches = new Set<HostedWatch>();
  readonly #stop = new AbortController();
  #conn: Connection | undefined;
  #connecting = false;
  /** A refusal to open the session that no retry can fix (LIMIT_EXCEEDED, ...): `start` throws it. */
  #openRefused: ConclaveError | undefined;
  #leaderHint: string | undefined;
  #lastError: unknown;
  #state: SessionState = 'connecting';
  #sessionId = 0;
  #timeoutMs = 0;
  #seq = 0;
  /** Writes given a seq and not answered yet, by seq, ascending (seqs are handed out in order). */
  readonly #unanswered = new Map<number, PendingRequest>();
  #nextId = 1;
  #serial = 0;
  #inFlight = 0;
  #zxid = 0;
  readonly #keepAlives = new KeepAlives({
    nextId: () => this.nextId(),
    answered: (conn, sentAt, timeoutMs) => this.#keepAliveAnswered(conn, sentAt, timeoutMs),
    failed: (conn, err) => this.#keepAliveFailed(conn, err),
  });
  /** Send time of the newest keep-alive (or handshake) the server answered. */
  #lastKeepAliveSentAt = 0;
  #reconnectHold: Promise<void> | undefined;
  #readyWaiters: (() => void)[] = [];

  constructor(opts: CoreOptions) {
    super();
    if (opts.endpoints.length === 0) throw new ConclaveError(ErrorCode.BAD_ARGUMENTS, 'at least one endpoint is needed');
    this.#opts = opts;
    this.#endpoints = new Endpoints(opts.endpoints);
  }

  get state(): SessionState {
    return this.#state;
  }

  get sessionId(): number {
    return this.#sessionId;
  }

  get requestTimeoutMs(): number {
    return this.#opts.requestTimeoutMs;
  }

  get sessionTimeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The newest zxid this client has seen. */
  get lastZxid(): number {
    return this.#zxid;
  }

  /** Until when (performance.now() time) the session is certainly alive on the server. */
  get safeUntil(): number {
    return this.#lastKeepAliveSentAt + this.#timeoutMs;
  }

  /** Open the session; UNAVAILABLE if no member answers within connectTimeoutMs. */
  async start(): Promise<void> {
    this.#reconnect();
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.#opts.connectTimeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.#state === 'connected');
      });
    });
    if (this.#openRefused) {
      await this.close();
      throw this.#openRefused;
    }
    if (!ok) {
      const last = this.#lastError === undefined ? '' : `: ${describe(this.#lastError)}`;
      await this.close();
      throw unavailable(`no member of ${this.#endpoints.list().join(', ')} opened a session within ${this.#opts.connectTimeoutMs} ms (connectTimeoutMs)${last}`);
    }
  }

  /** Send an operation and wait for its answer, retrying through reconnects as the class comment says. */
  request(init: RequestInit): Promise<Answer> {
    if (this.#state === 'lost') return Promise.reject(lostError(this.#sessionId));
    if (this.#state === 'closed') return Promise.reject(closedError());
    if (init.signal?.aborted) return Promise.reject(abortReason(init.signal));
    const p = new PendingRequest(++this.#serial, init, init.timeoutMs ?? this.#opts.requestTimeoutMs, (q) => this.#abandon(q));
    this.#requests.add(p);
    this.#queue.push(p);
    this.#pump();
    return p.promise;
  }

  /** A unary Cluster call on the current member (waiting for a connection within requestTimeoutMs). */
  clusterCall<T>(method: string, req: object): Promise<T> {
    return this.unaryCall<T>('Cluster', method, req);
  }

  /** A unary call (Cluster or Access) on the current member, the leader; not retried. */
  async unaryCall<T>(service: UnaryService, method: string, req: object): Promise<T> {
    const conn = this.#conn ?? (await this.#whenReady());
    return conn.unaryCall<T>(service, method, req, this.#opts.requestTimeoutMs);
  }

  /** Close the session (its ephemerals go at once) and the connection; pending operations fail. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const conn = this.#conn;
    if (conn && this.#state === 'connected' && this.#sessionId) {
      await new Promise<void>((resolve) => {
        const id = this.nextId();
        const timer = setTimeout(resolve, CLOSE_SESSION_WAIT_MS);
        timer.unref();
        conn.send(id, 'closeSession', { sessionId: this.#sessionId }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    for (const w of this.#shutDown('closed', closedError())) w.onClosed();
  }

  /** For tests: stop (or restart) keep-alives, as if this process were paused. */
  pauseKeepAlives(paused: boolean): void {
    this.#keepAlives.paused = paused;
  }

  /** For tests: lose the connection now, and reconnect only once the returned function is called. */
  dropConnection(): () => void {
    let release!: () => void;
    this.#reconnectHold = new Promise<void>((resolve) => {
      release = resolve;
    });
    if (this.#conn) this.#drop(this.#conn, unavailable('connection dropped by a test'));
    return release;
  }

  // --- WatchHost

  attach(w: HostedWatch): void {
    if (this.#state === 'lost') return w.onFailed(lostError(this.#sessionId));
    if (this.#state === 'closed') return w.onClosed();
    this.#watches.add(w);
    if (this.#conn) w.onReady(this.#conn);
  }

  detach(w: HostedWatch): void {
    this.#watches.delete(w);
  }

  nextId(): number {
    return this.#nextId++;
  }

  observeZxid(zxid: number): void {
    if (zxid > this.#zxid) this.#zxid = zxid;
  }

  recycle(conn: Connection, reason: ConclaveError): void {
    if (conn !== this.#conn) return;
    this.#leaderHint = conn.address;
    this.#drop(conn, reason);
  }

  // --- sending and answers

  #pump(): void {
    const conn = this.#conn;
    while (conn && this.#inFlight < IN_FLIGHT_MAX) {
      const p = this.#queue.next();
      if (!p) return;
      this.#send(p, conn);
    }
  }

  #send(p: PendingRequest, conn: Connection): void {
    if (p.kind === 'write' && p.seq === undefined) {
      p.seq = ++this.#seq;
      if (p.remembered) this.#unanswered.set(p.seq, p);
    }
    p.id = this.nextId();
    p.conn = conn;
    p.earlyEvent = undefined;
    this.#inFlight++;
    const body = p.build({ minZxid: this.#zxid, header: { sessionId: this.#sessionId, seq: p.seq ?? 0, lowestUnansweredSeq: p.seq === undefined ? 0 : this.#lowestUnanswered() } });
    conn.send(p.id, p.op, body, (frame) => this.#onAnswer(p, conn, frame));
  }

  /**
   * The lowest seq still waiting for its answer. A write answered, given up on, or refused before
   * it was applied (its seq taken back) no longer counts; they are dropped from the front lazily.
   */
  #lowestUnanswered(): number {
    for (const [seq, p] of this.#unanswered) {
      if (!p.done && p.seq === seq) return seq;
      this.#unanswered.delete(seq);
    }
    return this.#seq + 1;
  }

  #onAnswer(p: PendingRequest, conn: Connection, frame: ResponseFrame): void {
    if (p.conn !== conn || p.done) return;
    if (frame.result === 'event') {
      p.earlyEvent = frame['event'] as WireEvent;
      return;
    }
    p.conn = undefined;
    this.#inFlight--;
    if (frame.result === 'error' && frame.error) {
      conn.forget(p.id);
      this.#onError(p, conn, errorOf(frame.error));
    } else {
      const body = frame.result ? (frame[frame.result] as { zxid?: unknown } | null) : null;
      if (typeof body?.zxid === 'number') this.observeZxid(body.zxid);
      if (p.oneShot) p.settle({ frame, oneShot: this.#oneShots.arm(conn, p.id, p.earlyEvent) });
      else {
        conn.forget(p.id);
        p.settle({ frame });
      }
      this.#requests.delete(p);
    }
    this.#pump();
  }

  #onError(p: PendingRequest, conn: Connection, err: ConclaveError): void {
    const write = p.kind === 'write';
    switch (err.code) {
      case ErrorCode.SESSION_EXPIRED:
        if (write) return this.#lose();
        break;
      case ErrorCode.NOT_LEADER:
        // Refused before it was applied: the server checks leadership before proposing, and a
        // proposal overwritten by another leader's entry is refused this way too.
        if (write) p.seq = undefined;
        this.#queue.requeue(p);
        return this.#redirect(conn, typeof err.details['leader'] === 'string' ? err.details['leader'] : undefined, err);
      case ErrorCode.PROPOSAL_BACKPRESSURE:
      case ErrorCode.LEADER_TRANSFERRING:
      case ErrorCode.TOO_MANY_REQUESTS:
      // Over the session's rate limit: refused before it was proposed; backing off is the point.
      case ErrorCode.RATE_LIMITED:
        if (write) p.seq = undefined;
        return this.#retryLater(p);
      case ErrorCode.UNAVAILABLE:
        // A read: the member is catching up, try again. A write: the member is stopping and may
        // still commit it, so resend it with its seq, in order, on a new connection.
        if (!write) return this.#retryLater(p);
        this.#queue.resend(p);
        return this.#drop(conn, err);
      case ErrorCode.STALE_REQUEST:
        this.#requests.delete(p);
        return p.fail(
          new ConclaveError(ErrorCode.STALE_REQUEST, `write ${p.seq} was resent after a lost connection and a later write of this session was applied after it, so it was almost certainly applied too, but its result is no longer known; read the node to see its state`, err.details as Record<string, unknown>),
        );
    }
    this.#requests.delete(p);
    p.fail(err);
  }

  #retryLater(p: PendingRequest): void {
    p.retryTimer = setTimeout(() => {
      p.retryTimer = undefined;
      this.#queue.requeue(p);
      this.#pump();
    }, backoffMs(p.attempts++));
    p.retryTimer.unref();
  }

  /** The caller gave up on `p` (deadline or abort): forget it wherever it is. */
  #abandon(p: PendingRequest): void {
    this.#requests.delete(p);
    if (p.conn) {
      p.conn.forget(p.id);
      p.conn = undefined;
      this.#inFlight--;
      this.#pump();
    }
  }

  // --- connections

  #reconnect(): void {
    if (this.#connecting || this.#stop.signal.aborted) return;
    this.#connecting = true;
    void this.#connectLoop().finally(() => {
      this.#connecting = false;
    });
  }

  async #connectLoop(): Promise<void> {
    let attempt = 0;
    let hops = 0;
    if (this.#reconnectHold) await this.#reconnectHold;
    this.#reconnectHold = undefined;
    while (!this.#stop.signal.aborted) {
      const address = this.#endpoints.pick(this.#leaderHint);
      this.#leaderHint = undefined;
      try {
        const hs = await handshake({
          address,
          sessionId: this.#sessionId,
          sessionTimeoutMs: this.#opts.sessionTimeoutMs,
          answerMs: Math.min(Math.max((this.#timeoutMs || this.#opts.sessionTimeoutMs) / 3, HANDSHAKE_MS_MIN), this.#opts.connectTimeoutMs),
          id: this.nextId(),
          channel: this.#opts.channel,
          onLateClose: (c, reason) => this.#drop(c, reason),
        });
        if (this.#stop.signal.aborted) return hs.conn.close();
        if (hs.conn.closed) throw unavailable(`the connection to ${address} closed right after it opened`);
        // Cleared before adopting: a drop right after must be able to start a new loop.
        this.#connecting = false;
        return this.#adopt(hs);
      } catch (err: unknown) {
        this.#lastError = err;
        if (isConclaveError(err, ErrorCode.SESSION_EXPIRED)) return this.#lose();
        if (this.#state === 'connecting' && isConclaveError(err) && !RETRYABLE.has(err.code)) {
          this.#openRefused = err;
          for (const wake of this.#readyWaiters.splice(0)) wake();
          return;
        }
        const leader = isConclaveError(err, ErrorCode.NOT_LEADER) ? err.details['leader'] : undefined;
        if (typeof leader === 'string' && leader && leader !== address && hops < HOPS_MAX) {
          this.#leaderHint = leader;
          hops++;
          continue;
        }
        hops = 0;
        await delay(backoffMs(attempt++), this.#stop.signal);
      }
    }
  }

  #adopt(hs: Handshake): void {
    const { conn } = hs;
    this.#conn = conn;
    this.#sessionId = hs.sessionId;
    this.#timeoutMs = hs.timeoutMs;
    this.#lastKeepAliveSentAt = Math.max(this.#lastKeepAliveSentAt, hs.sentAt);
    const info: SessionInfo = { sessionId: hs.sessionId, timeoutMs: hs.timeoutMs, address: conn.address };
    const first = this.#state === 'connecting';
    this.#state = 'connected';
    this.#keepAlives.start(conn, hs.sessionId, hs.timeoutMs);
    // Watches register before the queued requests are resent, so a read resent on this stream is
    // answered after the events its zxid covers (the Cache relies on it).
    for (const w of [...this.#watches]) w.onReady(conn);
    this.#pump();
    for (const wake of this.#readyWaiters.splice(0)) wake();
    this.emit(first ? 'connected' : 'reconnected', info);
    conn.clusterCall<MemberList>('MemberList', {}, this.#opts.requestTimeoutMs).then(
      (list) => {
        for (const m of list.members) this.#endpoints.add(m.clientAddress);
      },
      () => undefined,
    );
  }

  /** A member said it is not the leader: go to the leader it named (or look for one). */
  #redirect(conn: Connection, leader: string | undefined, err: ConclaveError): void {
    if (conn !== this.#conn) return;
    if (leader && leader !== conn.address) this.#leaderHint = leader;
    this.#drop(conn, err);
  }

  /** The connection is lost or useless: suspend, move what was in flight back to the queues, reconnect. */
  #drop(conn: Connection, reason: ConclaveError): void {
    if (conn !== this.#conn) return;
    this.#conn = undefined;
    this.#lastError = reason;
    conn.close();
    this.#keepAlives.stop();
    const inFlight = [...this.#requests].filter((p) => p.conn === conn);
    for (const p of inFlight) p.conn = undefined;
    this.#inFlight = 0;
    // In flight writes keep their seq: the server may have applied them.
    this.#queue.returnInFlight(inFlight);
    this.#oneShots.connectionLost(conn, unavailable(`the connection to ${conn.address} was lost before the watch fired; read again to see the current state (${reason.message})`));
    for (const w of [...this.#watches]) w.onDetached();
    if (this.#state === 'connected') {
      this.#state = 'suspended';
      this.emit('suspended', { safeUntil: this.safeUntil });
    }
    this.#reconnect();
  }

  #whenReady(): Promise<Connection> {
    if (this.#state === 'lost') return Promise.reject(lostError(this.#sessionId));
    if (this.#state === 'closed') return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable(`not connected within ${this.#opts.requestTimeoutMs} ms (requestTimeoutMs)`)), this.#opts.requestTimeoutMs);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        if (this.#conn) resolve(this.#conn);
        else reject(this.#state === 'lost' ? lostError(this.#sessionId) : closedError());
      });
    });
  }

  // --- keep-alives and the end of the session

  #keepAliveAnswered(conn: Connection, sentAt: number, timeoutMs: number): void {
    if (conn !== this.#conn) return;
    this.#lastKeepAliveSentAt = Math.max(this.#lastKeepAliveSentAt, sentAt);
    if (timeoutMs > 0 && timeoutMs !== this.#timeoutMs) {
      this.#timeoutMs = timeoutMs;
      this.#keepAlives.start(conn, this.#sessionId, timeoutMs);
    }
  }

  #keepAliveFailed(conn: Connection, err: ConclaveError): void {
    if (conn !== this.#conn) return;
    if (err.code === ErrorCode.SESSION_EXPIRED) return this.#lose();
    if (err.code === ErrorCode.NOT_LEADER) return this.#redirect(conn, err.details['leader'] as string | undefined, err);
    this.#drop(conn, err);
  }

  /** The server expired the session: fail everything, tell the listeners, never reopen silently. */
  #lose(): void {
    if (this.#state === 'lost' || this.#state === 'closed') return;
    const err = lostError(this.#sessionId);
    for (const w of this.#shutDown('lost', err)) w.onFailed(err);
    this.emit('lost', err);
  }

  /** Stop everything; returns the watches that were attached, for the caller to end. */
  #shutDown(state: 'lost' | 'closed', err: ConclaveError): HostedWatch[] {
    this.#state = state;
    this.#stop.abort();
    this.#keepAlives.stop();
    this.#conn?.close();
    this.#conn = undefined;
    for (const p of [...this.#requests]) p.fail(err);
    this.#requests.clear();
    this.#queue.clear();
    this.#inFlight = 0;
    this.#oneShots.failAll(err);
    const watches = [...this.#watches];
    this.#watches.clear();
    for (const wake of this.#readyWaiters.splice(0)) wake();
    return watches;
  }
}
