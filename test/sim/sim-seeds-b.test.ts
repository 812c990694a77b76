/**
 * Simulation seeds 501..1000: whole clusters under faults, invariants after every step,
 * liveness after healing, linearizable client histories. (`npm test` keeps 1,000 seeds to stay
 * within its time budget; wider sweeps: `npm run sim -- --seeds 10000 --seed N`.) Split across two files so both cores work.
 */
import { describeSeedChunks } from './seeds.js';

describeSeedChunks(501, 5, 100);
