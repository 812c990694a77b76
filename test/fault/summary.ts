/**
 * The end-of-run summary: operations by workload and outcome, faults injected, availability (the
 * share of operations that succeeded) during faults and outside them, and every checker's verdict
 * with the violations' windows. Pure: computed from the recorded history and fault log.
 */
import type { EventType, HistoryEvent } from '../model/history.js';
import type { CheckerReport, Violation } from './checkers/index.js';
import { Intervals } from './intervals.js';
import { EPHEMERAL_PREFIX, FENCE_KEY, LOCK_KEY, REGISTER_PREFIX, SEQUENCE_PREFIX, SET_PREFIX, WATCH_PREFIX, under } from './keys.js';
import type { LeaderChange } from './leader-monitor.js';
import { type FaultRecord, firstLine } from './nemesis/nemesis.js';

export type Outcomes = Record<Exclude<EventType, 'invoke'> | 'total', number>;

export interface RunSummary {
  readonly ops: Record<string, Outcomes>;
  readonly watchEventsDelivered: number;
  readonly faults: Record<string, number>;
  /** During a fault (until the cluster recovered), in the quiet gaps between faults, and after the last one. */
  readonly availability: { readonly duringFaults: Share; readonly betweenFaults: Share; readonly afterFaults: Share };
  readonly leaderChanges: number;
  readonly violations: number;
  readonly unknown: number;
}

export interface Share {
  /** Ops that succeeded. */
  readonly ok: number;
  /** Ops with a definite answer (ok, or fail: refused or failed without effect). */
  readonly answered: number;
  readonly total: number;
}

export function workloadOf(key: string): string {
  if (under(REGISTER_PREFIX, key)) return 'registers';
  if (under(SET_PREFIX, key) || under(SEQUENCE_PREFIX, key)) return 'sets';
  if (under(EPHEMERAL_PREFIX, key)) return 'ephemerals';
  if (key === WATCH_PREFIX || under(WATCH_PREFIX, key)) return 'watches';
  if (key === LOCK_KEY || key === FENCE_KEY) return 'locks';
  return 'other';
}

function isDelivery(e: HistoryEvent): boolean {
  return e.f === 'read' && Array.isArray(e.value) && under(WATCH_PREFIX, e.key);
}

/**
 * `trafficNs`: the span in which the workloads ran (availability is measured there, not over the
 * final reads that are retried until they succeed).
 */
export function summarize(events: readonly HistoryEvent[], faults: readonly FaultRecord[], leaderChanges: readonly LeaderChange[], reports: readonly CheckerReport[], trafficNs: readonly [number, number]): RunSummary {
  const ops: Record<string, Outcomes> = {};
  const invokedAt = new Map<number, HistoryEvent>();
  const during = { ok: 0, answered: 0, total: 0 };
  const between = { ok: 0, answered: 0, total: 0 };
  const after = { ok: 0, answered: 0, total: 0 };
  const lastFaultEnd = Math.max(-Infinity, ...faults.map((f) => f.recoveredNs));
  let deliveries = 0;
  const windows = new Intervals(faults.map((f) => [f.startNs, f.recoveredNs] as const));
  for (const e of events) {
    if (e.type === 'invoke') {
      invokedAt.set(e.process, e);
      continue;
    }
    const invoke = invokedAt.get(e.process);
    invokedAt.delete(e.process);
    if (isDelivery(e)) {
      deliveries++;
      continue;
    }
    const w = workloadOf(e.key);
    const o = (ops[w] ??= { total: 0, ok: 0, fail: 0, info: 0 });
    o[e.type]++;
    o.total++;
    if (!invoke || invoke.time < trafficNs[0] || invoke.time > trafficNs[1]) continue;
    const share = windows.contains(invoke.time) ? during : invoke.time > lastFaultEnd ? after : between;
    share.total++;
    if (e.type === 'ok') share.ok++;
    if (e.type !== 'info') share.answered++;
  }
  const kinds: Record<string, number> = {};
  for (const f of faults) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
  return {
    ops,
    watchEventsDelivered: deliveries,
    faults: kinds,
    availability: { duringFaults: during, betweenFaults: between, afterFaults: after },
    leaderChanges: leaderChanges.length,
    violations: reports.reduce((n, r) => n + r.violations.length, 0),
    unknown: reports.reduce((n, r) => n + r.unknown, 0),
  };
}

