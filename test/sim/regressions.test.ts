/**
 * Seeds that once failed, kept as named regressions (STYLE habit 4). Each replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';

const REGRESSIONS: ReadonlyArray<{ seed: number; what: string; app?: 'kv' | 'znode' }> = [
  {
    seed: 706729,
    what:
      'a follower applied older conf changes on top of the membership of a snapshot it was installing ' +
      '(a learner reappeared; liveness failed). The core now keeps the applied membership apart.',
  },
  { seed: 707470, what: 'durability checker: a commit decided just before a promotion took effect needs the smaller majority' },
  { seed: 708017, what: 'durability checker: as above, with a different interleaving' },
  {
    seed: 299,
    app: 'znode',
    what:
      'a replica that installed a snapshot went on delivering to its watchers from the new state, ' +
      'silently skipping the changes in between. Installing a snapshot now cancels every watch with its resume point.',
  },
];

describe('simulation regressions', () => {
  for (const r of REGRESSIONS) {
    it(`seed ${r.seed}: ${r.what}`, () => {
      const result = runSimulation({ seed: r.seed, app: r.app ?? 'kv' });
      expect(result.violation).toBeUndefined();
      expect(result.ok).toBe(true);
      if (r.app === 'znode') expect(result.stats['watch_cancelled']).toBeGreaterThan(0);
    });
  }
});
