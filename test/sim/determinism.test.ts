import { describe, expect, it } from 'vitest';
import { Simulation, runSimulation } from './simulation.js';

describe('a seed replays exactly', () => {
  for (const seed of [7, 42, 1234, 99_999]) {
    it(`seed ${seed} produces the same trace, stats and fingerprint twice`, () => {
      const a = runSimulation({ seed, fullTrace: true });
      const b = runSimulation({ seed, fullTrace: true });
      expect(a.trace.length).toBeGreaterThan(5);
      expect(b.trace).toEqual(a.trace);
      expect(b.stats).toEqual(a.stats);
      expect(b.fingerprint).toBe(a.fingerprint);
    });
  }

  it('different seeds explore different runs', () => {
    const fingerprints = new Set([1, 2, 3, 4, 5].map((seed) => runSimulation({ seed }).fingerprint));
    expect(fingerprints.size).toBe(5);
  });

  it('the seed chooses the application (register map or the real znode tree), and --app overrides it', () => {
    const apps = new Set(Array.from({ length: 20 }, (_, i) => new Simulation({ seed: i + 1, steps: 10 }).scenario.app));
    expect(apps).toEqual(new Set(['kv', 'znode']));
    expect(new Simulation({ seed: 1, app: 'znode', steps: 10 }).scenario.app).toBe('znode');
    const z = runSimulation({ seed: 11, app: 'znode', fullTrace: true });
    expect(z.ok).toBe(true);
    expect(runSimulation({ seed: 11, app: 'znode', fullTrace: true }).fingerprint).toBe(z.fingerprint);
  });

  it('the seed chooses cluster size, and --nodes overrides it', () => {
    const sizes = new Set(Array.from({ length: 20 }, (_, i) => runSimulation({ seed: i + 1, steps: 50 }).nodes));
    expect(sizes).toEqual(new Set([3, 5]));
    expect(runSimulation({ seed: 3, nodes: 3, steps: 50 }).nodes).toBe(3);
  });
});
