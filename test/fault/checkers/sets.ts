/**
 * Sets and sequential nodes (keys under /fault/set and /fault/seq: one parent each). Elements are
 * only ever added, so for each parent:
 *  - a read that began after a create was acknowledged contains it (no lost acknowledged write);
 *  - a read contains every name an earlier completed read contained (nothing vanishes);
 *  - every name read belongs to an element some create attempted, and never to one whose create
 *    definitely failed (no phantom, no failed write taking effect);
 *  - sequential parents: no element twice (a create applied twice), no counter given twice, and a
 *    create acknowledged before another began got the smaller counter (increasing in creation order).
 */
import type { HistoryEvent } from '../../model/history.js';
import { SEQUENCE_PREFIX, SET_PREFIX, under } from '../keys.js';
import { type CheckerReport, type Op, type Violation, groupByKey, isOk, okTime, outcome, pairOps, report, resultValue, windowOf } from './ops.js';

const SEQUENTIAL_NAME = /^(.+)-(\d{10})$/;

export function checkSets(events: readonly HistoryEvent[]): CheckerReport {
  const ops = pairOps(events, (k) => under(SET_PREFIX, k) || under(SEQUENCE_PREFIX, k));
  const violations: Violation[] = [];
  const notes: string[] = [];
  const byParent = groupByKey(ops);
  for (const [parent, list] of byParent) {
    const found = checkParent(parent, list, under(SEQUENCE_PREFIX, parent));
    violations.push(...found.violations);
    if (found.note) notes.push(found.note);
  }
  return report('sets', violations, byParent.size, 0, notes);
}

interface ParentResult {
  violations: Violation[];
  note?: string;
}

function checkParent(parent: string, ops: readonly Op[], sequential: boolean): ParentResult {
  const out: Violation[] = [];
  const flag = (message: string, ...window: (Op | undefined)[]): void => void out.push({ checker: 'sets', key: parent, message, window: windowOf(...window) });
  const creates = ops.filter((o) => o.f === 'create');
  const reads = ops.filter((o) => o.f === 'read' && isOk(o)).sort((a, b) => a.invoke.time - b.invoke.time);
  const elementOf = (name: string): string => (sequential ? (SEQUENTIAL_NAME.exec(name)?.[1] ?? name) : name);
  const createOf = new Map<string, Op>();
  for (const c of creates) createOf.set(String(c.invoke.value), c);

  for (const r of reads) {
    const names = (resultValue(r) as readonly string[]) ?? [];
    const present = new Set(names);
    const elements = new Map<string, string>();
    for (const name of names) {
      const element = elementOf(name);
      const c = createOf.get(element);
      if (sequential && !SEQUENTIAL_NAME.test(name)) flag(`${name} in a sequential parent has no 10-digit counter`, r);
      if (!c) flag(`read shows ${name}, but no create of ${element} was ever attempted`, r);
      else if (outcome(c) === 'fail') flag(`read shows ${name}, but the create of ${element} failed (it must not take effect)`, c, r);
      const twice = elements.get(element);
      if (twice !== undefined) flag(`element ${element} appears twice, as ${twice} and ${name}: one create applied twice`, c, r);
      elements.set(element, name);
    }
    for (const c of creates) {
      if (okTime(c) >= r.invoke.time) continue;
      const name = String(resultValue(c));
      if (!present.has(name)) flag(`create of ${name} was acknowledged before this read began, but the read does not show it (a lost write)`, c, r);
    }
  }
  // Nothing is ever removed: what one read showed, every read that began after it ended shows too.
  for (const later of reads) {
    const shown = new Set(resultValue(later) as readonly string[]);
    for (const earlier of reads) {
      if (okTime(earlier) >= later.invoke.time) continue;
      const lost = (resultValue(earlier) as readonly string[]).find((n) => !shown.has(n));
      if (lost !== undefined) {
        flag(`${lost} was read before, but a later read no longer shows it`, earlier, later);
        break;
      }
    }
  }
  if (sequential) out.push(...checkCounters(parent, creates, reads));
  const last = reads[reads.length - 1];
  const lastAck = Math.max(...creates.filter(isOk).map(okTime), -Infinity);
  const note = creates.some(isOk) && (!last || last.invoke.time < lastAck) ? `${parent}: no read after the last acknowledged create (its final read never succeeded)` : undefined;
  return note ? { violations: out, note } : { violations: out };
}

/** Sequential counters: unique, and increasing in the order creates were acknowledged and begun. */
function checkCounters(parent: string, creates: readonly Op[], reads: readonly Op[]): Violation[] {
  const out: Violation[] = [];
  const counterOf = (name: string): number => Number(SEQUENTIAL_NAME.exec(name)?.[2] ?? NaN);
  const owner = new Map<number, { name: string; op: Op }>();
  const claim = (name: string, op: Op): void => {
    const n = counterOf(name);
    if (Number.isNaN(n)) return;
    const had = owner.get(n);
    if (had && had.name !== name) out.push({ checker: 'sets', key: parent, message: `counter ${n} was given to both ${had.name} and ${name}`, window: windowOf(had.op, op) });
    else owner.set(n, { name, op });
  };
  const acked = creates.filter(isOk);
  for (const c of acked) claim(String(resultValue(c)), c);
  for (const r of reads) for (const name of resultValue(r) as readonly string[]) claim(name, r);
  const byAck = [...acked].sort((a, b) => okTime(a) - okTime(b));
  for (const later of acked) {
    const mine = counterOf(String(resultValue(later)));
    // The largest counter among creates acknowledged before this one began must be below its own.
    let before: Op | undefined;
    for (const c of byAck) {
      if (okTime(c) >= later.invoke.time) break;
      if (!before || counterOf(String(resultValue(c))) > counterOf(String(resultValue(before)))) before = c;
    }
    if (before && counterOf(String(resultValue(before))) >= mine) {
      out.push({ checker: 'sets', key: parent, message: `${String(resultValue(later))} was created after ${String(resultValue(before))} was acknowledged, yet got a counter not above it`, window: windowOf(before, later) });
    }
  }
  return out;
}
