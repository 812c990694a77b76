/**
 * Locks with fencing (keys `lock:<name>`: acquire = create, ok value the token; release = delete;
 * and `fence:<name>`: steps admitted by the guarded resource, in admission order).
 *  - At the resource: admitted tokens never go down, and each token's steps come from one worker.
 *  - The resource never admits a token after a newer grant was acknowledged to someone (that
 *    token's holder had lost the lock by then, so ValidateFence must have refused it).
 *  - One holder per token, and tokens increase in grant order: an acquire acknowledged before
 *    another began carries the smaller token.
 *  - No two provable holds overlap. A hold is provable from the acquire's ok to the invoke of a
 *    release that succeeded: a successful release shows the session was alive and still held the
 *    lock, and a live session keeps it until it releases.
 */
import type { HistoryEvent } from '../../model/history.js';
import { type CheckerReport, type Op, type Violation, isOk, okTime, pairOps, report, resultValue, windowOf } from './ops.js';

export function checkLocks(events: readonly HistoryEvent[], lockKey: string, fenceKey: string): CheckerReport {
  const ops = pairOps(events, (k) => k === lockKey || k === fenceKey);
  const violations: Violation[] = [];
  const flag = (message: string, ...window: (Op | undefined)[]): void => void violations.push({ checker: 'locks', key: lockKey, message, window: windowOf(...window) });
  const tokenOf = (op: Op): number => Number(String(op.invoke.value).split(' ')[0]);

  // The resource, in admission order (steps complete `ok` inside the serialized admission).
  const admitted = ops.filter((o) => o.key === fenceKey && isOk(o)).sort((a, b) => okTime(a) - okTime(b));
  const stepOwner = new Map<number, Op>();
  for (let i = 0; i < admitted.length; i++) {
    const step = admitted[i] as Op;
    const prev = admitted[i - 1];
    if (prev && tokenOf(step) < tokenOf(prev)) flag(`resource admitted token ${tokenOf(step)} after token ${tokenOf(prev)}`, prev, step);
    const owner = stepOwner.get(tokenOf(step));
    if (owner && owner.process !== step.process) flag(`token ${tokenOf(step)} used by two workers at the resource`, owner, step);
    else stepOwner.set(tokenOf(step), step);
  }

  const grants = ops.filter((o) => o.key === lockKey && o.f === 'create' && isOk(o)).sort((a, b) => okTime(a) - okTime(b));
  const newestGrantBefore = newestBefore(grants);
  // Fenced off: a newer grant was acknowledged before the step with an older token was even asked for.
  for (const step of admitted) {
    const newer = newestGrantBefore(step.invoke.time);
    if (newer && Number(resultValue(newer)) > tokenOf(step)) flag(`resource admitted token ${tokenOf(step)} after token ${String(resultValue(newer))} had been granted`, newer, step);
  }

  const holderOf = new Map<number, Op>();
  for (const g of grants) {
    const token = Number(resultValue(g));
    const other = holderOf.get(token);
    if (other && other.process !== g.process) flag(`token ${token} granted to two workers`, other, g);
    else holderOf.set(token, g);
  }
  // (An equal token is the same grant answered again to its holder, or caught just above.)
  for (const later of grants) {
    const earlier = newestGrantBefore(later.invoke.time);
    if (earlier && Number(resultValue(earlier)) > Number(resultValue(later))) flag(`grant of token ${String(resultValue(later))} began after token ${String(resultValue(earlier))} was granted, yet is smaller`, earlier, later);
  }

  const holds = provableHolds(ops, lockKey);
  for (let i = 0; i < holds.length; i++) {
    for (let j = i + 1; j < holds.length; j++) {
      const [a, b] = [holds[i] as Hold, holds[j] as Hold];
      if (a.token !== b.token && a.from < b.to && b.from < a.to) flag(`tokens ${a.token} and ${b.token} were both held at once (each holder released successfully later)`, a.grant, a.release, b.grant, b.release);
    }
  }
  return report('locks', violations, grants.length);
}

/** For grants sorted by ok time: the one with the largest token acknowledged before a time (binary search). */
function newestBefore(grants: readonly Op[]): (t: number) => Op | undefined {
  const best: Op[] = [];
  for (const g of grants) {
    const prev = best[best.length - 1];
    best.push(prev && Number(resultValue(prev)) >= Number(resultValue(g)) ? prev : g);
  }
  return (t) => {
    let lo = 0;
    let hi = grants.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (okTime(grants[mid] as Op) < t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : best[found];
  };
}

interface Hold {
  readonly token: number;
  readonly from: number;
  readonly to: number;
  readonly grant: Op;
  readonly release: Op;
}

/** Each worker's acknowledged grant paired with its next successful release of the same token. */
function provableHolds(ops: readonly Op[], lockKey: string): Hold[] {
  const holds: Hold[] = [];
  const byProcess = new Map<number, Op[]>();
  for (const o of ops) {
    if (o.key !== lockKey) continue;
    const list = byProcess.get(o.process) ?? [];
    list.push(o);
    byProcess.set(o.process, list);
  }
  for (const list of byProcess.values()) {
    for (let i = 0; i < list.length; i++) {
      const grant = list[i] as Op;
      if (grant.f !== 'create' || !isOk(grant)) continue;
      const token = Number(resultValue(grant));
      const release = list.slice(i + 1).find((o) => o.f === 'delete' && Number(o.invoke.value) === token);
      if (release && isOk(release)) holds.push({ token, from: okTime(grant), to: release.invoke.time, grant, release });
    }
  }
  return holds;
}
