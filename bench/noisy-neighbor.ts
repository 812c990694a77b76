/**
 * `npm run bench:noisy [-- --quick] [--seconds N] [--flood-inflight N] [--rate-ops N] [--only SYSTEM]...`:
 * does a flood from one session hurt another session's latency (issue #12, per-session rate limits)?
 *
 * Conclave, etcd and ZooKeeper, each as a single member on 127.0.0.1 (durable defaults, as in
 * `npm run bench`), one at a time, a fresh member and data directory per phase:
 * - alone: a quiet client alternates a put of 100 B to its own key and a linearizable get of it, one
 *   at a time, every latency recorded;
 * - flood: the same, while a noisy client (its own session and connection, in a worker thread) keeps
 *   `--flood-inflight` 100 B puts to its own 1,000 keys in flight;
 * - Conclave once more with the flood and `--session-rate-ops <rate-ops>` on the server.
 * Each phase: a warm-up (2 s; 1 s with --quick), then `--seconds` counted (20; 5 with --quick).
 * Prints a Markdown table and the ratios; JSON goes to bench/results/noisy-*.json. Not a test.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FloodResult } from './load/flood-worker.js';
import { Flood, runQuiet, scrapeThrottled, type QuietResult } from './load/noisy-run.js';
import { machineBusySeconds, processCpuSeconds } from './load/proc.js';
import { startConclaveCluster } from './peers/conclave-cluster.js';
import { startEtcdCluster } from './peers/etcd-cluster.js';
import { startZooKeeperCluster } from './peers/zookeeper-cluster.js';
import { machine } from './suite/machine.js';
import { SYSTEM_NAMES, missingBinaries, systemDef, type StartedCluster, type SystemName } from './suite/systems.js';

const ROOT = join(import.meta.dirname, '../..');
const VALUE_BYTES = 100;
const NOISY_KEYS = 1000;
const QUIET_KEY = 'quiet/k';

const USAGE = 'usage: npm run bench:noisy -- [--quick] [--seconds N] [--flood-inflight N] [--rate-ops N] [--only conclave|etcd|zookeeper]...';

interface Options {
  quick: boolean;
  seconds: number;
  warmupSeconds: number;
  floodInflight: number;
  rateOps: number;
  systems: SystemName[];
}

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const nums: Record<string, number> = {};
  const only: SystemName[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') continue;
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
    if (a === '--only') {
      if (!(SYSTEM_NAMES as readonly string[]).includes(v)) throw new Error(`unknown system ${v}\n${USAGE}`);
      only.push(v as SystemName);
    } else if (a === '--seconds' || a === '--flood-inflight' || a === '--rate-ops') {
      const n = Number(v);
      if (!(n > 0) || (a !== '--seconds' && !Number.isSafeInteger(n))) throw new Error(`${a} needs a positive number\n${USAGE}`);
      nums[a] = n;
    } else throw new Error(`unknown flag ${a}\n${USAGE}`);
  }
  return {
    quick,
    seconds: nums['--seconds'] ?? (quick ? 5 : 20),
    warmupSeconds: quick ? 1 : 2,
    floodInflight: nums['--flood-inflight'] ?? 256,
    rateOps: nums['--rate-ops'] ?? 1000,
    systems: only.length > 0 ? only : [...SYSTEM_NAMES],
  };
}

interface Phase {
  id: 'alone' | 'flood' | 'flood-limited';
  label: string;
  flood: boolean;
  serverArgs: string[];
}

function phases(system: SystemName, opts: Options): Phase[] {
  const list: Phase[] = [
    { id: 'alone', label: 'quiet alone', flood: false, serverArgs: [] },
    { id: 'flood', label: `quiet + flood (${opts.floodInflight} in flight)${system === 'conclave' ? ', no rate limit' : ''}`, flood: true, serverArgs: [] },
  ];
  if (system === 'conclave') {
    list.push({ id: 'flood-limited', label: `quiet + flood, --session-rate-ops ${opts.rateOps}`, flood: true, serverArgs: ['--session-rate-ops', String(opts.rateOps)] });
  }
  return list;
}

/** One member; ports apart from `npm run bench`'s clusters so the two can share a machine. */
function startSingle(system: SystemName, dir: string, serverArgs: string[]): Promise<StartedCluster> {
  switch (system) {
    case 'conclave':
      return startConclaveCluster({ dir, size: 1, basePort: 24480, serverArgs });
    case 'etcd':
      return startEtcdCluster({ dir, size: 1, basePort: 23990 });
    case 'zookeeper':
      return startZooKeeperCluster({ dir, size: 1, basePort: 22010 });
  }
}

