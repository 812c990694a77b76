/**
 * Simulation seeds 1..1100: whole clusters under faults, invariants after every step,
 * liveness after healing, linearizable client histories. Split across two files so both cores work.
 */
import { describe, expect, it } from 'vitest';
import { runSeedRange } from './seeds.js';

const FIRST = 1;
const CHUNK = 100;
const CHUNKS = 11;

describe('simulated clusters under faults', () => {
  for (let c = 0; c < CHUNKS; c++) {
    const first = FIRST + c * CHUNK;
    it(`seeds ${first}..${first + CHUNK - 1} keep every invariant`, () => {
      expect(runSeedRange(first, CHUNK)).toEqual([]);
    });
  }
});
