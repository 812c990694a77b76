/**
 * One fault run: start a cluster behind the proxy mesh, run every workload through the SDK while
 * the nemesis injects faults from the seeded schedule, stop, read the final state, then check the
 * recorded history. The history streams to `<run dir>/history.jsonl` as it is recorded; member logs,
 * the fault log and the report land beside it.
 */
import { setMaxListeners } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '../../src/client/index.js';
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import { SeededRng } from '../../src/common/rng.js';
import { type HistoryEvent, HistoryRecorder, toJsonLines } from '../model/history.js';
import { type CheckerReport, type Violation, checkAll } from './checkers/index.js';
import { FaultCluster } from './fault-cluster.js';
import { BURST_PREFIX, EPHEMERAL_PREFIX, FAULT_ROOT, REGISTER_PREFIX, SEQUENCE_PREFIX, SET_PREFIX, WATCH_PREFIX } from './keys.js';
import { type LeaderChange, LeaderMonitor } from './leader-monitor.js';
import type { NemesisContext } from './nemesis/faults.js';
import { type FaultRecord, runNemesis } from './nemesis/nemesis.js';
import { FAULT_KINDS, type FaultKind, type ScheduleTiming, faultSchedule } from './nemesis/schedule.js';
import { type RunSummary, formatReport, summarize } from './summary.js';
import { ClientPool, type WorkloadContext, thinkTime } from './workloads/context.js';
import { RunningWorkloads, WORKLOADS, type WorkloadName } from './workloads/index.js';

export { WORKLOADS, type WorkloadName };

export interface FaultRunOptions {
  readonly seed: number;
  readonly nodes: number;
  /** Stop starting faults after this long… */
  readonly durationMs?: number;
  /** …or after this many full rounds of the schedule (each covers every kind once). */
  readonly rounds?: number;
  readonly kinds?: readonly FaultKind[];
  readonly workloads?: readonly WorkloadName[];
  /** Where the run's directory is made. */
  readonly outDir: string;
  /** CONCLAVE_FAULT_UNSAFE for the servers: a deliberately broken build. */
  readonly unsafe?: string;
  readonly checkBudgetMs?: number;
  readonly log?: (line: string) => void;
}

export interface FaultRunResult {
  readonly seed: number;
  readonly runDir: string;
  readonly historyPath: string;
  readonly faults: readonly FaultRecord[];
  readonly reports: readonly CheckerReport[];
  readonly violations: readonly Violation[];
  readonly summary: RunSummary;
  /** The printed report: summary, fault schedule, violations with their windows. */
  readonly report: string;
}

/** Timing shared by the servers, the workloads, the nemesis and the checkers. */
export const TIMING = {
  tickMs: 20,
  /** Election timeout 0.5–1 s. */
  electionTicks: 25,
  sessionTimeoutMs: 1500,
  watcherSessionTimeoutMs: 10_000,
  requestTimeoutMs: 4000,
  pinnedReadTimeoutMs: 1000,
  snapshotEvery: 500,
  schedule: { holdMs: [1500, 2500], pauseMs: [2000, 2600], downMs: [800, 1500] } satisfies ScheduleTiming,
  faultGapMs: 500,
  recoveryTimeoutMs: 45_000,
  stepTimeoutMs: 30_000,
  /** Traffic goes on this long after the last fault, to measure availability without faults. */
  quietAfterFaultsMs: 3000,
  /** Past a session's end and the last disturbance, its ephemerals must be gone within the timeout plus this. */
  expirySlackMs: 3000,
  finishDeadlineMs: 60_000,
} as const;