interface Row {
  system: SystemName;
  phase: Phase['id'];
  label: string;
  quiet: QuietResult;
  noisy?: FloodResult;
  /** Conclave: requests refused with RATE_LIMITED during the counted window, per second. */
  throttledPerSec?: number;
  /** The member's CPU during the counted window, in % of one core. */
  serverCpuPct: number;
  /** Share of the machine's CPU used by processes other than the member and this harness. */
  otherCpuPct: number;
}

async function runPhase(system: SystemName, phase: Phase, opts: Options, root: string, log: (line: string) => void): Promise<Row> {
  const def = systemDef(system, {});
  const dir = join(root, `${system}-${phase.id}`);
  const cluster = await startSingle(system, dir, phase.serverArgs);
  const value = new Uint8Array(VALUE_BYTES).fill(0x71);
  try {
    const quiet = await def.connect(cluster.endpoints);
    let flood: Flood | undefined;
    try {
      if (phase.flood) {
        flood = await Flood.start({ system, endpoints: cluster.endpoints, inflight: opts.floodInflight, keys: NOISY_KEYS, valueBytes: VALUE_BYTES });
        flood.go();
      }
      await runQuiet(quiet, QUIET_KEY, value, opts.warmupSeconds * 1000);
      const metricsPort = cluster.metricsPorts?.[0];
      const throttled0 = metricsPort === undefined ? NaN : await scrapeThrottled(metricsPort);
      const serverCpu = () => cluster.pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
      const [own0, server0, machine0] = [process.cpuUsage(), serverCpu(), machineBusySeconds()];
      flood?.mark();
      const q = await runQuiet(quiet, QUIET_KEY, value, opts.seconds * 1000);
      const noisy = await flood?.stop();
      flood = undefined;
      const own = process.cpuUsage(own0);
      const server = serverCpu() - server0;
      const other = machineBusySeconds() - machine0 - (own.user + own.system) / 1e6 - server;
      const throttled = metricsPort === undefined ? NaN : await scrapeThrottled(metricsPort);
      const row: Row = {
        system,
        phase: phase.id,
        label: phase.label,
        quiet: q,
        ...(noisy ? { noisy } : {}),
        ...(metricsPort === undefined ? {} : { throttledPerSec: (throttled - throttled0) / q.seconds }),
        serverCpuPct: (100 * server) / q.seconds,
        otherCpuPct: Math.max(0, (100 * other) / (q.seconds * availableParallelism())),
      };
      log(`  ${system} ${phase.label}: quiet p50 ${ms(q.p50Ms)} p99 ${ms(q.p99Ms)} max ${ms(q.maxMs)} ms, ${q.opsPerSec.toFixed(0)} ops/s${noisy ? `; noisy ${noisy.opsPerSec.toFixed(0)} ops/s` : ''}${row.throttledPerSec ? `; ${row.throttledPerSec.toFixed(0)} refused/s` : ''}; member CPU ${row.serverCpuPct.toFixed(0)} %, other CPU ${row.otherCpuPct.toFixed(0)} %`);
      if (q.errors > 0) log(`  ${system} ${phase.id}: quiet client had ${q.errors} errors, first: ${q.firstError}`);
      if (noisy && noisy.errors > 0) log(`  ${system} ${phase.id}: noisy client had ${noisy.errors} errors, first: ${noisy.firstError}`);
      return row;
    } finally {
      await flood?.stop().catch(() => undefined);
      await quiet.close();
    }
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

function renderTable(rows: Row[]): string {
  const lines = [
    '| system | phase | quiet p50 ms | quiet p99 ms | quiet max ms | quiet ops/s | noisy ops/s | refused (RATE_LIMITED)/s | member CPU | other CPU |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const q = r.quiet;
    lines.push(`| ${r.system} | ${r.label} | ${ms(q.p50Ms)} | ${ms(q.p99Ms)} | ${ms(q.maxMs)} | ${int(q.opsPerSec)} | ${r.noisy ? int(r.noisy.opsPerSec) : '–'} | ${r.throttledPerSec === undefined ? '–' : int(r.throttledPerSec)} | ${r.serverCpuPct.toFixed(0)} % | ${r.otherCpuPct.toFixed(0)} % |`);
  }
  return lines.join('\n');
}

function renderRatios(rows: Row[], opts: Options): string {
  const p99 = (system: SystemName, phase: Phase['id']) => rows.find((r) => r.system === system && r.phase === phase)?.quiet.p99Ms;
  const lines: string[] = [];
  for (const system of opts.systems) {
    const alone = p99(system, 'alone');
    if (alone === undefined) continue;
    const parts = [];
    const flood = p99(system, 'flood');
    if (flood !== undefined) parts.push(`${ratio(flood, alone)}${system === 'conclave' ? ' without a rate limit' : ''}`);
    const limited = p99(system, 'flood-limited');
    if (limited !== undefined) parts.push(`${ratio(limited, alone)} with --session-rate-ops ${opts.rateOps}`);
    if (parts.length > 0) lines.push(`- ${system}: quiet p99 with the flood ÷ quiet p99 alone: ${parts.join('; ')}`);
  }
  const limited = p99('conclave', 'flood-limited');
  if (limited !== undefined) {
    for (const peer of ['etcd', 'zookeeper'] as const) {
      const theirs = p99(peer, 'flood');
      if (theirs !== undefined) lines.push(`- Conclave with --session-rate-ops ${opts.rateOps}, quiet p99 under the flood ÷ ${peer}'s quiet p99 under its flood: ${ratio(limited, theirs)}`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const command = `npm run bench:noisy${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  const systems = opts.systems.filter((s) => {
    const missing = missingBinaries(systemDef(s, {}));
    if (missing.length > 0) console.error(`skipping ${s}: ${missing.join(', ')} missing; install with: ${s === 'conclave' ? 'npm run build' : 'bash scripts/bench-peers-setup.sh'}`);
    return missing.length === 0;
  });
  const root = await mkdtemp(join(tmpdir(), 'conclave-noisy-'));
  const started = Date.now();
  console.log(`${command}: ${systems.join(', ')}; ${opts.warmupSeconds} s warm-up + ${opts.seconds} s per phase; data under ${root}`);
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const system of systems) {
    for (const phase of phases(system, opts)) {
      try {
        rows.push(await runPhase(system, phase, opts, root, console.log));
      } catch (err) {
        failures.push(`${system} ${phase.id}: ${String(err)}`);
        console.error(`${system} ${phase.id} failed:`, err);
      }
    }
  }
  const m = machine();
  const wallSeconds = (Date.now() - started) / 1000;
  console.log(`\n## ${command}\n\n${new Date().toISOString()}; ${m.nproc} × ${m.cpuModel}, ${m.memGiB} GiB, Node ${m.node}, Linux ${m.kernel}; single members, ${opts.seconds} s per phase; wall time ${wallSeconds.toFixed(0)} s\n`);
  console.log(`${renderTable(rows)}\n\n${renderRatios(rows, opts)}\n`);
  for (const f of failures) console.log(`FAILED: ${f}`);
  const out = join(ROOT, 'bench/results', `noisy-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(join(out, '..'), { recursive: true });
  await writeFile(out, JSON.stringify({ command, date: new Date().toISOString(), wallSeconds, machine: m, options: opts, rows, failures }, null, 2));
  console.log(`results: ${out}`);
  await rm(root, { recursive: true, force: true });
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
