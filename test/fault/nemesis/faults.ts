/**
 * The faults themselves. Each starts its fault, holds it for the planned time (a deliberate wait:
 * the fault's duration), heals it, and returns a line saying what it did. The runner then waits
 * for the cluster to recover. Victims are chosen when the fault starts, among the current voters.
 */
import type { Client } from '../../../src/client/index.js';
import { SeededRng, type Rng } from '../../../src/common/rng.js';
import type { FaultCluster } from '../fault-cluster.js';
import { BURST_PREFIX } from '../keys.js';
import type { FaultKind, FaultPlan } from './schedule.js';

export interface NemesisContext {
  readonly cluster: FaultCluster;
  /** A client for the nemesis's own writes (to make a member lag). */
  client(): Promise<Client>;
  /** Bound on each step that waits for the cluster (a leader, a membership change, catching up). */
  readonly stepTimeoutMs: number;
  /** The server's --snapshot-every; a member must lag this much plus the kept log to need a snapshot. */
  readonly snapshotEvery: number;
}

/** Entries a leader keeps in its log behind its newest snapshot (storage's keepEntriesAfterSnapshot). */
const KEPT_ENTRIES = 1000;
const BURST_IN_FLIGHT = 64;
const BURST_NODES = 16;

/** Holding a fault for its planned duration: the fault is the wait. */
export function holdFault(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function injectFault(ctx: NemesisContext, plan: FaultPlan): Promise<string> {
  const rng = new SeededRng(plan.seed);
  const { cluster } = ctx;
  const conf = await cluster.configuration(ctx.stepTimeoutMs);
  const leader = conf.leader;
  const followers = conf.voters.filter((id) => id !== leader);
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const inject: Record<FaultKind, () => Promise<string>> = {
    'kill-leader': async () => `kill -9 leader ${leader}, down ${s(plan.holdMs)}, restarted in ${await killAndRestart(ctx, leader, plan.holdMs)}`,
    'kill-follower': async () => {
      const victim = rng.pick(followers);
      return `kill -9 follower ${victim}, down ${s(plan.holdMs)}, restarted in ${await killAndRestart(ctx, victim, plan.holdMs)}`;
    },
    'kill-all': async () => {
      // A power cut: every member at once, then all restarted on their data.
      await Promise.all(conf.voters.map((id) => cluster.kill(id)));
      await holdFault(plan.holdMs);
      const timed = stopwatch();
      await Promise.all(conf.voters.map((id) => cluster.restart(id)));
      return `kill -9 every member [${conf.voters.join(',')}], down ${s(plan.holdMs)}, restarted in ${timed()}`;
    },
    'pause-leader': () => pause(ctx, leader, plan.holdMs).then(() => `SIGSTOP leader ${leader} for ${s(plan.holdMs)}`),
    'pause-follower': async () => {
      const victim = rng.pick(followers);
      await pause(ctx, victim, plan.holdMs);
      return `SIGSTOP follower ${victim} for ${s(plan.holdMs)}`;
    },
    'isolate-leader': () => partitioned(ctx, plan.holdMs, () => cluster.mesh.isolate(leader)).then(() => `isolate leader ${leader} (both ways) for ${s(plan.holdMs)}`),
    'isolate-follower': async () => {
      const victim = rng.pick(followers);
      await partitioned(ctx, plan.holdMs, () => cluster.mesh.isolate(victim));
      return `isolate follower ${victim} (both ways) for ${s(plan.holdMs)}`;
    },
    'split-majority': async () => {
      const shuffled = shuffle(rng, conf.voters);
      const minority = shuffled.slice(0, Math.floor((shuffled.length - 1) / 2));
      const majority = shuffled.slice(minority.length);
      await partitioned(ctx, plan.holdMs, () => cluster.mesh.partition([majority, minority]));
      return `split majority [${majority.join(',')}] | minority [${minority.join(',')}] for ${s(plan.holdMs)}`;
    },
    bridge: async () => {
      const [bridge, ...rest] = shuffle(rng, conf.voters) as [number, ...number[]];
      const left = rest.slice(0, Math.ceil(rest.length / 2));
      const right = rest.slice(left.length);
      await partitioned(ctx, plan.holdMs, () => {
        for (const a of left) for (const b of right) cluster.mesh.cutBoth(a, b);
      });
      return `bridge ${bridge} between [${left.join(',')}] and [${right.join(',')}] for ${s(plan.holdMs)}`;
    },
    'one-way-leader-out': async () => {
      await partitioned(ctx, plan.holdMs, () => {
        for (const f of followers) cluster.mesh.cut(leader, f);
      });
      return `leader ${leader} cannot send to [${followers.join(',')}] (it still hears them) for ${s(plan.holdMs)}`;
    },
    'one-way-leader-in': async () => {
      await partitioned(ctx, plan.holdMs, () => {
        for (const f of followers) cluster.mesh.cut(f, leader);
      });
      return `leader ${leader} cannot hear [${followers.join(',')}] (they still hear it) for ${s(plan.holdMs)}`;
    },
    'random-links': async () => {
      const cut: string[] = [];
      await partitioned(ctx, plan.holdMs, () => {
        for (const a of conf.voters) {
          for (const b of conf.voters) {
            if (a === b || !rng.chance(0.35)) continue;
            cluster.mesh.cut(a, b);
            cut.push(`${a}→${b}`);
          }
        }
      });
      return `cut links ${cut.join(' ') || '(none drawn)'} for ${s(plan.holdMs)}`;
    },
    delay: async () => {
      const delayMs = rng.int(20, 80);
      const jitterMs = rng.int(0, 40);
      await partitioned(ctx, plan.holdMs, () => cluster.mesh.setAll({ delayMs, jitterMs }));
      return `delay every link ${delayMs} ms + up to ${jitterMs} ms for ${s(plan.holdMs)}`;
    },
    lossy: async () => {
      const resetChance = rng.int(5, 30) / 1000;
      await partitioned(ctx, plan.holdMs, () => cluster.mesh.setAll({ resetChance }));
      return `lossy links (each chunk resets its connection with p=${resetChance}) for ${s(plan.holdMs)}`;
    },
    membership: () => changeMembership(ctx, rng, conf),
    'replace-member': () => replaceMember(ctx, rng.pick(followers)),
    'transfer-leadership': async () => {
      const to = rng.pick(followers);
      const now = await cluster.transferLeadership(to, ctx.stepTimeoutMs);
      return `transfer leadership ${leader} → ${to} (leader now ${now})`;
    },
    'snapshot-lagging': () => snapshotLagging(ctx, rng, rng.pick(followers)),
  };
  return inject[plan.kind]();
}

/** Kill -9, stay down, restart; returns how long the restart took. */
async function killAndRestart(ctx: NemesisContext, id: number, downMs: number): Promise<string> {
  await ctx.cluster.kill(id);
  await holdFault(downMs);
  const timed = stopwatch();
  await ctx.cluster.restart(id);
  return timed();
}

/** Time since the last call (or since it was made), as "1.2 s". */
function stopwatch(): () => string {
  let last = performance.now();
  return () => {
    const now = performance.now();
    const s = ((now - last) / 1000).toFixed(1);
    last = now;
    return `${s} s`;
  };
}

async function pause(ctx: NemesisContext, id: number, ms: number): Promise<void> {
  ctx.cluster.pause(id);
  try {
    await holdFault(ms);
  } finally {
    ctx.cluster.resume(id);
  }
}

async function partitioned(ctx: NemesisContext, ms: number, cut: () => void): Promise<void> {
  cut();
  try {
    await holdFault(ms);
  } finally {
    ctx.cluster.mesh.heal();
  }
}

/**
 * Add the spare slot as a learner (started with --join), wait for it to catch up, promote it, then
 * remove another voter (sometimes the leader), whose slot becomes the spare.
 */
async function changeMembership(ctx: NemesisContext, rng: Rng, conf: { voters: number[]; learners: number[]; leader: number }): Promise<string> {
  const { cluster } = ctx;
  const steps: string[] = [];
  const timed = stopwatch();
  // A learner left over from an interrupted change is promoted first.
  let joiner = conf.learners[0];
  if (joiner === undefined) {
    // The slot that is not in the configuration. Its process may still run if an earlier change
    // was interrupted (it started but was never added): it is no member, so it is discarded.
    const spare = [...cluster.members.keys()].find((id) => !conf.voters.includes(id));
    if (spare === undefined) throw new Error('no spare slot for a membership change');
    if (cluster.member(spare).running) await cluster.discard(spare);
    const startFirst = rng.chance(0.5);
    await cluster.addLearner(spare, ctx.stepTimeoutMs, startFirst);
    joiner = spare;
    steps.push(`${startFirst ? `start ${spare} with --join, then add it as a learner` : `add learner ${spare}, then start it with --join`} (${timed()})`);
  }
  await cluster.waitHealthy(ctx.stepTimeoutMs);
  const waited = cluster.lastRecovery.ms > 5000 ? `; waited on: ${cluster.lastRecovery.waitedOn.join(', ')}` : '';
  steps.push(`caught up (${timed()}${waited})`);
  await cluster.promote(joiner, ctx.stepTimeoutMs);
  steps.push(`promote ${joiner} (${timed()})`);
  const after = await cluster.configuration(ctx.stepTimeoutMs);
  const candidates = after.voters.filter((id) => id !== joiner);
  const victim = rng.chance(0.3) ? after.leader : rng.pick(candidates.filter((id) => id !== after.leader));
  const { stoppedItself } = await cluster.remove(victim, ctx.stepTimeoutMs, 5000);
  steps.push(`remove ${victim}${victim === after.leader ? ' (the leader)' : ''}${stoppedItself ? '' : ' (killed: it had not stopped itself)'} (${timed()})`);
  return steps.join(', ');
}

/**
 * Replace a member's disk: remove it, wipe its data, add it back under the same id and promote it
 * once caught up (what an operator does after losing a member's disk).
 */
async function replaceMember(ctx: NemesisContext, victim: number): Promise<string> {
  const { cluster } = ctx;
  const timed = stopwatch();
  await cluster.remove(victim, ctx.stepTimeoutMs, 5000);
  await cluster.addLearner(victim, ctx.stepTimeoutMs);
  await cluster.waitHealthy(ctx.stepTimeoutMs);
  await cluster.promote(victim, ctx.stepTimeoutMs);
  return `remove follower ${victim}, wipe its data, add it back as a learner, catch up and promote it (${timed()})`;
}

/**
 * Make a follower lag so far that the leader has compacted the entries it needs, then bring it
 * back: it must catch up from a snapshot. It lags either dead (killed, then restarted) or alive
 * (isolated, then healed).
 */
async function snapshotLagging(ctx: NemesisContext, rng: Rng, victim: number): Promise<string> {
  const { cluster } = ctx;
  const dead = rng.chance(0.5);
  const before = (await cluster.status(victim))?.applied ?? 0;
  if (dead) await cluster.kill(victim);
  else cluster.mesh.isolate(victim);
  let written = 0;
  let snapshot = 0;
  const timed = stopwatch();
  try {
    const client = await ctx.client();
    const deadline = performance.now() + ctx.stepTimeoutMs;
    // Past the point where the leader's log starts after its newest snapshot.
    while (performance.now() < deadline) {
      const leader = await cluster.leader();
      snapshot = leader ? await cluster.newestSnapshotIndex(leader.id) : 0;
      if (snapshot - KEPT_ENTRIES > before) break;
      written += await burst(client, Math.max(200, Math.min(2000, before + KEPT_ENTRIES + ctx.snapshotEvery - snapshot)));
    }
  } finally {
    if (dead) await cluster.restart(victim);
    else cluster.mesh.heal();
  }
  const needed = snapshot - KEPT_ENTRIES > before;
  return `${dead ? 'kill' : 'isolate'} follower ${victim} at applied ${before}, ${written} writes in ${timed()} until the leader's snapshot ${snapshot}; ${dead ? 'restarted' : 'healed'}${needed ? ', catching up needs a snapshot' : ' (did not lag far enough to need a snapshot)'}`;
}

/** `count` small writes, BURST_IN_FLIGHT at a time; resolves with how many succeeded. */
async function burst(client: Client, count: number): Promise<number> {
  let next = 0;
  let ok = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const path = `${BURST_PREFIX}/b${i % BURST_NODES}`;
      await client.set(path, String(i)).then(
        () => void ok++,
        () => client.create(path, String(i)).then(() => void ok++, () => undefined),
      );
    }
  };
  await Promise.all(Array.from({ length: BURST_IN_FLIGHT }, lane));
  return ok;
}

function shuffle(rng: Rng, items: readonly number[]): number[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j] as number, out[i] as number];
  }
  return out;
}
