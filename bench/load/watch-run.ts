/**
 * Watch fan-out: one writer updates one key at a fixed rate; W persistent watchers on ⌈W/perConnection⌉
 * connections watch it. Latency = a watcher's event for version v minus the writer's ack of v (0 if
 * the event came first); a version in the run that a watcher never reported is missed.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Adapter, WatchEvent } from './adapter.js';
import { Latencies } from './histogram.js';
import { machineBusySeconds, processCpuSeconds } from './proc.js';

export interface WatchRunOptions {
  key: string;
  value: Uint8Array;
  watchers: number;
  perConnection?: number;
  ratePerSec: number;
  durationMs: number;
  /** After the last write, wait for the watchers while events still arrive: until none came for
   * `idleMs` (default 3 s), at most `drainMaxMs` (default 60 s). Later versions count as missed. */
  idleMs?: number;
  drainMaxMs?: number;
  writer: Adapter;
  connect: () => Promise<Adapter>;
  serverPids: number[];
}

export interface WatchRunResult {
  writes: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  missed: number;
  missedPct: number;
  /** Events that arrived before the writer's ack (counted with latency 0). */
  early: number;
  /** Events delivered per second, first write to last event. */
  eventsPerSec: number;
  offeredPerSec: number;
  /** Writes issued later than their slot by more than one interval (the writer could not keep up). */
  lateWrites: number;
  clientCpuUsPerEvent: number;
  serverCpuUsPerEvent: number;
  otherCpuPct: number;
  armMs: number;
  /** Watches that broke (the adapter reported an error), and the first error. */
  watchErrors: number;
  firstError?: string;
  drainMs: number;
}

export async function runWatch(o: WatchRunOptions): Promise<WatchRunResult> {
  const perConn = o.perConnection ?? 100;
  const n = Math.max(1, Math.round((o.ratePerSec * o.durationMs) / 1000));
  await o.writer.put(o.key, o.value);
  const v0 = await o.writer.version(o.key);
  if (v0 === undefined) throw new Error(`watch: ${o.key} does not exist after a put`);
  const ackAt = new Float64Array(n + 1);
  const seen = Array.from({ length: o.watchers }, () => new Uint8Array(n + 1));
  const heard = new Int32Array(o.watchers);
  const lat = new Latencies();
  let early = 0;
  let events = 0;
  let lastEventAt = 0;
  let watchErrors = 0;
  let firstError: string | undefined;
  const onError = (err: unknown) => {
    watchErrors++;
    firstError ??= String(err);
  };

  const onEvent = (w: number) => (e: WatchEvent) => {
    const k = e.version - v0;
    if (e.key !== o.key || k < 1 || k > n || seen[w]![k]) return;
    seen[w]![k] = 1;
    heard[w]!++;
    events++;
    lastEventAt = e.at;
    const ack = ackAt[k]!;
    if (ack === 0 || e.at < ack) early++;
    lat.record(ack === 0 ? 0 : Math.max(0, e.at - ack));
  };

  const armStart = performance.now();
  const conns = await Promise.all(Array.from({ length: Math.ceil(o.watchers / perConn) }, () => o.connect()));
  const cancels = await Promise.all(
    conns.map(async (a, c) => {
      const ids = Array.from({ length: Math.min(perConn, o.watchers - c * perConn) }, (_, j) => c * perConn + j);
      return Promise.all(ids.map((w) => a.watch(o.key, onEvent(w), onError)));
    }),
  );
  const armMs = performance.now() - armStart;

  const client0 = process.cpuUsage();
  const serverCpu = () => o.serverPids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
  const server0 = serverCpu();
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  const interval = 1000 / o.ratePerSec;
  let lateWrites = 0;
  for (let k = 1; k <= n; k++) {
    const slot = t0 + (k - 1) * interval;
    const wait = slot - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (-wait > interval) lateWrites++;
    await o.writer.put(o.key, o.value);
    ackAt[k] = performance.now();
  }
  const drainUntil = performance.now() + (o.drainMaxMs ?? 60_000);
  const idle = () => performance.now() - Math.max(lastEventAt, ackAt[n]!) > (o.idleMs ?? 3000);
  while (heard.some((h) => h < n) && !idle() && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  const end = performance.now();
  const drainMs = end - ackAt[n]!;

  const seconds = (end - t0) / 1000;
  const c = process.cpuUsage(client0);
  const clientCpu = (c.user + c.system) / 1e6;
  const server = serverCpu() - server0;
  const other = machineBusySeconds() - machine0 - clientCpu - server;
  for (const cancel of cancels.flat()) await cancel();
  await Promise.all(conns.map((a) => a.close()));

  const missed = o.watchers * n - events;
  return {
    writes: n,
    events,
    p50Ms: lat.percentile(50),
    p99Ms: lat.percentile(99),
    maxMs: lat.percentile(100),
    missed,
    missedPct: (100 * missed) / (o.watchers * n),
    early,
    eventsPerSec: events / Math.max(1e-9, ((lastEventAt || end) - t0) / 1000),
    offeredPerSec: o.watchers * o.ratePerSec,
    lateWrites,
    clientCpuUsPerEvent: (clientCpu * 1e6) / Math.max(1, events),
    serverCpuUsPerEvent: (server * 1e6) / Math.max(1, events),
    otherCpuPct: Math.max(0, (100 * other) / (seconds * availableParallelism())),
    armMs,
    watchErrors,
    ...(firstError === undefined ? {} : { firstError }),
    drainMs,
  };
}
