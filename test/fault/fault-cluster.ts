/**
 * The cluster of a fault run: member processes in fixed slots (id, client port, peer port), every
 * peer link through the `ProxyMesh`, and the operations the nemesis needs — kill, restart, pause,
 * membership changes, leadership transfer — plus health checks that wait for conditions.
 *
 * Slots: `nodes` founding members and one spare. A membership change adds the spare as a learner,
 * starts it with `--join`, promotes it and removes another member, whose slot becomes the spare
 * (its data wiped, so its next incarnation joins afresh under the same id and ports). Every member
 * is started with `--peer-dial` for every slot, so a member that joins later is proxied too.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterStatus } from '../../src/client/types.js';
import { Client as RawClient, RpcError } from '../integration/harness.js';
import { MemberProcess, type MemberSlot } from './member-process.js';
import { ProxyMesh } from './proxy-mesh.js';
import { stablePorts } from './stable-ports.js';

export interface FaultClusterOptions {
  readonly nodes: number;
  /** Where member logs go. */
  readonly logDir: string;
  readonly random: () => number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly sessionTimeoutMinMs?: number;
  readonly snapshotEvery?: number;
  /** CONCLAVE_FAULT_UNSAFE for every member: a deliberately broken build (the suite's own test). */
  readonly unsafe?: string;
}

/** What the suite reads from `Cluster.Status` (the SDK's `ClusterStatus`, without the costly digest). */
export type MemberStatus = Pick<ClusterStatus, 'id' | 'role' | 'term' | 'leader' | 'commit' | 'applied' | 'voters' | 'learners'>;

const STATUS_TIMEOUT_MS = 1000;
/** How often conditions on members' status are polled. */
const STATUS_POLL_MS = 200;
/** How far behind the leader's commit index a member may be and still count as caught up. */
const CAUGHT_UP_ENTRIES = 50;

export class FaultCluster {
  /** Clusters started and not yet stopped in this process (a test's afterAll stops them all, whatever happened). */
  static readonly #running = new Set<FaultCluster>();
  readonly opts: FaultClusterOptions;
  readonly members = new Map<number, MemberProcess>();
  readonly mesh: ProxyMesh;
  readonly #baseDir: string;
  readonly #dataDirs = new Map<number, string>();
  readonly #incarnations = new Map<number, number>();
  readonly #clients = new Map<number, RawClient>();
  readonly #founders: readonly number[];

  private constructor(opts: FaultClusterOptions, mesh: ProxyMesh, baseDir: string, slots: readonly MemberSlot[]) {
    this.opts = opts;
    this.mesh = mesh;
    this.#baseDir = baseDir;
    for (const s of slots) this.members.set(s.id, new MemberProcess(s));
    this.#founders = slots.slice(0, opts.nodes).map((s) => s.id);
  }

