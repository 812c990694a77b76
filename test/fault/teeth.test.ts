/**
 * The suite's teeth: against a deliberately broken build — servers started with
 * CONCLAVE_FAULT_UNSAFE=local-reads answer "linearizable" reads from local state, skipping ReadIndex —
 * it must report a violation. The leader is isolated from both followers: the pinned reader of the
 * old leader keeps reading there while the SDK's writers move on with the new leader, so a stale
 * read must show up as a linearizability violation (followers' lag alone usually shows one too).
 * A run that happens to catch nothing is retried, a few times at most.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultCluster } from './fault-cluster.js';
import { type FaultRunResult, runFault } from './run.js';

const ATTEMPTS = 3;

afterAll(async () => {
  await FaultCluster.stopAll();
});

describe('fault suite against a broken build', () => {
  it('reports stale reads from a server that serves linearizable reads locally', async () => {
    const runs: FaultRunResult[] = [];
    let caught: FaultRunResult | undefined;
    for (let attempt = 1; attempt <= ATTEMPTS && !caught; attempt++) {
      const result = await runFault({
        seed: 1000 + attempt,
        nodes: 3,
        rounds: 2,
        kinds: ['isolate-leader'],
        workloads: ['registers'],
        unsafe: 'local-reads',
        outDir: 'test-results/fault',
        checkBudgetMs: 10_000,
        log: () => undefined,
      });
      runs.push(result);
      if (result.violations.some((v) => v.checker === 'registers' && v.window.some((e) => e.f === 'read'))) caught = result;
    }
    expect(caught, `no stale read caught in ${ATTEMPTS} runs:\n${runs.map((r) => r.report).join('\n\n')}`).toBeDefined();
    const found = caught as FaultRunResult;
    // The switch did take effect (a loud warning at start), and the failure names seed and schedule.
    expect(await readFile(join(found.runDir, 'member-1.log'), 'utf8')).toContain('UNSAFE BUILD');
    expect(found.report).toContain(`seed ${found.seed}`);
    expect(found.report).toMatch(/isolate leader \d/);
    expect(found.report).toContain('smallest failing window');
    console.log(`caught on attempt ${runs.length}: ${found.violations.length} violation(s); first:\n${found.report.split('\n').filter((l) => l.startsWith('VIOLATION')).slice(0, 1).join('\n')}`);
    for (const r of runs) await rm(r.runDir, { recursive: true, force: true });
  });
});
