/**
 * Lock hand-off: N contenders on one lock, each looping acquire → hold for one turn of the event
 * loop → release, back to back. A hand-off's latency runs from the previous holder's release being
 * sent to the next grant (with one contender: its own release, then its own acquire). While they
 * run, a shared holder count checks mutual exclusion: a grant while someone holds is a violation.
 * The contenders run for `warmupMs` first; the window that counts is the `durationMs` after it.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Locker } from './adapter.js';
import { Latencies } from './histogram.js';
import { machineBusySeconds, processCpuSeconds } from './proc.js';

export interface LockRunOptions {
  /** Open and idle; the run does not close them. */
  contenders: Locker[];
  durationMs: number;
  warmupMs: number;
  serverPids: number[];
  /** After the window, how long the contenders still in line may take to get, and give back, the lock. */
  drainMaxMs?: number;
  /** Stop once this many acquires or releases failed (default 100). */
  maxErrors?: number;
}

export interface LockRunResult {
  /** Grants in the window that followed a release (all of them but the very first of the run). */
  handoffs: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Grants while another contender held the lock, over the whole run (warm-up and drain too). */
  violations: number;
  errors: number;
  firstError?: string;
  /** Grants in the window of the contender that got fewest (starvation shows as 0). */
  fewestGrants: number;
  clientCpuUsPerOp: number;
  serverCpuUsPerOp: number;
  otherCpuPct: number;
  /** From the window's end until every contender had left the loop (or drainMaxMs). */
  drainMs: number;
  /** Contenders still busy when the drain gave up. */
  stuck: number;
}

interface CpuMark {
  at: number;
  client: NodeJS.CpuUsage;
  server: number;
  machine: number;
}

export async function runLocks(o: LockRunOptions): Promise<LockRunResult> {
  const n = o.contenders.length;
  const maxErrors = o.maxErrors ?? 100;
  const lat = new Latencies();
  const grants = new Int32Array(n);
  let holders = 0;
  let violations = 0;
  let errors = 0;
  let firstError: string | undefined;
  /** When the last release was sent, until the next grant takes it. */
  let releasedAt: number | undefined;
  let handoffs = 0;

  const mark = (): CpuMark => ({ at: performance.now(), client: process.cpuUsage(), server: o.serverPids.reduce((s, pid) => s + processCpuSeconds(pid), 0), machine: machineBusySeconds() });
  let from: CpuMark | undefined;
  let to: CpuMark | undefined;
  const t0 = performance.now();
  const stopAt = t0 + o.warmupMs + o.durationMs;
  const timers = [setTimeout(() => (from = mark()), o.warmupMs), setTimeout(() => (to = mark()), o.warmupMs + o.durationMs)];
  const inWindow = (t: number) => from !== undefined && to === undefined && t >= from.at;
  const failed = (err: unknown) => {
    errors++;
    firstError ??= String(err);
  };

  const contender = async (i: number, l: Locker): Promise<void> => {
    while (performance.now() < stopAt && errors < maxErrors) {
      try {
        await l.acquire();
      } catch (err) {
        failed(err);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const at = performance.now();
      if (++holders > 1) violations++;
      const since = releasedAt;
      releasedAt = undefined;
      if (inWindow(at)) {
        grants[i]!++;
        if (since !== undefined) {
          handoffs++;
          lat.record(at - since);
        }
      }
      // Hold across a turn of the event loop: another grant arriving meanwhile is an overlap.
      await nextTurn();
      holders--;
      releasedAt = performance.now();
      try {
        await l.release();
      } catch (err) {
        failed(err);
      }
    }
  };

  let busy = n;
  const all = Promise.all(o.contenders.map((l, i) => contender(i, l).finally(() => busy--)));
  let giveUp: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((r) => (giveUp = setTimeout(r, o.warmupMs + o.durationMs + (o.drainMaxMs ?? 30_000))))]);
  for (const t of [...timers, giveUp]) clearTimeout(t);
  // Only if too many errors ended the run early.
  from ??= mark();
  to ??= mark();
  const drainMs = performance.now() - to.at;

  const seconds = (to.at - from.at) / 1000;
  const clientCpu = (to.client.user - from.client.user + to.client.system - from.client.system) / 1e6;
  const server = to.server - from.server;
  const other = to.machine - from.machine - clientCpu - server;
  const perOp = (cpuSeconds: number) => (handoffs === 0 ? NaN : (cpuSeconds * 1e6) / handoffs);
  return {
    handoffs,
    opsPerSec: handoffs / seconds,
    p50Ms: lat.percentile(50),
    p99Ms: lat.percentile(99),
    p999Ms: lat.percentile(99.9),
    maxMs: lat.percentile(100),
    violations,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    fewestGrants: Math.min(...grants),
    clientCpuUsPerOp: perOp(clientCpu),
    serverCpuUsPerOp: perOp(server),
    otherCpuPct: Math.max(0, (100 * other) / (seconds * availableParallelism())),
    drainMs,
    stuck: busy,
  };
}