  static async start(opts: FaultClusterOptions): Promise<FaultCluster> {
    const slots: MemberSlot[] = [];
    const ports = await stablePorts(2 * (opts.nodes + 1), Math.random);
    for (let id = 1; id <= opts.nodes + 1; id++) slots.push({ id, clientPort: ports[2 * id - 2] as number, peerPort: ports[2 * id - 1] as number });
    const mesh = await ProxyMesh.start(new Map(slots.map((s) => [s.id, s.peerPort])), opts.random);
    const baseDir = await mkdtemp(join(tmpdir(), 'conclave-fault-'));
    const cluster = new FaultCluster(opts, mesh, baseDir, slots);
    FaultCluster.#running.add(cluster);
    try {
      await Promise.all(cluster.#founders.map((id) => cluster.#launch(id, false)));
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  member(id: number): MemberProcess {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member slot ${id}`);
    return m;
  }

  /** Every slot's client address (the SDK skips the ones not running). */
  endpoints(): string[] {
    return [...this.members.values()].map((m) => m.clientAddress);
  }

  client(id: number): RawClient {
    let c = this.#clients.get(id);
    if (!c) {
      c = new RawClient(this.member(id).clientAddress);
      this.#clients.set(id, c);
    }
    return c;
  }

  async status(id: number, timeoutMs = STATUS_TIMEOUT_MS): Promise<MemberStatus | undefined> {
    const m = this.member(id);
    if (!m.running || m.paused) return undefined;
    try {
      const st = await this.client(id).call('Cluster', 'Status', {}, timeoutMs);
      return {
        id: Number(st['id']),
        role: String(st['role']),
        term: Number(st['term']),
        leader: Number(st['leader']),
        commit: Number(st['commit']),
        applied: Number(st['applied']),
        voters: (st['voters'] as number[] | undefined) ?? [],
        learners: (st['learners'] as number[] | undefined) ?? [],
      };
    } catch {
      return undefined;
    }
  }

  async statuses(): Promise<MemberStatus[]> {
    const all = await Promise.all([...this.members.keys()].map((id) => this.status(id)));
    return all.filter((s): s is MemberStatus => s !== undefined);
  }

  /** The member that says it leads with the highest term, if any answers. */
  async leader(): Promise<MemberStatus | undefined> {
    const leaders = (await this.statuses()).filter((s) => s.role === 'leader');
    return leaders.sort((a, b) => b.term - a.term)[0];
  }

  async waitLeader(timeoutMs: number): Promise<MemberStatus> {
    return this.#explained('a leader', async () => (await this.leader()) ?? false, timeoutMs);
  }

  /**
   * Healthy: one leader that every member of its configuration follows, each running and caught up
   * with the leader's commit index. Returns the leader's status.
   */
  async waitHealthy(timeoutMs: number): Promise<MemberStatus> {
    const waitedOn = new Set<string>();
    const notYet = (why: string): false => {
      waitedOn.add(why);
      return false;
    };
    const started = performance.now();
    const leader = await this.#explained(
      'every member to follow one leader and catch up',
      async () => {
        const all = await this.statuses();
        const leader = all.filter((s) => s.role === 'leader').sort((a, b) => b.term - a.term)[0];
        if (!leader) return notYet('no leader');
        for (const id of [...leader.voters, ...leader.learners]) {
          const st = all.find((s) => s.id === id);
          if (!st) return notYet(`member ${id} not answering`);
          if (st.leader !== leader.id) return notYet(`member ${id} not following ${leader.id}`);
          if (st.applied < leader.commit - CAUGHT_UP_ENTRIES) return notYet(`member ${id} catching up`);
        }
        return leader;
      },
      timeoutMs,
    );
    this.lastRecovery = { ms: performance.now() - started, waitedOn: [...waitedOn] };
    return leader;
  }

  /** How long the last successful `waitHealthy` took, and what it waited for. */
  lastRecovery: { ms: number; waitedOn: string[] } = { ms: 0, waitedOn: [] };

  /** The configuration's members (voters and learners) as the leader sees it. */
  async configuration(timeoutMs: number): Promise<{ voters: number[]; learners: number[]; leader: number }> {
    const l = await this.waitLeader(timeoutMs);
    return { voters: [...l.voters], learners: [...l.learners], leader: l.id };
  }

  async kill(id: number): Promise<void> {
    await this.member(id).kill('SIGKILL');
  }

  /** Start a stopped member again on its data directory. */
  async restart(id: number): Promise<void> {
    await this.#launch(id, !this.#founders.includes(id) || (this.#incarnations.get(id) ?? 0) > 1);
  }

  pause(id: number): void {
    this.member(id).pause();
  }

  resume(id: number): void {
    this.member(id).resume();
  }

  /**
   * A unary call to the leader, retried (new leader, pending change, not caught up) until it
   * succeeds or `timeoutMs` passes; the last error is thrown then.
   */
  async callLeader(service: 'Conclave' | 'Cluster', method: string, req: object, timeoutMs: number, retryable: readonly string[] = []): Promise<Record<string, unknown>> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown = new Error(`no leader for ${method} within ${timeoutMs} ms`);
    while (performance.now() < deadline) {
      const leader = await this.leader();
      if (leader) {
        try {
          return await this.client(leader.id).call(service, method, req, Math.max(500, Math.min(10_000, deadline - performance.now())));
        } catch (err: unknown) {
          last = err;
          const code = err instanceof RpcError ? err.code : '';
          if (!['NOT_LEADER', 'UNAVAILABLE', 'LEADER_TRANSFERRING', ...retryable].includes(code) && !(err instanceof RpcError && err.grpcCode === 4)) throw err;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw last;
  }

  /**
   * Add slot `id` as a learner (by the leader) and start its process with --join: in that order
   * (as the README tells operators), or with `startFirst` the process first (it waits, not yet a member).
   */
  async addLearner(id: number, timeoutMs: number, startFirst = false): Promise<void> {
    const m = this.member(id);
    if (startFirst) await this.#launch(id, true);
    await this.#changeConf(`add learner ${id}`, (c) => c.learners.includes(id) || c.voters.includes(id), 'MemberAdd', { id, peerAddress: m.peerAddress, clientAddress: m.clientAddress }, timeoutMs);
    if (!startFirst) await this.#launch(id, true);
  }

  /** Kill a slot's process that is not a member (left over from an interrupted change) and forget its data. */
  async discard(id: number): Promise<void> {
    await this.member(id).kill('SIGKILL');
    this.#dataDirs.delete(id);
  }

  async promote(id: number, timeoutMs: number): Promise<void> {
    await this.#changeConf(`promote ${id}`, (c) => c.voters.includes(id), 'MemberPromote', { id }, timeoutMs);
  }

  /**
   * Remove member `id`; it stops itself once it learns (it is killed if it has not within
   * `exitWaitMs`, as a member cut off from the rest never learns). Its slot's data is wiped.
   */
  async remove(id: number, timeoutMs: number, exitWaitMs: number): Promise<{ stoppedItself: boolean }> {
    await this.#changeConf(`remove ${id}`, (c) => !c.voters.includes(id) && !c.learners.includes(id), 'MemberRemove', { id }, timeoutMs);
    const m = this.member(id);
    let timer: NodeJS.Timeout | undefined;
    const stoppedItself = await Promise.race([m.exited().then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), exitWaitMs)))]);
    clearTimeout(timer);
    if (!stoppedItself) await m.kill('SIGKILL');
    this.#dataDirs.delete(id);
    return { stoppedItself };
  }

  /**
   * Make a membership change until the leader's configuration shows it done: a call whose answer
   * was lost may have been applied, so the configuration, not the answer, decides.
   */
  async #changeConf(what: string, done: (c: { voters: readonly number[]; learners: readonly number[] }) => boolean, method: string, req: object, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last: unknown;
    while (performance.now() < deadline) {
      const leader = await this.leader();
      if (leader && done(leader)) return;
      if (leader) {
        try {
          await this.client(leader.id).call('Cluster', method, req, 3000);
        } catch (err: unknown) {
          last = err;
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`membership change "${what}" not done within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}\n${await this.describe()}`);
  }

  async transferLeadership(to: number, timeoutMs: number): Promise<number> {
    const res = await this.callLeader('Cluster', 'TransferLeadership', { to }, timeoutMs);
    return Number(res['leader']);
  }

  /** The data directory of the member's current incarnation. */
  dataDir(id: number): string | undefined {
    return this.#dataDirs.get(id);
  }

  /** The index of the newest snapshot file in a member's data directory (0: none yet). */
  async newestSnapshotIndex(id: number): Promise<number> {
    const dir = this.#dataDirs.get(id);
    if (!dir) return 0;
    const names = await readdir(join(dir, 'snap')).catch(() => [] as string[]);
    // snap-<term, 16 hex digits>-<index, 16 hex digits>.sqlite
    return Math.max(0, ...names.map((n) => parseInt(/^snap-[0-9a-f]{16}-([0-9a-f]{16})\.sqlite$/.exec(n)?.[1] ?? '0', 16)));
  }

  /**
   * Undo every fault: heal all links, resume paused members, restart stopped ones that still have
   * a data directory (a member removed from the cluster has none and stays down).
   */
  async repair(): Promise<void> {
    this.mesh.heal();
    for (const m of this.members.values()) if (m.paused) m.resume();
    for (const m of this.members.values()) if (!m.running && this.#dataDirs.has(m.id)) await this.restart(m.id);
  }

  async describe(): Promise<string> {
    const parts: string[] = [];
    for (const m of this.members.values()) {
      const st = await this.status(m.id);
      const status = st ? JSON.stringify({ role: st.role, term: st.term, leader: st.leader, commit: st.commit, applied: st.applied, voters: st.voters, learners: st.learners }) : 'no status';
      parts.push(`member ${m.id}: ${m.describe()}; ${status}\n${m.logTail.slice(-1500)}`);
    }
    return `${parts.join('\n---\n')}\nlinks down: ${this.mesh.downLinks().join(' ') || 'none'}`;
  }

  static async stopAll(): Promise<void> {
    await Promise.all([...FaultCluster.#running].map((c) => c.stop()));
  }

  async stop(): Promise<void> {
    FaultCluster.#running.delete(this);
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
    await Promise.all([...this.members.values()].map((m) => m.kill('SIGKILL')));
    await this.mesh.close();
    await rm(this.#baseDir, { recursive: true, force: true });
  }

  async #launch(id: number, joining: boolean): Promise<void> {
    const m = this.member(id);
    let dir = this.#dataDirs.get(id);
    if (!dir) {
      const n = (this.#incarnations.get(id) ?? 0) + 1;
      this.#incarnations.set(id, n);
      dir = join(this.#baseDir, `m${id}-${n}`);
      await mkdir(dir, { recursive: true });
      this.#dataDirs.set(id, dir);
    }
    // Founders list each other; a joiner lists every slot that runs (the ones to reach first) and itself.
    const listed = joining ? [...this.members.values()].filter((x) => x.running || x.id === id) : this.#founders.map((f) => this.member(f));
    const o = this.opts;
    const args = [
      '--id', String(id),
      '--data', dir,
      '--listen', m.clientAddress,
      '--peer-listen', m.peerAddress,
      '--metrics-listen', '127.0.0.1:0',
      '--members', listed.map((x) => `${x.id}=${x.peerAddress}/${x.clientAddress}`).join(','),
      '--peer-dial', this.mesh.dialArg(id),
      '--tick-ms', String(o.tickMs ?? 20),
      '--election-ticks', String(o.electionTicks ?? 25),
      '--session-timeout-min-ms', String(o.sessionTimeoutMinMs ?? 500),
      '--snapshot-every', String(o.snapshotEvery ?? 1000),
      '--log-level', 'info',
      ...(joining ? ['--join'] : []),
    ];
    await m.start(args, o.unsafe ? { CONCLAVE_FAULT_UNSAFE: o.unsafe } : {}, join(o.logDir, `member-${id}.log`));
  }

  async #explained<T>(what: string, fn: () => Promise<T | false>, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== false) return v;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${await this.describe()}`);
      // Not faster: every Status call makes a member compute a digest of its whole state.
      await new Promise((r) => setTimeout(r, STATUS_POLL_MS));
    }
  }
}