export async function runFault(opts: FaultRunOptions): Promise<FaultRunResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const runDir = join(opts.outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-seed${opts.seed}-n${opts.nodes}`);
  await mkdir(runDir, { recursive: true });
  const historyPath = join(runDir, 'history.jsonl');
  const historyFile = createWriteStream(historyPath);
  const t0 = process.hrtime.bigint();
  const now = (): number => Number(process.hrtime.bigint() - t0);
  const recorder = new HistoryRecorder(now, (e) => historyFile.write(toJsonLines([e])));
  const rng = new SeededRng(opts.seed);
  const proxyRng = rng.fork();
  const workloads = new Set(opts.workloads ?? WORKLOADS);
  log(`fault run: seed ${opts.seed}, ${opts.nodes} nodes, faults ${opts.rounds !== undefined ? `for ${opts.rounds} round(s)` : `for ${Math.round((opts.durationMs ?? 0) / 1000)} s`}; run directory ${runDir}`);

  const cluster = await FaultCluster.start({
    nodes: opts.nodes,
    logDir: runDir,
    random: () => proxyRng.next(),
    tickMs: TIMING.tickMs,
    electionTicks: TIMING.electionTicks,
    sessionTimeoutMinMs: 500,
    snapshotEvery: TIMING.snapshotEvery,
    ...(opts.unsafe ? { unsafe: opts.unsafe } : {}),
  });
  const stop = new AbortController();
  // Every worker waits on it between operations.
  setMaxListeners(1000, stop.signal);
  const pool = new ClientPool();
  let nextProcess = 0;
  const ctx: WorkloadContext = {
    endpoints: cluster.endpoints(),
    recorder,
    rng: rng.fork(),
    stop: stop.signal,
    clients: pool,
    sessionTimeoutMs: TIMING.sessionTimeoutMs,
    requestTimeoutMs: TIMING.requestTimeoutMs,
    newProcess: () => nextProcess++,
    log,
  };
  const monitor = new LeaderMonitor(cluster, now);
  let faults: FaultRecord[] = [];
  let traffic: [number, number] = [0, 0];
  let workloadErrors: string[] = [];
  try {
    await cluster.waitHealthy(TIMING.recoveryTimeoutMs);
    await createRoots(ctx);
    monitor.start(500);
    const running = await RunningWorkloads.start(ctx, stop, workloads, {
      pinned: [...cluster.members.keys()].map((id) => ({ id, running: () => cluster.member(id).running, client: () => cluster.client(id) })),
      pinnedReadTimeoutMs: TIMING.pinnedReadTimeoutMs,
      watcherSessionTimeoutMs: TIMING.watcherSessionTimeoutMs,
      expiryAllowanceMs: TIMING.sessionTimeoutMs + TIMING.expirySlackMs,
      finishDeadlineMs: TIMING.finishDeadlineMs,
    });
    workloadErrors = running.errors;
    traffic = [now(), 0];
    const faultsUntil = performance.now() + (opts.durationMs ?? 0);
    faults = await runNemesis(nemesisContext(cluster, ctx), {
      schedule: faultSchedule(rng.fork(), TIMING.schedule, opts.kinds ?? FAULT_KINDS),
      done: (n) => (opts.rounds !== undefined ? n >= opts.rounds * (opts.kinds ?? FAULT_KINDS).length : performance.now() >= faultsUntil),
      recoveryTimeoutMs: TIMING.recoveryTimeoutMs,
      gapMs: TIMING.faultGapMs,
      now,
      log,
    });
    log(`faults over; traffic goes on for ${TIMING.quietAfterFaultsMs / 1000} s without them`);
    await thinkTime(TIMING.quietAfterFaultsMs); // measuring availability after faults
    await running.stop();
    traffic = [traffic[0], now()];
    await running.finish();
  } finally {
    stop.abort();
    monitor.stop();
    await pool.closeAll();
    await cluster.stop();
    await new Promise<void>((resolve) => historyFile.end(() => resolve()));
  }
  if (workloadErrors.length > 0) throw new Error(`a workload failed (a bug in the suite, not a finding):\n${workloadErrors.join('\n')}`);

  log(`checking ${recorder.size} events`);
  const judged = judge(recorder.events(), faults, monitor.changes, traffic, opts.checkBudgetMs ?? 30_000);
  const replay = `npm run fault -- --seed ${opts.seed} --nodes ${opts.nodes} ${opts.rounds !== undefined ? `--rounds ${opts.rounds}` : `--time ${Math.round((opts.durationMs ?? 0) / 1000)}`}${opts.kinds ? ` --faults ${opts.kinds.join(',')}` : ''}${opts.unsafe ? ` --unsafe ${opts.unsafe}` : ''}`;
  const report = formatReport({ seed: opts.seed, nodes: opts.nodes, elapsedNs: now(), historyPath, replay }, judged.summary, faults, judged.reports);
  await writeFile(join(runDir, 'faults.json'), `${JSON.stringify(faults, null, 2)}\n`);
  await writeFile(join(runDir, 'report.txt'), `${report}\n`);
  return { seed: opts.seed, runDir, historyPath, faults, ...judged, report };
}

/** Every checker over the history; fault windows and leader changes are when deadlines may restart. */
function judge(events: readonly HistoryEvent[], faults: readonly FaultRecord[], leaderChanges: readonly LeaderChange[], traffic: readonly [number, number], checkBudgetMs: number): Pick<FaultRunResult, 'reports' | 'violations' | 'summary'> {
  const disturbances: [number, number][] = [...faults.map((f) => [f.startNs, f.recoveredNs] as [number, number]), ...leaderChanges.map((c) => [c.fromNs, c.atNs] as [number, number])];
  const reports = [...checkAll(events, { timeBudgetMs: checkBudgetMs, ephemerals: { sessionTimeoutMs: TIMING.sessionTimeoutMs, slackMs: TIMING.expirySlackMs, disturbances } }), livenessReport(faults)];
  return { reports, violations: reports.flatMap((r) => r.violations), summary: summarize(events, faults, leaderChanges, reports, traffic) };
}

/** The nemesis's view of the cluster, with a client of its own for the writes that make a member lag. */
function nemesisContext(cluster: FaultCluster, ctx: WorkloadContext): NemesisContext {
  let client: Client | undefined;
  return {
    cluster,
    client: async () => {
      if (client && client.state !== 'lost') return client;
      client = await ctx.clients.connect({ endpoints: ctx.endpoints, stop: AbortSignal.timeout(TIMING.stepTimeoutMs) }, { sessionTimeoutMs: 10_000, requestTimeoutMs: TIMING.requestTimeoutMs });
      if (!client) throw new Error('the nemesis could not connect');
      return client;
    },
    stepTimeoutMs: TIMING.stepTimeoutMs,
    snapshotEvery: TIMING.snapshotEvery,
  };
}

/** The parents every workload writes under. */
async function createRoots(ctx: WorkloadContext): Promise<void> {
  const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: TIMING.stepTimeoutMs });
  if (!client) throw new Error('could not connect to create the workloads\' roots');
  for (const path of [FAULT_ROOT, REGISTER_PREFIX, SET_PREFIX, SEQUENCE_PREFIX, EPHEMERAL_PREFIX, WATCH_PREFIX, BURST_PREFIX]) {
    await client.create(path, '').catch((err: unknown) => {
      if (!isConclaveError(err, ErrorCode.NODE_EXISTS)) throw err;
    });
  }
  await ctx.clients.close(client);
}

/**
 * A cluster that did not recover after a fault within the deadline fails the run too, and so does
 * a fault the cluster would not let the nemesis carry out (a membership change that never
 * completes, a transfer refused, no leader to pick within the step's deadline).
 */
function livenessReport(faults: readonly FaultRecord[]): CheckerReport {
  const violations: Violation[] = [];
  for (const f of faults) {
    if (f.error !== undefined) violations.push({ checker: 'liveness', key: f.kind, message: `the fault could not be carried out: ${f.error}`, window: [] });
    if (f.livenessFailure !== undefined) violations.push({ checker: 'liveness', key: f.kind, message: `no recovery within ${TIMING.recoveryTimeoutMs} ms after: ${f.detail || f.error}\n${f.livenessFailure}`, window: [] });
  }
  return { checker: 'liveness', violations, checked: faults.length, unknown: 0, notes: [] };
}
