/**
 * A 3-member Conclave cluster on 127.0.0.1 from this checkout (`dist/src/cli/main.js server`), with the
 * server's durable defaults. Client ports basePort+i (default 24180..24182), peer basePort+10+i,
 * metrics basePort+100+i. Restarting on an existing `dir` reuses the members' data.
 * `cpuProfDir` (or CONCLAVE_BENCH_CPU_PROF) starts every member under `node --cpu-prof`; the profile
 * (CPU.*.<pid>.*.cpuprofile) is written when the member exits. `serverArgs` are added to every
 * member's `conclave server` flags (e.g. --session-rate-ops).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, ErrorCode, isConclaveError } from '../../src/index.js';
import type { ClusterOptions, PeerCluster } from './cluster.js';
import { exitedEarly, spawnMember, stopMembers, waitFor } from './process.js';

const CLI = join(import.meta.dirname, '../../src/cli/main.js');
const SIZE = 3;

export interface ConclaveClusterOptions extends ClusterOptions {
  tickMs?: number;
  cpuProfDir?: string;
  serverArgs?: string[];
}

export interface ConclaveCluster extends PeerCluster {
  metricsPorts: number[];
}

export const conclaveDataDirs = (dir: string, size = SIZE): string[] => Array.from({ length: size }, (_, i) => join(dir, `conclave-${i + 1}`));

export async function startConclaveCluster(opts: ConclaveClusterOptions): Promise<ConclaveCluster> {
  const base = opts.basePort ?? 24180;
  const dataDirs = conclaveDataDirs(opts.dir, opts.size);
  const members = dataDirs.map((dataDir, i) => ({
    id: i + 1,
    client: `127.0.0.1:${base + i}`,
    peer: `127.0.0.1:${base + 10 + i}`,
    metricsPort: base + 100 + i,
    dataDir,
    log: join(opts.dir, `conclave-${i + 1}.log`),
  }));
  const membersArg = members.map((m) => `${m.id}=${m.peer}/${m.client}`).join(',');
  const profDir = opts.cpuProfDir ?? process.env['CONCLAVE_BENCH_CPU_PROF'];
  const nodeFlags = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  await mkdir(opts.dir, { recursive: true });
  const started = Date.now();
  const children = members.map((m) =>
    spawnMember(process.execPath, [
      ...nodeFlags,
      CLI, 'server',
      '--id', String(m.id),
      '--data', m.dataDir,
      '--listen', m.client,
      '--peer-listen', m.peer,
      '--metrics-listen', `127.0.0.1:${m.metricsPort}`,
      '--members', membersArg,
      '--tick-ms', String(opts.tickMs ?? 100),
      ...(opts.serverArgs ?? []),
    ], m.log),
  );
  const stop = () => stopMembers(children);
  const endpoints = members.map((m) => m.client);
  try {
    // /readyz on some member first (cheap to poll), then a session and a write through the SDK.
    await waitFor('conclave cluster', opts.timeoutMs ?? 30_000, async () => {
      const ready = await Promise.all(members.map((m) => readyz(m.metricsPort)));
      if (!ready.includes(true)) return undefined;
      const client = await Client.connect({ endpoints, connectTimeoutMs: 2000, requestTimeoutMs: 2000 });
      try {
        await client.set('/bench-ready', 'ready').catch(async (err: unknown) => {
          if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
          await client.create('/bench-ready', 'ready');
        });
      } finally {
        await client.close();
      }
      return true;
    }, () => exitedEarly(children, members.map((m) => m.log)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    endpoints,
    pids: children.map((c) => c.pid!),
    readyMs: Date.now() - started,
    metricsPorts: members.map((m) => m.metricsPort),
    leaderIndex: () => leaderIndex(endpoints),
    stop,
  };
}

async function readyz(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** From the member list (not /metrics: a scrape resets the event-loop stall gauge). */
async function leaderIndex(endpoints: string[]): Promise<number> {
  const client = await Client.connect({ endpoints, connectTimeoutMs: 5000 });
  try {
    const list = await client.members();
    const leader = list.members.find((m) => m.id === list.leader);
    const i = leader ? endpoints.indexOf(leader.clientAddress) : -1;
    if (i < 0) throw new Error(`conclave: no leader in the member list (leader ${list.leader})`);
    return i;
  } finally {
    await client.close();
  }
}
