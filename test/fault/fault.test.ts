/**
 * The short fault run of `npm test` (issue #10): a 3-member cluster on 127.0.0.1, every peer link
 * through the suite's proxies, every workload through the SDK, and one round of the schedule —
 * every fault kind once, in an order drawn from a seed (printed; set CONCLAVE_FAULT_SEED to replay).
 * Every checker must find nothing. Longer runs: `npm run fault -- --time 3600 --nodes 5`.
 */
import { randomInt } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultCluster } from './fault-cluster.js';
import { FAULT_KINDS } from './nemesis/schedule.js';
import { runFault } from './run.js';

afterAll(async () => {
  await FaultCluster.stopAll();
});

describe('fault suite, short run', () => {
  it('injects every fault kind once on 3 members with no violation', async () => {
    const seed = Number(process.env['CONCLAVE_FAULT_SEED'] ?? randomInt(1, 0x7fffffff));
    const lines: string[] = [];
    const result = await runFault({ seed, nodes: 3, rounds: 1, outDir: 'test-results/fault', checkBudgetMs: 20_000, log: (l) => void lines.push(l) });
    console.log(result.report);
    expect(result.violations, `violations (seed ${seed}):\n${result.report}`).toEqual([]);
    // Every kind was carried out, and the workloads did real work under it.
    expect(new Set(result.faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    expect(result.faults.filter((f) => f.error !== undefined), result.report).toEqual([]);
    for (const w of ['registers', 'sets', 'ephemerals', 'watches', 'locks']) expect(result.summary.ops[w]?.ok ?? 0, `${w} ops that succeeded`).toBeGreaterThan(100);
    expect(result.summary.watchEventsDelivered).toBeGreaterThan(100);
    expect(result.summary.leaderChanges).toBeGreaterThanOrEqual(3);
    expect(result.reports.find((r) => r.checker === 'registers')?.checked ?? 0).toBeGreaterThan(10);
    // Kept for inspection only when something failed.
    await rm(result.runDir, { recursive: true, force: true });
  });
});
