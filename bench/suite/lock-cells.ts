/**
 * The lock hand-off cells (lock1, lock10, lock100) on a running cluster: N contenders on one lock,
 * each its own session or lease, connected before the window. Contender i talks to member
 * (leader + i) mod 3, so lock1's one contender talks to the leader and the others spread over the
 * members (Conclave's SDK moves to the leader whatever it is given).
 */
import type { Adapter, Locker } from '../load/adapter.js';
import { runLocks } from '../load/lock-run.js';
import { measure } from './closed-loop-cells.js';
import type { Options, WorkloadId } from './options.js';
import type { Sample } from './samples.js';
import type { StartedCluster, SystemDef } from './systems.js';

const CLOSE_TIMEOUT_MS = 10_000;

export async function runLockCells(ctx: {
  def: SystemDef;
  cluster: StartedCluster;
  leader: Adapter;
  leaderIdx: number;
  opts: Options;
  rep: number;
  log: (line: string) => void;
}): Promise<Sample[]> {
  const out: Sample[] = [];
  for (const [w, shape] of Object.entries(ctx.opts.lock) as [WorkloadId, NonNullable<Options['lock'][WorkloadId]>][]) {
    if (!ctx.opts.workloads.includes(w)) continue;
    const open = ctx.leader.locker?.bind(ctx.leader);
    if (!open) {
      ctx.log(`  ${ctx.def.name} ${w}: skipped, the adapter has no locker`);
      continue;
    }
    const { endpoints } = ctx.cluster;
    const name = `bench-${w}`;
    const contenders = await openAll(Array.from({ length: shape.contenders }, (_, i) => () => open(name, endpoints[(ctx.leaderIdx + i) % endpoints.length]!)));
    try {
      const errors: string[] = [];
      let violationsWorst = 0;
      const sample = await measure(ctx, w, async () => {
        const r = await runLocks({ contenders, warmupMs: shape.warmupMs, durationMs: shape.durationMs, serverPids: ctx.cluster.pids });
        const { firstError, ...values } = r;
        if (firstError) errors.push(firstError);
        violationsWorst = Math.max(violationsWorst, r.violations);
        // Their acquires are still out: no further attempt on these contenders, no result.
        if (r.stuck > 0) throw new Error(`${w}: ${r.stuck} contenders still waiting for the lock ${r.drainMs.toFixed(0)} ms after the window`);
        return { ...values, contenders: shape.contenders };
      });
      // As with missed watch events: a violation in any attempt counts, quiet or noisy.
      sample.values['violationsWorst'] = violationsWorst;
      if (violationsWorst > 0) sample.notes.push(`MUTUAL EXCLUSION VIOLATED: ${violationsWorst} grants while another contender held the lock (worst attempt); these figures are not a result`);
      for (const e of new Set(errors)) sample.notes.push(`lock error: ${e}`);
      out.push(sample);
    } finally {
      await closeAll(contenders, (line) => ctx.log(`  ${ctx.def.name} ${w}: ${line}`));
    }
  }
  return out;
}

/** Opens every contender, or none: on a failure the ones that opened are closed again. */
async function openAll(opens: (() => Promise<Locker>)[]): Promise<Locker[]> {
  const settled = await Promise.allSettled(opens.map((f) => f()));
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await closeAll(ok, () => undefined);
    throw new Error(`opening ${opens.length} lock contenders: ${opens.length - ok.length} failed, first: ${String(failed.reason)}`);
  }
  return ok;
}

/** Closes every contender, each within CLOSE_TIMEOUT_MS; reports the ones that would not. */
async function closeAll(ls: Locker[], log: (line: string) => void): Promise<void> {
  const settled = await Promise.allSettled(ls.map((l) => within(l.close(), CLOSE_TIMEOUT_MS)));
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed.length > 0) log(`${failed.length} of ${ls.length} contenders did not close cleanly, first: ${String(failed[0]!.reason)}`);
}

async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not done after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
