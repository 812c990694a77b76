/**
 * Majority arithmetic, kept apart so it can be read (and tested) on its own.
 */
import type { NodeId } from './types.js';

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value that a majority of voters have reached: sort descending and take the
 * majority-th. Voters missing from `values` count as 0.
 */
export function committedIndex(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.MAX_SAFE_INTEGER;
  const values = voters.map(valueOf).sort((a, b) => b - a);
  return values[majority(voters.length) - 1] as number;
}

export const VoteResult = {
  Pending: 'pending',
  Won: 'won',
  Lost: 'lost',
} as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return VoteResult.Won;
  if (rejected > voters.length - need) return VoteResult.Lost;
  return VoteResult.Pending;
}
