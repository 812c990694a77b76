/**
 * The checkers' shared view of a history: operations (an invoke paired with its completion) and
 * the violation they report, with the smallest window of events that shows it.
 */
import type { EventType, HistoryEvent, OpFunction, Value } from '../../model/history.js';

export interface Op {
  readonly process: number;
  readonly f: OpFunction;
  readonly key: string;
  readonly invoke: HistoryEvent;
  /** Undefined while outstanding at the end of the history (as good as `info`). */
  readonly end: HistoryEvent | undefined;
}

export type CheckerName = 'registers' | 'sets' | 'ephemerals' | 'watches' | 'locks' | 'liveness';

export interface Violation {
  readonly checker: CheckerName;
  readonly key: string;
  readonly message: string;
  /** The events that show it (a few ops), in history order. */
  readonly window: readonly HistoryEvent[];
}

export interface CheckerReport {
  readonly checker: CheckerName;
  readonly violations: Violation[];
  /** Keys (or items) checked, and those the checker could not decide (linearizability out of budget). */
  readonly checked: number;
  readonly unknown: number;
  /** Facts worth printing that are not violations (e.g. a part left unchecked, and why). */
  readonly notes: string[];
}

export function outcome(op: Op): EventType {
  return op.end?.type ?? 'info';
}

export const isOk = (op: Op): boolean => op.end?.type === 'ok';

/** When the op completed, or +Infinity if it did not (info ops may take effect at any later time). */
export function okTime(op: Op): number {
  return op.end?.type === 'ok' ? op.end.time : Infinity;
}

export function resultValue(op: Op): Value | undefined {
  return op.end?.type === 'ok' ? op.end.value : undefined;
}

/** Pairs each invoke with the next event of its process; events of `keep`-rejected keys are skipped. */
export function pairOps(events: readonly HistoryEvent[], keep: (key: string) => boolean = () => true): Op[] {
  const ops: Op[] = [];
  const open = new Map<number, { op: Op; index: number }>();
  for (const e of events) {
    if (!keep(e.key)) continue;
    if (e.type === 'invoke') {
      const op: Op = { process: e.process, f: e.f, key: e.key, invoke: e, end: undefined };
      open.set(e.process, { op, index: ops.length });
      ops.push(op);
      continue;
    }
    const pending = open.get(e.process);
    if (!pending) throw new Error(`malformed history: a ${e.type} of process ${e.process} completes nothing`);
    open.delete(e.process);
    ops[pending.index] = { ...pending.op, end: e };
  }
  return ops;
}

export function groupByKey(ops: readonly Op[]): Map<string, Op[]> {
  const byKey = new Map<string, Op[]>();
  for (const op of ops) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  return byKey;
}

/** The events of `ops`, in time order (the window of a violation). */
export function windowOf(...ops: readonly (Op | undefined)[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const op of ops) {
    if (!op) continue;
    events.push(op.invoke);
    if (op.end) events.push(op.end);
  }
  return [...new Set(events)].sort((a, b) => a.time - b.time);
}

/** Milliseconds → the history's time unit (ns). */
export const NS_PER_MS = 1_000_000;

export function report(checker: CheckerName, violations: Violation[], checked: number, unknown = 0, notes: string[] = []): CheckerReport {
  return { checker, violations, checked, unknown, notes };
}
