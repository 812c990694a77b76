/** The watch fan-out cells (watch100, watch1000r10, watch1000) on a running cluster. */
import type { Adapter } from '../load/adapter.js';
import { scrapeCounter } from '../load/stall.js';
import { runWatch } from '../load/watch-run.js';
import { measure } from './closed-loop-cells.js';
import type { Options, WorkloadId } from './options.js';
import type { Sample } from './samples.js';
import type { StartedCluster, SystemDef } from './systems.js';

export async function runWatchCells(ctx: {
  def: SystemDef;
  cluster: StartedCluster;
  leader: Adapter;
  value: Uint8Array;
  opts: Options;
  rep: number;
  log: (line: string) => void;
}): Promise<Sample[]> {
  const out: Sample[] = [];
  const errors: string[] = [];
  for (const [w, shape] of Object.entries(ctx.opts.watch) as [WorkloadId, NonNullable<Options['watch'][WorkloadId]>][]) {
    if (!ctx.opts.workloads.includes(w)) continue;
    const ports = ctx.cluster.metricsPorts;
    const cuts = () => (ports ? scrapeCounter(ports, 'conclave_slow_watchers_cut_total') : Promise.resolve(NaN));
    const sample = await measure(ctx, w, async () => {
      const cuts0 = await cuts();
      const r = await runWatch({
        key: `bench/watch/${w}`,
        value: ctx.value,
        ...shape,
        writer: ctx.leader,
        // Watchers may use any member (etcd and ZooKeeper clients pick one; Conclave's go to the leader).
        connect: () => ctx.def.connect(ctx.cluster.endpoints),
        serverPids: ctx.cluster.pids,
      });
      const { firstError, ...values } = r;
      if (firstError) errors.push(firstError);
      return { ...values, watchers: shape.watchers, ratePerSec: shape.ratePerSec, ...(ports ? { slowWatchersCut: (await cuts()) - cuts0 } : {}) };
    });
    for (const e of new Set(errors.splice(0))) sample.notes.push(`a watch broke: ${e}`);
    out.push(sample);
  }
  return out;
}
