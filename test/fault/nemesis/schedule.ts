/**
 * The fault schedule: rounds, each every fault kind once in an order drawn from the run's seed, so
 * a run of one round covers every kind and longer runs keep covering all of them. How long each
 * fault lasts is drawn too; which member it hits is decided when it starts (it depends on who leads).
 */
import type { Rng } from '../../../src/common/rng.js';

export const FAULT_KINDS = [
  'kill-leader',
  'kill-follower',
  'kill-all',
  'pause-leader',
  'pause-follower',
  'isolate-leader',
  'isolate-follower',
  'split-majority',
  'bridge',
  'one-way-leader-out',
  'one-way-leader-in',
  'random-links',
  'delay',
  'lossy',
  'membership',
  'replace-member',
  'transfer-leadership',
  'snapshot-lagging',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultPlan {
  readonly kind: FaultKind;
  /** How long the fault is held before it heals (a process stays down or paused, a link cut). */
  readonly holdMs: number;
  /** Seeds the fault's own choices (victims, link conditions). */
  readonly seed: number;
}

export interface ScheduleTiming {
  /** Partitions, delays and lossy links are held this long (ms, [min, max]). */
  readonly holdMs: readonly [number, number];
  /** Pauses: longer than both the session timeout and the election timeout. */
  readonly pauseMs: readonly [number, number];
  /** A killed member stays down this long before it restarts. */
  readonly downMs: readonly [number, number];
}

export function parseFaultKinds(list: string): FaultKind[] {
  const kinds = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const known: readonly string[] = FAULT_KINDS;
  for (const k of kinds) if (!known.includes(k)) throw new Error(`unknown fault kind "${k}"; known: ${known.join(', ')}`);
  return kinds as FaultKind[];
}

export function* faultSchedule(rng: Rng, timing: ScheduleTiming, kinds: readonly FaultKind[] = FAULT_KINDS): Generator<FaultPlan, never, undefined> {
  for (;;) {
    const round = [...kinds];
    for (let i = round.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [round[i], round[j]] = [round[j] as FaultKind, round[i] as FaultKind];
    }
    for (const kind of round) {
      const range = kind.startsWith('pause') ? timing.pauseMs : kind.startsWith('kill') ? timing.downMs : timing.holdMs;
      yield { kind, holdMs: rng.int(range[0], range[1]), seed: rng.int(1, 0x7fffffff) };
    }
  }
}
