/**
 * Simulation seeds 1..1100: whole clusters under faults, invariants after every step,
 * liveness after healing, linearizable client histories. Split across two files so both cores work.
 */
import { describeSeedChunks } from './seeds.js';

describeSeedChunks(1, 11, 100);
