/**
 * A 3-member etcd cluster on 127.0.0.1 from Debian's etcd-server, with etcd's durable defaults (fsync
 * on every commit). Client ports basePort+i (default 23790..23792), peer ports basePort+10+i.
 * Restarting on an existing `dir` reuses the members' data (etcd then ignores the --initial-* flags).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterOptions, PeerCluster } from './cluster.js';
import { exitedEarly, spawnMember, stopMembers, waitFor } from './process.js';

const ETCD = '/usr/bin/etcd';
const SIZE = 3;

export async function startEtcdCluster(opts: ClusterOptions): Promise<PeerCluster> {
  const base = opts.basePort ?? 23790;
  const members = Array.from({ length: opts.size ?? SIZE }, (_, i) => ({
    name: `m${i + 1}`,
    client: `http://127.0.0.1:${base + i}`,
    peer: `http://127.0.0.1:${base + 10 + i}`,
    dataDir: join(opts.dir, `etcd-${i + 1}`),
    log: join(opts.dir, `etcd-${i + 1}.log`),
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(',');
  await mkdir(opts.dir, { recursive: true });
  const started = Date.now();
  const children = members.map((m) =>
    spawnMember(ETCD, [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.client}`,
      `--advertise-client-urls=${m.client}`,
      `--listen-peer-urls=${m.peer}`,
      `--initial-advertise-peer-urls=${m.peer}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=conclave-bench',
      '--logger=zap',
      '--log-outputs=stderr',
    ], m.log),
  );
  // A stopping leader spends 7 s trying to hand over to members that are stopping too; all it has
  // acknowledged is fsync'd already, so it is killed after a short grace.
  const stop = () => stopMembers(children, 2000);
  const urls = members.map((m) => m.client);
  try {
    // A put and a linearizable range through the first member need a leader and a committed entry.
    await waitFor('etcd cluster', opts.timeoutMs ?? 30_000, async () => {
      await call(urls[0]!, '/v3/kv/put', { key: b64('bench-ready'), value: b64('1') });
      await call(urls[0]!, '/v3/kv/range', { key: b64('bench-ready') });
      return true;
    }, () => exitedEarly(children, members.map((m) => m.log)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints: members.map((_, i) => `127.0.0.1:${base + i}`),
    pids: children.map((c) => c.pid!),
    readyMs: Date.now() - started,
    leaderIndex: () => etcdLeaderIndex(urls),
    stop,
  };
}

interface StatusResponse {
  header: { member_id: string };
  leader: string;
}

async function etcdLeaderIndex(urls: string[]): Promise<number> {
  const statuses = await Promise.all(urls.map((u) => call(u, '/v3/maintenance/status', {}) as Promise<StatusResponse>));
  const i = statuses.findIndex((s) => s.header.member_id === s.leader);
  if (i < 0) throw new Error('etcd: no member reports itself as leader');
  return i;
}

/** etcd's JSON gateway (uint64 fields come back as strings, bytes as base64). */
async function call(url: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(url + path, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
