/**
 * Watches (/fault/watch). The watcher's deliveries (`read` of a path, value `[type, zxid, data?]`)
 * are judged against the writers' operations and the final state. Every path is written by one
 * writer in sequence (create, sets, delete) with unique values, so each event names its operation:
 *  - zxids strictly increase over the whole delivery stream (in order, none twice), across resumes;
 *  - each event matches an operation of its path (created ↔ the create's data, changed ↔ a set's
 *    data, deleted ↔ the delete), one that did not definitely fail, and no operation twice;
 *  - per path, events follow the operations' order;
 *  - every acknowledged operation was delivered (no gap), and the last event of each path agrees
 *    with the final state (present with that data, or deleted).
 * If the watcher had to skip ahead (its resume point left the servers' window), gaps are not judged.
 */
import type { HistoryEvent } from '../../model/history.js';
import { RESUME_GAP, WATCH_PREFIX, under } from '../keys.js';
import { type CheckerReport, type Op, type Violation, isOk, outcome, pairOps, report, resultValue, windowOf } from './ops.js';

const EVENT_TYPES: ReadonlySet<string> = new Set(['created', 'changed', 'deleted']);
const EVENT_OF: Readonly<Record<string, string>> = { create: 'created', write: 'changed', delete: 'deleted' };

interface Delivery {
  readonly op: Op;
  readonly type: string;
  readonly zxid: number;
  readonly data: string | undefined;
}

export function checkWatches(events: readonly HistoryEvent[]): CheckerReport {
  const ops = pairOps(events, (k) => k === WATCH_PREFIX || under(WATCH_PREFIX, k));
  const violations: Violation[] = [];
  const flag = (key: string, message: string, ...window: (Op | undefined)[]): void => void violations.push({ checker: 'watches', key, message, window: windowOf(...window) });

  const deliveries: Delivery[] = [];
  const writes = new Map<string, Op[]>();
  let gaps = 0;
  let finalState: Op | undefined;
  for (const op of ops) {
    const v = resultValue(op);
    if (op.f === 'read' && op.key === WATCH_PREFIX && isOk(op)) {
      if (Array.isArray(v) && v[0] === RESUME_GAP) gaps++;
      else finalState = op;
    } else if (op.f === 'read' && Array.isArray(v) && EVENT_TYPES.has(String(v[0]))) {
      deliveries.push({ op, type: String(v[0]), zxid: Number(v[1]), data: v[2] });
    } else if (op.f !== 'read') {
      const list = writes.get(op.key) ?? [];
      list.push(op);
      writes.set(op.key, list);
    }
  }

  // In zxid order, each once.
  for (let i = 1; i < deliveries.length; i++) {
    const [a, b] = [deliveries[i - 1] as Delivery, deliveries[i] as Delivery];
    if (b.zxid <= a.zxid) flag(b.op.key, `event at zxid ${b.zxid} delivered after one at zxid ${a.zxid}: out of order or repeated`, a.op, b.op);
  }

  // Each event is one operation of its path, in the operations' order.
  const matched = new Map<Op, Delivery>();
  const byPath = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const list = byPath.get(d.op.key) ?? [];
    list.push(d);
    byPath.set(d.op.key, list);
  }
  for (const [path, list] of byPath) {
    const pathOps = writes.get(path) ?? [];
    let lastIndex = -1;
    for (const d of list) {
      const index = pathOps.findIndex((o) => EVENT_OF[o.f] === d.type && (d.type === 'deleted' || String(o.invoke.value) === d.data));
      const op = pathOps[index];
      if (!op) {
        flag(path, `${d.type} event at zxid ${d.zxid}${d.data !== undefined ? ` with data ${d.data}` : ''} matches no operation ever attempted on ${path}`, d.op);
        continue;
      }
      if (outcome(op) === 'fail') flag(path, `${d.type} event at zxid ${d.zxid} for an operation that failed`, op, d.op);
      const twice = matched.get(op);
      if (twice) flag(path, `one operation delivered twice (zxids ${twice.zxid} and ${d.zxid})`, op, twice.op, d.op);
      matched.set(op, d);
      if (index < lastIndex) flag(path, `${d.type} event at zxid ${d.zxid} delivered after the event of a later operation`, op, d.op);
      lastIndex = Math.max(lastIndex, index);
    }
  }

  const notes: string[] = [];
  if (gaps > 0) {
    notes.push(`the watcher skipped ahead ${gaps} time(s) (its resume point had left the servers' event window): gaps not judged`);
  } else {
    for (const [path, pathOps] of writes) {
      for (const op of pathOps) if (isOk(op) && !matched.has(op)) flag(path, `acknowledged ${op.f} of ${path} was never delivered to the watcher`, op);
    }
    if (finalState) checkFinalState(finalState, byPath, writes, flag);
    else if (writes.size > 0) notes.push('no final state was read: the last events were not compared with it');
  }
  return report('watches', violations, byPath.size, 0, notes);
}

function checkFinalState(finalState: Op, byPath: ReadonlyMap<string, Delivery[]>, writes: ReadonlyMap<string, Op[]>, flag: (key: string, message: string, ...window: (Op | undefined)[]) => void): void {
  const present = new Map<string, string>();
  for (const entry of resultValue(finalState) as readonly string[]) {
    const at = entry.indexOf('=');
    present.set(`${WATCH_PREFIX}/${entry.slice(0, at)}`, entry.slice(at + 1));
  }
  for (const path of new Set([...present.keys(), ...byPath.keys()])) {
    const last = (byPath.get(path) ?? []).at(-1);
    const data = present.get(path);
    if (data !== undefined && !writes.has(path)) flag(path, `${path} exists at the end, but no operation ever created it`, finalState);
    else if (data !== undefined && (!last || last.type === 'deleted' || last.data !== data)) {
      flag(path, `${path} ends with data ${data}, but the watcher's last event for it is ${last ? `${last.type} ${last.data ?? ''} at zxid ${last.zxid}` : 'none'}`, last?.op, finalState);
    } else if (data === undefined && last && last.type !== 'deleted') {
      flag(path, `${path} is gone at the end, but the watcher never saw it deleted (last: ${last.type} at zxid ${last.zxid})`, last.op, finalState);
    }
  }
}
