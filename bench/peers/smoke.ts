/**
 * `npx tsc -p tsconfig.json && node dist/bench/peers/smoke.js`: starts a 3-member etcd cluster, runs w1
 * (sequential writes, 3 s) and w64 (64 writes in flight, 5 s) against its leader, stops it, then does the
 * same with ZooKeeper, and prints one table. One system at a time, so an idle cluster's heartbeats don't
 * land on the other's figures. Needs scripts/bench-peers-setup.sh to have run. `--keep` keeps the
 * members' data and logs (kept anyway after an error or an op slower than 1 s).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Adapter } from '../load/adapter.js';
import { EtcdAdapter } from '../load/etcd-adapter.js';
import { rssBytes } from '../load/proc.js';
import { runClosedLoop, type RunResult } from '../load/run.js';
import { ZooKeeperAdapter } from '../load/zookeeper-adapter.js';
import type { PeerCluster } from './cluster.js';
import { startEtcdCluster } from './etcd-cluster.js';
import { startZooKeeperCluster } from './zookeeper-cluster.js';

const KEYS = 1000;
const value = randomBytes(256);
const key = (i: number) => `bench/w/${i % KEYS}`;

interface Row {
  system: string;
  workload: string;
  r: RunResult;
}

async function benchSystem(
  name: string,
  start: () => Promise<PeerCluster>,
  connect: (endpoint: string) => Promise<Adapter>,
): Promise<Row[]> {
  const cluster = await start();
  try {
    const leader = await cluster.leaderIndex();
    console.log(`${name}: ready in ${cluster.readyMs} ms, leader is member ${leader + 1} (${cluster.endpoints[leader]})`);
    const adapter = await connect(cluster.endpoints[leader]!);
    try {
      const put = (i: number) => adapter.put(key(i), value);
      // Creates every key once (so the runs below only update) and warms up the client.
      await runClosedLoop({ concurrency: 16, ops: KEYS, op: put });
      const rows: Row[] = [];
      for (const [workload, concurrency, durationMs] of [['w1', 1, 3000], ['w64', 64, 5000]] as const) {
        const r = await runClosedLoop({ concurrency, durationMs, op: put, serverPids: cluster.pids });
        if (r.errors > 0) console.error(`${name} ${workload}: ${r.errors} errors, first: ${String(r.firstError)}`);
        rows.push({ system: name, workload, r });
      }
      const rss = cluster.pids.map((pid) => (rssBytes(pid) / 2 ** 20).toFixed(0));
      console.log(`${name}: RSS of the members ${rss.join(' / ')} MiB`);
      return rows;
    } finally {
      await adapter.close();
    }
  } finally {
    await cluster.stop();
  }
}

function printTable(rows: Row[]): void {
  const head = ['system', 'workload', 'ops/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'client CPU µs/op', 'server CPU µs/op', 'other CPU %'];
  const lines = rows.map(({ system, workload, r }) => [
    system,
    workload,
    r.opsPerSec.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    r.p999Ms.toFixed(2),
    r.clientCpuUsPerOp.toFixed(0),
    r.serverCpuUsPerOp.toFixed(0),
    r.otherCpuPct.toFixed(1),
  ]);
  const widths = head.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c]!.length)));
  for (const l of [head, ...lines]) console.log(l.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

async function main(): Promise<void> {
  for (const bin of ['/usr/bin/etcd', '/usr/share/java/zookeeper.jar', '/usr/bin/java']) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/bench-peers-setup.sh first`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'conclave-bench-peers-'));
  let keep = process.argv.includes('--keep');
  try {
    const rows = [
      ...(await benchSystem('etcd', () => startEtcdCluster({ dir }), async (e) => new EtcdAdapter([e]))),
      ...(await benchSystem('zookeeper', () => startZooKeeperCluster({ dir }), (e) => ZooKeeperAdapter.connect([e]))),
    ];
    printTable(rows);
    // An error or a stalled op is worth a look at the members' logs.
    keep ||= rows.some(({ r }) => r.errors > 0 || r.maxMs > 1000);
  } catch (err) {
    keep = true;
    throw err;
  } finally {
    if (keep) console.log(`data and member logs kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
