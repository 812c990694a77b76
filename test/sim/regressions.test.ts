/**
 * Seeds that once failed, kept as named regressions (STYLE habit 4). Each replays exactly.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';

const REGRESSIONS: ReadonlyArray<{ seed: number; what: string }> = [
  {
    seed: 706729,
    what:
      'a follower applied older conf changes on top of the membership of a snapshot it was installing ' +
      '(a learner reappeared; liveness failed). The core now keeps the applied membership apart.',
  },
  { seed: 707470, what: 'durability checker: a commit decided just before a promotion took effect needs the smaller majority' },
  { seed: 708017, what: 'durability checker: as above, with a different interleaving' },
];

describe('simulation regressions', () => {
  for (const r of REGRESSIONS) {
    it(`seed ${r.seed}: ${r.what}`, () => {
      const result = runSimulation({ seed: r.seed, app: 'kv' });
      expect(result.violation).toBeUndefined();
      expect(result.ok).toBe(true);
    });
  }
});
