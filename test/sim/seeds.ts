/** Helpers shared by the simulation test files: run a range of seeds and report failures with a replay command. */
import { describe, expect, it } from 'vitest';
import { replayCommand } from './replay.js';
import { type SimOptions, runSimulation } from './simulation.js';

export function runSeedRange(first: number, count: number, extra: Omit<SimOptions, 'seed'> = {}): string[] {
  const failures: string[] = [];
  for (let seed = first; seed < first + count; seed++) {
    const opts: SimOptions = { ...extra, seed };
    const result = runSimulation(opts);
    if (!result.ok) {
      failures.push(`seed ${seed}: ${result.violation}\n  replay: ${replayCommand(result.seed, opts)}\n  ${result.trace.slice(-25).join('\n  ')}`);
    }
  }
  return failures;
}

/** Register `chunks` tests of `chunkSize` seeds each, from `first`: one vitest file per core. */
export function describeSeedChunks(first: number, chunks: number, chunkSize: number): void {
  describe(`simulated clusters under faults, seeds ${first}..${first + chunks * chunkSize - 1}`, () => {
    for (let c = 0; c < chunks; c++) {
      const from = first + c * chunkSize;
      it(`seeds ${from}..${from + chunkSize - 1} keep every invariant`, () => {
        expect(runSeedRange(from, chunkSize)).toEqual([]);
      });
    }
  });
}
