/** Helpers shared by the simulation test files: run a range of seeds and report failures with a replay command. */
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
