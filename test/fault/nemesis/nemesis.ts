/**
 * The nemesis loop: one fault at a time from the schedule, each followed by a wait for the cluster
 * to recover (a leader, every member caught up) and a short quiet gap. A fault window runs from
 * its start until the cluster has recovered: deadlines and leaders may change anywhere inside it.
 * A cluster that does not recover in time is a liveness failure: it is recorded, then repaired
 * (every link healed, every member running) so the run can go on.
 */
import { thinkTime } from '../workloads/context.js';
import { type NemesisContext, injectFault } from './faults.js';
import type { FaultKind, FaultPlan } from './schedule.js';

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly holdMs: number;
  readonly detail: string;
  /** History time (ns): the fault began, was healed, and the cluster had recovered. */
  readonly startNs: number;
  readonly healedNs: number;
  readonly recoveredNs: number;
  /** The fault could not be carried out as planned (e.g. no leader to pick): the error, with the cluster's state. */
  readonly error?: string;
  /** The cluster did not recover in time. */
  readonly livenessFailure?: string;
  /** What the recovery waited for, when it took long (over SLOW_RECOVERY_MS). */
  readonly slowRecovery?: string;
}

const SLOW_RECOVERY_MS = 5000;

export interface NemesisOptions {
  readonly schedule: Iterator<FaultPlan>;
  /** Stop starting faults once this returns true (checked before each fault). */
  readonly done: (faultsSoFar: number) => boolean;
  readonly recoveryTimeoutMs: number;
  /** Quiet time between one fault's recovery and the next fault. */
  readonly gapMs: number;
  readonly now: () => number;
  readonly log: (line: string) => void;
}

export async function runNemesis(ctx: NemesisContext, opts: NemesisOptions): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  while (!opts.done(records.length)) {
    const plan = opts.schedule.next().value as FaultPlan;
    const startNs = opts.now();
    let detail = '';
    let error: string | undefined;
    try {
      detail = await injectFault(ctx, plan);
    } catch (err: unknown) {
      error = err instanceof Error ? err.message : String(err);
      await ctx.cluster.repair().catch(() => undefined);
    }
    const healedNs = opts.now();
    let livenessFailure: string | undefined;
    let slowRecovery: string | undefined;
    try {
      await ctx.cluster.waitHealthy(opts.recoveryTimeoutMs);
      const r = ctx.cluster.lastRecovery;
      if (r.ms > SLOW_RECOVERY_MS) slowRecovery = `waited ${(r.ms / 1000).toFixed(1)} s for: ${r.waitedOn.join('; ')}`;
    } catch (err: unknown) {
      livenessFailure = err instanceof Error ? err.message : String(err);
      await ctx.cluster.repair().catch(() => undefined);
      await ctx.cluster.waitHealthy(opts.recoveryTimeoutMs).catch(() => undefined);
    }
    const record: FaultRecord = { kind: plan.kind, holdMs: plan.holdMs, detail, startNs, healedNs, recoveredNs: opts.now(), ...(error ? { error } : {}), ...(livenessFailure ? { livenessFailure } : {}), ...(slowRecovery ? { slowRecovery } : {}) };
    records.push(record);
    opts.log(`fault ${records.length}: ${plan.kind}: ${error ? `could not be carried out: ${firstLine(error)}` : detail}; recovered in ${((record.recoveredNs - healedNs) / 1e9).toFixed(1)} s${livenessFailure ? ' (LIVENESS FAILURE: no recovery in time)' : ''}${slowRecovery ? ` (slow: ${slowRecovery})` : ''}`);
    await thinkTime(opts.gapMs); // the schedule's quiet gap between faults
  }
  return records;
}

export function firstLine(text: string): string {
  return text.split('\n')[0] ?? '';
}
