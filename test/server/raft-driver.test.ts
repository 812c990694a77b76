/**
 * Three replicas in one process with real timers, real disks (temp dirs) and an in-memory network:
 * the shell loop drives the core, writes survive a leader's death, a restarted replica catches up
 * (through a snapshot when the log it missed was compacted), and reads get fresh read points.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { type Entry, EntryType, type NodeId, Role } from '../../src/raft/index.js';
import { RaftDriver } from '../../src/server/raft-driver.js';
import { DiskStorage } from '../../src/storage/disk-storage.js';
import type { SnapshotTableSpec } from '../../src/storage/sqlite-snapshot.js';
import { InMemoryNetwork } from '../../src/transport/peer-transport.js';
import { until } from '../support/until.js';

const TABLES: readonly SnapshotTableSpec[] = [{ name: 'values', columns: [{ name: 'idx', type: 'INTEGER' }, { name: 'value', type: 'TEXT' }], primaryKey: ['idx'] }];

/** A state machine that records applied values by index (and restores them from snapshots). */
class Replica {
  values = new Map<number, string>();
  /** Snapshots installed from a leader while running (not the one loaded at start). */
  installs = 0;
  started = false;
  /** The state's size in rows as the driver sees it (default: the values held). */
  stateRows = (): number => this.values.size;
  /** Errors that stopped this replica's driver (none are expected). */
  readonly fatal: unknown[] = [];
  driver!: RaftDriver;
  storage!: DiskStorage;

  constructor(
    readonly id: NodeId,
    readonly dir: string,
  ) {}

  async start(net: InMemoryNetwork, voters: readonly NodeId[]): Promise<void> {
    this.storage = await DiskStorage.open(this.dir, { keepEntriesAfterSnapshot: 5 });
    this.values = new Map();
    this.driver = await RaftDriver.start({
      id: this.id,
      storage: this.storage,
      transport: net.connect(this.id),
      bootstrapVoters: voters,
      tickMs: 5,
      electionTicks: 10,
      seed: this.id,
      onFatal: (err) => this.fatal.push(err),
      hooks: {
        apply: (e: Entry) => {
          if (e.type !== EntryType.Normal || e.data.length === 0) return undefined;
          const v = new TextDecoder().decode(e.data);
          this.values.set(e.index, v);
          return `applied ${v}`;
        },
        restore: async (file) => {
          if (this.started) this.installs++;
          this.values = new Map();
          if (!file) return;
          for await (const rows of this.storage.snapshots.readRows(file.path, 'values')) {
            for (const [idx, v] of rows) this.values.set(Number(idx), String(v));
          }
        },
        snapshot: {
          stateMachine: 'test-values',
          stateVersion: 1,
          tables: TABLES,
          everyEntries: 20,
          stateRows: () => this.stateRows(),
          // Rows are captured synchronously: a consistent view at the applied index.
          fill: async (w) => {
            const rows = [...this.values.entries()];
            await w.write('values', rows);
          },
        },
      },
    });
    this.started = true;
  }


  async stop(): Promise<void> {
    this.started = false;
    await this.driver.stop();
    await this.storage.close();
  }