/** Violations printed with their windows, and listed at all. */
const DETAILED_VIOLATIONS = 5;
const LISTED_VIOLATIONS = 30;

const pct = (s: Share): string => (s.total === 0 ? 'n/a' : `${((100 * s.ok) / s.total).toFixed(1)}% of ${s.total} ops (${((100 * s.answered) / s.total).toFixed(1)}% answered)`);
const secs = (ns: number): string => `${(ns / 1e9).toFixed(1)} s`;

export interface ReportHeader {
  readonly seed: number;
  readonly nodes: number;
  readonly elapsedNs: number;
  readonly historyPath: string;
  /** The command that replays this run's schedule. */
  readonly replay: string;
}

export function formatReport(header: ReportHeader, summary: RunSummary, faults: readonly FaultRecord[], reports: readonly CheckerReport[]): string {
  const lines: string[] = [];
  lines.push(`fault run: seed ${header.seed}, ${header.nodes} nodes, ${secs(header.elapsedNs)}; history ${header.historyPath}`);
  lines.push(`faults injected (${faults.length}): ${Object.entries(summary.faults).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const [i, f] of faults.entries()) {
    const what = f.error ? `NOT CARRIED OUT: ${firstLine(f.error)}` : f.detail;
    lines.push(`  ${String(i + 1).padStart(3)}. at ${secs(f.startNs)}: ${f.kind}: ${what}; recovered ${secs(f.recoveredNs - f.healedNs)} after healing${f.livenessFailure ? ' — LIVENESS FAILURE' : ''}${f.slowRecovery ? ` (${f.slowRecovery})` : ''}`);
  }
  lines.push('operations by outcome:');
  for (const [w, o] of Object.entries(summary.ops).sort()) lines.push(`  ${w.padEnd(11)} ${o.total} ops: ${o.ok} ok, ${o.fail} fail, ${o.info} info`);
  lines.push(`  watch events delivered: ${summary.watchEventsDelivered}; leader changes seen: ${summary.leaderChanges}`);
  const a = summary.availability;
  lines.push(`availability (share of ops that succeeded; answered = ok or a definite failure, such as a cas that found another value):`);
  lines.push(`  during faults ${pct(a.duringFaults)}; between faults ${pct(a.betweenFaults)}; after the last fault ${pct(a.afterFaults)}`);
  lines.push('checkers:');
  for (const r of reports) {
    const verdict = r.violations.length > 0 ? `${r.violations.length} VIOLATION(S)` : 'ok';
    lines.push(`  ${r.checker.padEnd(11)} ${verdict} (${r.checked} checked${r.unknown > 0 ? `, ${r.unknown} unknown: out of search budget` : ''})`);
    for (const n of r.notes) lines.push(`    note: ${n}`);
  }
  lines.push(`violations: ${summary.violations}${summary.unknown > 0 ? `; unknown: ${summary.unknown}` : ''}`);
  const all = reports.flatMap((r) => r.violations);
  for (const v of all.slice(0, DETAILED_VIOLATIONS)) lines.push(...formatViolation(v));
  for (const v of all.slice(DETAILED_VIOLATIONS, LISTED_VIOLATIONS)) lines.push(`VIOLATION [${v.checker}] ${v.key}: ${v.message.split('\n')[0] ?? ''}`);
  if (all.length > LISTED_VIOLATIONS) lines.push(`… and ${all.length - LISTED_VIOLATIONS} more`);
  if (summary.violations > 0) lines.push(`replay this schedule: ${header.replay}`);
  return lines.join('\n');
}

function formatViolation(v: Violation): string[] {
  return [`VIOLATION [${v.checker}] ${v.key}: ${v.message}`, `  smallest failing window (${v.window.length} events):`, ...v.window.map((e) => `    ${JSON.stringify(e)}`)];
}
