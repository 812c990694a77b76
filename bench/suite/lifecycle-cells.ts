/** `load` (N new nodes, then RSS and bytes on disk) and `start` (cold start, restart with N nodes). */
import type { Adapter } from '../load/adapter.js';
import { diskUsage } from '../load/disk.js';
import { machineBusySeconds, processCpuSeconds, rssBytes } from '../load/proc.js';
import { runClosedLoop } from '../load/run.js';
import { scrapeStalls } from '../load/stall.js';
import { availableParallelism } from 'node:os';
import type { Sample } from './samples.js';
import type { StartedCluster, SystemDef } from './systems.js';

const MiB = 2 ** 20;
const PARENT = 'bench/load';
export const loadKey = (i: number) => `${PARENT}/${String(i).padStart(8, '0')}`;

/** Creates nodes [from, to) with 64 in flight. */
export async function createNodes(leader: Adapter, value: Uint8Array, from: number, to: number, serverPids: number[]) {
  if (from === 0) await leader.put(PARENT, new Uint8Array());
  const r = await runClosedLoop({ concurrency: 64, ops: to - from, op: (i) => leader.create(loadKey(from + i), value), serverPids });
  if (r.errors > 0) throw new Error(`creating nodes ${from}..${to}: ${r.errors} errors, first: ${String(r.firstError)}`);
  return r;
}

export async function runLoad(ctx: { def: SystemDef; cluster: StartedCluster; leader: Adapter; value: Uint8Array; nodes: number; dir: string; rep: number }): Promise<Sample> {
  const ports = ctx.cluster.metricsPorts;
  if (ports) await scrapeStalls(ports);
  const r = await createNodes(ctx.leader, ctx.value, 0, ctx.nodes, ctx.cluster.pids);
  const stalls = ports ? await scrapeStalls(ports) : [];
  await new Promise((res) => setTimeout(res, 1000));
  const rss = ctx.cluster.pids.map((pid) => rssBytes(pid) / MiB);
  const disk = await diskUsage(ctx.def.dataDirs(ctx.dir));
  const values: Record<string, number> = {
    nodes: ctx.nodes,
    opsPerSec: r.opsPerSec,
    p99Ms: r.p99Ms,
    rssMiB: rss.reduce((a, b) => a + b, 0),
    rssMaxMiB: Math.max(...rss),
    diskMiB: disk.allocated / MiB,
    diskApparentMiB: disk.apparent / MiB,
    otherCpuPct: r.otherCpuPct,
  };
  if (stalls.length) values['stallMs'] = Math.max(...stalls);
  return { system: ctx.def.name, workload: 'load', rep: ctx.rep, values, attempts: 1, notes: [] };
}

/** Starts the cluster and measures what else ran on the machine meanwhile. */
export async function timedStart(def: SystemDef, dir: string): Promise<{ cluster: StartedCluster; otherCpuPct: number }> {
  const machine0 = machineBusySeconds();
  const client0 = process.cpuUsage();
  const t0 = Date.now();
  const cluster = await def.start(dir);
  const seconds = (Date.now() - t0) / 1000;
  const c = process.cpuUsage(client0);
  const servers = cluster.pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
  const other = machineBusySeconds() - machine0 - servers - (c.user + c.system) / 1e6;
  return { cluster, otherCpuPct: Math.max(0, (100 * other) / (seconds * availableParallelism())) };
}
