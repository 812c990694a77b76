/**
 * Registers: every key under /fault/reg must be linearizable (read/write/cas), checked per key by
 * test/model's Wing & Gong / Lowe checker within a time budget; a key it cannot decide in time is
 * `unknown` (counted, not a violation).
 */
import type { HistoryEvent } from '../../model/history.js';
import { checkLinearizable } from '../../model/linearizability.js';
import { REGISTER_PREFIX, under } from '../keys.js';
import { type CheckerReport, type Violation, report } from './ops.js';

export function checkRegisters(events: readonly HistoryEvent[], timeBudgetMs: number): CheckerReport {
  const result = checkLinearizable(
    events.filter((e) => under(REGISTER_PREFIX, e.key)),
    { timeBudgetMs },
  );
  const violations: Violation[] = result.keys
    .filter((k) => k.verdict === 'illegal')
    .map((k) => ({ checker: 'registers', key: k.key, message: k.explanation ?? 'not linearizable', window: k.window ?? [] }));
  const unknown = result.keys.filter((k) => k.verdict === 'unknown');
  const notes = unknown.length > 0 ? [`${unknown.length} register keys undecided within ${timeBudgetMs} ms: ${unknown.map((k) => `${k.key} (${k.ops} ops)`).join(', ')}`] : [];
  return report('registers', violations, result.keys.length, unknown.length, notes);
}
