/** Closed-loop load: `concurrency` workers each issue one op at a time, back to back. */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Latencies } from './histogram.js';
import { machineBusySeconds, processCpuSeconds } from './proc.js';

export interface ClosedLoopOptions {
  concurrency: number;
  /** Stop issuing new ops after this long, or after `ops` ops, whichever comes first. */
  durationMs?: number;
  ops?: number;
  /** The operation; `i` counts issued ops from 0. */
  op: (i: number) => Promise<unknown>;
  /** Server processes whose CPU is charged per op. */
  serverPids?: number[];
  /** Give up after this many failed ops (default 100). */
  maxErrors?: number;
}

export interface RunResult {
  ops: number;
  errors: number;
  firstError?: unknown;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  clientCpuUsPerOp: number;
  serverCpuUsPerOp: number;
  /** Share of the machine's CPU used by other processes meanwhile; a noisy run if this is high. */
  otherCpuPct: number;
}

export async function runClosedLoop(o: ClosedLoopOptions): Promise<RunResult> {
  if (o.durationMs === undefined && o.ops === undefined) throw new Error('runClosedLoop: give durationMs or ops');
  const pids = o.serverPids ?? [];
  const maxErrors = o.maxErrors ?? 100;
  const lat = new Latencies();
  let issued = 0;
  let errors = 0;
  let firstError: unknown;

  const serverCpu = () => pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
  const client0 = process.cpuUsage();
  const server0 = serverCpu();
  const machine0 = machineBusySeconds();
  const t0 = performance.now();
  const deadline = o.durationMs === undefined ? Infinity : t0 + o.durationMs;
  const more = () => issued < (o.ops ?? Infinity) && errors < maxErrors && performance.now() < deadline;

  const worker = async () => {
    while (more()) {
      const i = issued++;
      const start = performance.now();
      try {
        await o.op(i);
        lat.record(performance.now() - start);
      } catch (err) {
        errors++;
        firstError ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));

  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(client0);
  const clientCpu = (c.user + c.system) / 1e6;
  const server = serverCpu() - server0;
  const other = machineBusySeconds() - machine0 - clientCpu - server;
  const n = lat.count;
  return {
    ops: n,
    errors,
    firstError,
    seconds,
    opsPerSec: n / seconds,
    p50Ms: lat.percentile(50),
    p99Ms: lat.percentile(99),
    p999Ms: lat.percentile(99.9),
    maxMs: lat.percentile(100),
    clientCpuUsPerOp: (clientCpu * 1e6) / n,
    serverCpuUsPerOp: (server * 1e6) / n,
    otherCpuPct: Math.max(0, (100 * other) / (seconds * availableParallelism())),
  };
}
