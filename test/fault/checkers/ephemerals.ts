/**
 * Sessions and ephemerals (keys under /fault/eph: one node per owner session). Two rules:
 *
 * 1. Visible while provably alive. An ephemeral only disappears with its session, and a session
 *    that has ended cannot create or write any more. So the node's history must be linearizable as
 *    a register whose one `delete` (the session's end) may take effect any time after the owner's
 *    last proof of life — the invoke of its last `ok` create or heartbeat cas — or never. The
 *    owner's own end marker only says when it stopped or noticed; the expiry may come earlier.
 *    A read that misses the node, followed by a heartbeat that succeeds, is caught here; so is a
 *    stale or invented value.
 *
 * 2. Gone after the end. Once the owner stopped (closed, crashed, or saw the session lost), the
 *    leader expires the session within its timeout; a new leader restarts every deadline when it
 *    takes over. So a read that begins more than timeout + slack after both the end and the last
 *    disturbance (a fault, until the cluster recovered, or a leader change) must not see the node.
 *    Reads during a disturbance are not judged by this rule.
 */
import type { HistoryEvent } from '../../model/history.js';
import { checkLinearizable } from '../../model/linearizability.js';
import { Intervals } from '../intervals.js';
import { EPHEMERAL_PREFIX, under } from '../keys.js';
import { type CheckerReport, NS_PER_MS, type Op, type Violation, groupByKey, isOk, pairOps, report, resultValue, windowOf } from './ops.js';

export interface EphemeralCheckOptions {
  readonly sessionTimeoutMs: number;
  /** Allowance beyond the timeout: the expiry check's period, a commit, an election. */
  readonly slackMs: number;
  /** Intervals [start, end] (history time) in which deadlines may have been restarted. */
  readonly disturbances: readonly (readonly [number, number])[];
  readonly timeBudgetMs: number;
}

export function checkEphemerals(events: readonly HistoryEvent[], opts: EphemeralCheckOptions): CheckerReport {
  const ops = pairOps(events, (k) => under(EPHEMERAL_PREFIX, k));
  const byPath = groupByKey(ops);
  const violations: Violation[] = [];
  const modelEvents: HistoryEvent[] = [];
  const disturbances = new Intervals(opts.disturbances);
  let synthetic = -1;
  for (const [path, list] of byPath) {
    const end = list.find((o) => o.f === 'delete');
    const owner = list.find((o) => o.f === 'create')?.process;
    for (const op of list) if (op !== end) modelEvents.push(...completed(op));
    if (end && owner !== undefined) modelEvents.push(...sessionEnd(list, owner, end, synthetic--));
    if (end) violations.push(...outlived(path, list, end, opts, disturbances));
  }
  // Rule 1, all paths at once (the checker splits by key); the events need only be ordered per process.
  const result = checkLinearizable(modelEvents, { timeBudgetMs: opts.timeBudgetMs });
  for (const k of result.keys) {
    if (k.verdict === 'illegal') violations.push({ checker: 'ephemerals', key: k.key, message: `not consistent with an ephemeral that lives until its session ends: ${k.explanation ?? ''}`, window: k.window ?? [] });
  }
  const unknown = result.keys.filter((k) => k.verdict === 'unknown').length;
  return report('ephemerals', violations, byPath.size, unknown, unknown > 0 ? [`${unknown} ephemeral paths undecided within the time budget`] : []);
}

/** The op's events, with an `info` completion if the history ended while it was outstanding. */
function completed(op: Op): HistoryEvent[] {
  return [op.invoke, op.end ?? { ...op.invoke, type: 'info', value: op.f === 'read' ? null : op.invoke.value }];
}

/**
 * The session's end as a delete by its own (synthetic) process, invoked at the owner's last proof
 * of life and completed `info` when the owner stopped: it may land anywhere after, or never.
 */
function sessionEnd(list: readonly Op[], owner: number, end: Op, process: number): HistoryEvent[] {
  const proofs = list.filter((o) => o.process === owner && (o.f === 'create' || o.f === 'cas') && isOk(o) && o.invoke.time <= end.invoke.time);
  const from = proofs.length > 0 ? Math.max(...proofs.map((o) => o.invoke.time)) : (list.find((o) => o.f === 'create')?.invoke.time ?? end.invoke.time);
  const base = { process, f: 'delete' as const, key: end.key, value: null };
  return [
    { ...base, type: 'invoke', time: from },
    { ...base, type: 'info', time: end.invoke.time },
  ];
}

function outlived(path: string, list: readonly Op[], end: Op, opts: EphemeralCheckOptions, disturbances: Intervals): Violation[] {
  const allowed = (opts.sessionTimeoutMs + opts.slackMs) * NS_PER_MS;
  const out: Violation[] = [];
  for (const r of list) {
    if (r.f !== 'read' || !isOk(r) || resultValue(r) === null) continue;
    const start = r.invoke.time;
    // Not judged after no end, nor during a disturbance (deadlines may have been restarted).
    if (start <= end.invoke.time || disturbances.contains(start)) continue;
    const base = Math.max(end.invoke.time, disturbances.lastEndBefore(start) ?? 0);
    if (start - base > allowed) {
      const lateMs = Math.round((start - base) / NS_PER_MS);
      out.push({ checker: 'ephemerals', key: path, message: `read ${lateMs} ms after the session ended (and the cluster was last disturbed) still sees the ephemeral; expiry is due within ${opts.sessionTimeoutMs} + ${opts.slackMs} ms`, window: windowOf(end, r) });
      break;
    }
  }
  return out;
}
