/**
 * Simulation seeds 1101..2200: whole clusters under faults, invariants after every step,
 * liveness after healing, linearizable client histories. Split across two files so both cores work.
 */
import { describeSeedChunks } from './seeds.js';

describeSeedChunks(1101, 11, 100);
