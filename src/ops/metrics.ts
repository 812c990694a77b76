/**
 * Prometheus metrics of one replica (prom-client), on their own registry so that several replicas
 * in one process (tests) do not collide. Gauges that mirror state are collected on scrape.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsSource {
  isLeader(): boolean;
  hasLeader(): boolean;
  term(): number;
  commitIndex(): number;
  appliedIndex(): number;
  pendingProposals(): number;
  sessions(): number;
  ephemerals(): number;
  znodes(): number;
  dataBytes(): number;
  watchers(): number;
  watches(): number;
  watchEventsSent(): number;
  slowWatchersCut(): number;
  watchHistoryEvents(): number;
  watchHistoryBytes(): number;
  watchHistoryOldestZxid(): number;
  locks(): number;
  lockWaiters(): number;
  lockOldestHolderSeconds(): number;
}

export class ReplicaMetrics {
  readonly registry = new Registry();
  readonly requests: Histogram<'method' | 'code'>;
  readonly leaderChanges: Counter;
  readonly proposalsFailed: Counter;
  readonly fsyncSeconds: Histogram;
  readonly snapshotSeconds: Histogram;
  readonly applySeconds: Histogram;
  readonly sessionStreams: Gauge;
  readonly lockWaitSeconds: Histogram<'result'>;
  /** Requests refused by a per-session rate limit, by the limit that refused them (ops, bytes). */
  readonly throttled: Counter<'reason'>;
  /** Requests refused for their credentials (UNAUTHENTICATED) or their permissions (PERMISSION_DENIED). */
  readonly authRefusals: Counter<'code'>;
  readonly lockDelayWakes: Counter;
  readonly #loop = monitorEventLoopDelay({ resolution: 10 });

  constructor(source: MetricsSource) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'conclave_process_' });
    this.#loop.enable();
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: [r], collect() {
        this.set(read());
      } });
    };
    gauge('conclave_has_leader', '1 if this replica knows a leader', () => (source.hasLeader() ? 1 : 0));
    gauge('conclave_is_leader', '1 if this replica is the leader', () => (source.isLeader() ? 1 : 0));
    gauge('conclave_term', 'current Raft term', () => source.term());
    gauge('conclave_commit_index', 'Raft commit index', () => source.commitIndex());
    gauge('conclave_applied_index', 'index applied to the state machine (the zxid)', () => source.appliedIndex());
    gauge('conclave_proposals_pending', 'proposals waiting to be applied', () => source.pendingProposals());
    gauge('conclave_sessions', 'open sessions', () => source.sessions());
    gauge('conclave_ephemerals', 'ephemeral znodes', () => source.ephemerals());
    gauge('conclave_znodes', 'znodes in the tree', () => source.znodes());
    gauge('conclave_data_bytes', 'bytes of znode data', () => source.dataBytes());
    gauge('conclave_watchers', 'session streams and watch calls holding watches on this replica', () => source.watchers());
    gauge('conclave_watches', 'watches (one-shot and persistent) on this replica', () => source.watches());
    // Counted by the pure watch hub; mirrored here on scrape.
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers: [r], collect() {
        this.reset();
        this.inc(read());
      } });
    };
    counter('conclave_watch_events_sent_total', 'watch events delivered by this replica', () => source.watchEventsSent());
    counter('conclave_slow_watchers_cut_total', 'watchers cut off for not reading their events', () => source.slowWatchersCut());
    gauge('conclave_watch_history_events', 'events kept for watch resumes', () => source.watchHistoryEvents());
    gauge('conclave_watch_history_bytes', 'bytes of events kept for watch resumes', () => source.watchHistoryBytes());
    gauge('conclave_watch_history_oldest_zxid', 'the oldest zxid a watch may resume from', () => source.watchHistoryOldestZxid());
    gauge('conclave_locks', 'locks with holders or waiters', () => source.locks());
    gauge('conclave_lock_waiters', 'sessions queued on locks (all locks)', () => source.lockWaiters());
    gauge('conclave_lock_oldest_holder_seconds', 'how long the longest-held lock grant has been held', () => source.lockOldestHolderSeconds());
    const loop = this.#loop;
    gauge('conclave_event_loop_delay_max_seconds', 'longest event-loop stall since the last scrape', () => {
      const v = loop.max / 1e9;
      loop.reset();
      return v;
    });
    this.requests = new Histogram({ name: 'conclave_request_seconds', help: 'client requests by method and result code', labelNames: ['method', 'code'], registers: [r], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] });
    this.leaderChanges = new Counter({ name: 'conclave_leader_changes_total', help: 'times this replica saw the leader change', registers: [r] });
    this.proposalsFailed = new Counter({ name: 'conclave_proposals_failed_total', help: 'proposals of this replica refused or lost in a leader change', registers: [r] });
    this.fsyncSeconds = new Histogram({ name: 'conclave_wal_fsync_seconds', help: 'write-ahead log write + fdatasync', registers: [r], buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1] });
    this.applySeconds = new Histogram({ name: 'conclave_apply_seconds', help: 'time to apply one committed entry to the state machine (its count: entries applied)', registers: [r], buckets: [0.000005, 0.00002, 0.0001, 0.0005, 0.002, 0.01, 0.1] });
    this.lockWaitSeconds = new Histogram({ name: 'conclave_lock_acquire_seconds', help: 'lock acquires answered by this replica, by result (granted, timeout, refused), with the time from request to answer (its count by result: grants, timeouts)', labelNames: ['result'], registers: [r], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60] });
    this.lockDelayWakes = new Counter({ name: 'conclave_lock_delay_wakes_total', help: 'locks released from a lock-delay by the leader (each a lock-delay that took effect)', registers: [r] });
    this.throttled = new Counter({ name: 'conclave_throttled_requests_total', help: 'requests refused with RATE_LIMITED by a per-session rate limit, by the limit (ops, bytes)', labelNames: ['reason'], registers: [r] });
    this.authRefusals = new Counter({ name: 'conclave_auth_refusals_total', help: 'requests refused for their credentials (UNAUTHENTICATED) or permissions (PERMISSION_DENIED)', labelNames: ['code'], registers: [r] });
    this.sessionStreams = new Gauge({ name: 'conclave_session_streams', help: 'open session streams (client connections)', registers: [r] });
    this.snapshotSeconds = new Histogram({ name: 'conclave_snapshot_seconds', help: 'time to write a snapshot', registers: [r], buckets: [0.01, 0.1, 0.5, 1, 5, 30] });
  }

  close(): void {
    this.#loop.disable();
  }
}
