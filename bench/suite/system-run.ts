/**
 * One repetition on one system: cold start, the closed-loop, watch and lock cells, load, then stop and
 * restart on the same data (restart to ready). Nothing else of the harness runs meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeys, runClosedLoopCells } from './closed-loop-cells.js';
import { createNodes, loadKey, runLoad, timedStart } from './lifecycle-cells.js';
import { runLockCells } from './lock-cells.js';
import type { Options, WorkloadId } from './options.js';
import type { Sample } from './samples.js';
import type { SystemDef } from './systems.js';
import { runWatchCells } from './watch-cells.js';

export interface RepResult {
  samples: Sample[];
  /** The pid of the member that led during the workloads (its --cpu-prof file names it). */
  leaderPid: number;
}

export async function runSystemRep(def: SystemDef, opts: Options, rep: number, root: string, log: (line: string) => void): Promise<RepResult> {
  const want = (w: WorkloadId) => opts.workloads.includes(w);
  const dir = join(root, `${def.name}-${rep}`);
  const value = randomBytes(256);
  const samples: Sample[] = [];
  const cold = await timedStart(def, dir);
  log(`${def.name} (run ${rep + 1}): ready in ${cold.cluster.readyMs} ms`);
  let nodes = 0;
  let leaderPid = 0;
  try {
    const leaderIdx = await cold.cluster.leaderIndex();
    leaderPid = cold.cluster.pids[leaderIdx]!;
    const leader = await def.connect([cold.cluster.endpoints[leaderIdx]!]);
    try {
      await createKeys(leader, value);
      const ctx = { def, cluster: cold.cluster, leader, leaderIdx, value, opts, rep, log };
      samples.push(...(await runClosedLoopCells(ctx)));
      samples.push(...(await runWatchCells(ctx)));
      samples.push(...(await runLockCells(ctx)));
      if (want('load')) {
        const s = await runLoad({ ...ctx, nodes: opts.loadNodes, dir });
        log(`  ${def.name} load: ${opts.loadNodes} nodes at ${s.values['opsPerSec']!.toFixed(0)}/s; RSS ${s.values['rssMiB']!.toFixed(0)} MiB, disk ${s.values['diskMiB']!.toFixed(0)} MiB`);
        samples.push(s);
        nodes = opts.loadNodes;
      }
      if (want('start') && opts.restartNodes > nodes) {
        await createNodes(leader, value, nodes, opts.restartNodes, cold.cluster.pids);
        nodes = opts.restartNodes;
      }
    } finally {
      await leader.close();
    }
  } finally {
    await cold.cluster.stop();
  }
  if (want('start')) {
    const again = await timedStart(def, dir);
    try {
      const probe = await def.connect(again.cluster.endpoints);
      const found = nodes === 0 || (await probe.get(loadKey(nodes - 1), { linearizable: true })) !== undefined;
      await probe.close();
      if (!found) throw new Error(`${def.name}: ${loadKey(nodes - 1)} is missing after the restart`);
    } finally {
      await again.cluster.stop();
    }
    log(`  ${def.name} start: cold ${cold.cluster.readyMs} ms, restart with ${nodes} nodes ${again.cluster.readyMs} ms`);
    samples.push({
      system: def.name,
      workload: 'start',
      rep,
      values: { coldMs: cold.cluster.readyMs, restartMs: again.cluster.readyMs, restartNodes: nodes, otherCpuPct: Math.max(cold.otherCpuPct, again.otherCpuPct) },
      attempts: 1,
      notes: [],
    });
  }
  if (!opts.keep) await rm(dir, { recursive: true, force: true });
  return { samples, leaderPid };
}
