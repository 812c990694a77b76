/** One measurement of one workload on one system in one repetition. */
import type { RunResult } from '../load/run.js';
import type { WorkloadId } from './options.js';
import type { SystemName } from './systems.js';

export interface Sample {
  system: SystemName;
  workload: WorkloadId;
  rep: number;
  values: Record<string, number>;
  /** Runs of this cell (more than 1: earlier ones were noisy). */
  attempts: number;
  notes: string[];
}

export const closedLoopValues = (r: RunResult): Record<string, number> => ({
  opsPerSec: r.opsPerSec,
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  p999Ms: r.p999Ms,
  maxMs: r.maxMs,
  errors: r.errors,
  clientCpuUsPerOp: r.clientCpuUsPerOp,
  serverCpuUsPerOp: r.serverCpuUsPerOp,
  otherCpuPct: r.otherCpuPct,
});