  ordered(): string[] {
    return [...this.values.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }
}


let dirs: string[] = [];
let replicas: Replica[] = [];
afterEach(async () => {
  // Take the lists first, so that a failing cleanup cannot leak replicas into the next test.
  const [rs, ds] = [replicas, dirs];
  replicas = [];
  dirs = [];
  for (const r of rs) await r.stop().catch(() => undefined);
  for (const d of ds) await rm(d, { recursive: true, force: true, maxRetries: 3 });
});

async function cluster(n: number): Promise<{ net: InMemoryNetwork; replicas: Replica[] }> {
  const net = new InMemoryNetwork();
  const voters = Array.from({ length: n }, (_, i) => i + 1);
  const mine: Replica[] = [];
  for (const id of voters) {
    const dir = await mkdtemp(join(tmpdir(), `conclave-driver-${id}-`));
    dirs.push(dir);
    const r = new Replica(id, dir);
    replicas.push(r);
    mine.push(r);
    await r.start(net, voters);
  }
  return { net, replicas: mine };
}

function leaderOf(rs: readonly Replica[]): Replica | undefined {
  return rs.find((r) => r.driver.status().role === Role.Leader);
}

async function write(rs: readonly Replica[], value: string): Promise<unknown> {
  for (;;) {
    const leader = await until('a leader', () => leaderOf(rs));
    try {
      return (await leader.driver.propose(new TextEncoder().encode(value))).result;
    } catch (err: unknown) {
      // A stopped driver still reports the role it had: fail loudly rather than spin on it.
      if (leader.fatal.length > 0) throw new Error(`replica ${leader.id} stopped: ${String(leader.fatal[0])}`);
      if (!isConclaveError(err, ErrorCode.NOT_LEADER)) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

describe('the Raft driver (shell) with real disks', () => {
  it('elects a leader, replicates and applies in the same order everywhere, answers proposers', async () => {
    const { replicas: rs } = await cluster(3);
    const results: unknown[] = [];
    for (let i = 1; i <= 60; i++) results.push(await write(rs, `v${i}`));
    expect(results[0]).toBe('applied v1');
    expect(results[59]).toBe('applied v60');
    const expected = Array.from({ length: 60 }, (_, i) => `v${i + 1}`);
    for (const r of rs) await until(`replica ${r.id} applied all`, () => r.ordered().length === 60);
    for (const r of rs) expect(r.ordered()).toEqual(expected);
    // Snapshots were taken along the way (every 20 entries).
    expect(rs.some((r) => r.driver.stats.snapshots > 0)).toBe(true);
  });

  it('waits for new entries worth a quarter of a large state before the next snapshot', async () => {
    const { replicas: rs } = await cluster(1);
    const [r] = rs as [Replica];
    // A state of 400 rows: 100 new entries between snapshots, not 20 (--snapshot-every).
    r.stateRows = () => 400;
    for (let i = 1; i <= 99; i++) await write(rs, `v${i}`);
    expect(r.driver.stats.snapshots).toBe(0);
    await write(rs, 'v100');
    await until('a snapshot after 100 entries', () => r.driver.stats.snapshots === 1);
    for (let i = 101; i <= 199; i++) await write(rs, `v${i}`);
    expect(r.driver.stats.snapshots).toBe(1);
    // A small state goes back to --snapshot-every.
    r.stateRows = () => 0;
    for (let i = 200; i <= 225; i++) await write(rs, `v${i}`);
    await until('snapshots every 20 entries again', () => r.driver.stats.snapshots >= 2);
  });

  it('a follower refuses a proposal with NOT_LEADER and the leader hint', async () => {
    const { replicas: rs } = await cluster(3);
    const leader = await until('a leader', () => leaderOf(rs));
    const follower = rs.find((r) => r !== leader) as Replica;
    await until('the follower knows the leader', () => follower.driver.status().lead === leader.id);
    const err = await follower.driver.propose(new Uint8Array([1])).catch((e: unknown) => e);
    expect(isConclaveError(err, ErrorCode.NOT_LEADER)).toBe(true);
    expect((err as { details: Record<string, unknown> }).details['leader']).toBe(leader.id);
  });

  it('writes continue after the leader dies, nothing acknowledged is lost, and it catches up on restart', async () => {
    const { net, replicas: rs } = await cluster(3);
    for (let i = 1; i <= 10; i++) await write(rs, `a${i}`);
    const old = await until('a leader', () => leaderOf(rs));
    await old.stop();
    const rest = rs.filter((r) => r !== old);
    // Enough writes that the survivors snapshot and compact past what the old leader holds.
    for (let i = 1; i <= 50; i++) await write(rest, `b${i}`);
    await old.start(net, [1, 2, 3]);
    const expected = [...Array.from({ length: 10 }, (_, i) => `a${i + 1}`), ...Array.from({ length: 50 }, (_, i) => `b${i + 1}`)];
    await until('the restarted replica caught up', () => old.ordered().length === expected.length, 15_000);
    // What it missed had been compacted away: it caught up through an installed snapshot.
    expect(old.installs).toBeGreaterThan(0);
    for (const r of rs) {
      await until(`replica ${r.id} applied all`, () => r.ordered().length === expected.length);
      expect(r.ordered()).toEqual(expected);
    }
  });

  it('linearizable reads get a fresh read point at or after every acknowledged write', async () => {
    const { replicas: rs } = await cluster(3);
    for (let i = 1; i <= 5; i++) await write(rs, `r${i}`);
    const leader = await until('a leader', () => leaderOf(rs));
    const follower = rs.find((r) => r !== leader) as Replica;
    const acked = leader.driver.status().commit;
    const [a, b] = await Promise.all([leader.driver.readIndex(), follower.driver.readIndex()]);
    expect(a).toBeGreaterThanOrEqual(acked);
    expect(b).toBeGreaterThanOrEqual(acked);
    // The follower answered only after applying up to its read point.
    expect(follower.values.size).toBe(5);
  });

  it('an isolated leader cannot confirm a read; the majority side elects a new leader', async () => {
    const { net, replicas: rs } = await cluster(3);
    await write(rs, 'x');
    const old = await until('a leader', () => leaderOf(rs));
    net.isolate(old.id);
    let settled = false;
    const stale = old.driver.readIndex().then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    const rest = rs.filter((r) => r !== old);
    await write(rest, 'y');
    const newLeader = await until('a new leader', () => leaderOf(rest));
    expect(newLeader.id).not.toBe(old.id);
    expect(settled).toBe(false);
    net.healAll();
    await old.stop();
    await stale;
  });
});
