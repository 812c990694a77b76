/** Every checker of a fault run, over one history. */
import type { HistoryEvent } from '../../model/history.js';
import { FENCE_KEY, LOCK_KEY } from '../keys.js';
import { type EphemeralCheckOptions, checkEphemerals } from './ephemerals.js';
import { checkLocks } from './locks.js';
import type { CheckerReport } from './ops.js';
import { checkRegisters } from './registers.js';
import { checkSets } from './sets.js';
import { checkWatches } from './watches.js';

export type { CheckerReport, Violation } from './ops.js';

export interface CheckAllOptions {
  /** Linearizability search budget (registers and ephemerals each get it). */
  readonly timeBudgetMs: number;
  readonly ephemerals: Omit<EphemeralCheckOptions, 'timeBudgetMs'>;
}

export function checkAll(events: readonly HistoryEvent[], opts: CheckAllOptions): CheckerReport[] {
  return [
    checkRegisters(events, opts.timeBudgetMs),
    checkSets(events),
    checkEphemerals(events, { ...opts.ephemerals, timeBudgetMs: opts.timeBudgetMs }),
    checkWatches(events),
    checkLocks(events, LOCK_KEY, FENCE_KEY),
  ];
}
