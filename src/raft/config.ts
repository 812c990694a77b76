/**
 * How a Raft node is configured. Time is counted in ticks the shell delivers; randomness comes
 * from the injected `Rng`, so a simulator seed replays exactly.
 */
import { ConclaveError, ErrorCode } from '../common/errors.js';
import { type RaftLimits, defaultRaftLimits, validateRaftLimits } from '../common/limits.js';
import type { Rng } from '../common/rng.js';
import type { Storage } from './storage.js';
import type { NodeId } from './types.js';

/**
 * Deliberate bugs, for proving that the simulator catches them. Never enabled outside tests.
 * - `vote-without-log-check`: grant votes without the §5.4.1 up-to-date check.
 * - `commit-old-term-by-count`: commit entries of older terms by counting replicas (§5.4.2).
 * - `read-without-quorum`: answer read-index requests without confirming leadership.
 * - `vote-twice-in-term`: grant a vote to a second candidate in a term already voted in.
 */
export type RaftMutation =
  | 'vote-without-log-check'
  | 'commit-old-term-by-count'
  | 'read-without-quorum'
  | 'vote-twice-in-term';

export const RAFT_MUTATIONS: readonly RaftMutation[] = [
  'vote-without-log-check',
  'commit-old-term-by-count',
  'read-without-quorum',
  'vote-twice-in-term',
];

export interface RaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly rng: Rng;
  /** A follower that hears from no leader for this many ticks (plus random jitter of up to as many again) campaigns. */
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly preVote?: boolean;
  readonly checkQuorum?: boolean;
  /** Followers reject proposals (NOT_LEADER with a hint) instead of forwarding them. */
  readonly disableProposalForwarding?: boolean;
  readonly limits?: Partial<RaftLimits>;
  readonly mutations?: ReadonlySet<RaftMutation>;
}

export interface ResolvedRaftConfig {
  readonly id: NodeId;
  readonly storage: Storage;
  readonly rng: Rng;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly disableProposalForwarding: boolean;
  readonly limits: RaftLimits;
  readonly mutations: ReadonlySet<RaftMutation>;
}

export function resolveRaftConfig(cfg: RaftConfig): ResolvedRaftConfig {
  const resolved: ResolvedRaftConfig = {
    id: cfg.id,
    storage: cfg.storage,
    rng: cfg.rng,
    electionTicks: cfg.electionTicks ?? 10,
    heartbeatTicks: cfg.heartbeatTicks ?? 1,
    preVote: cfg.preVote ?? true,
    checkQuorum: cfg.checkQuorum ?? true,
    disableProposalForwarding: cfg.disableProposalForwarding ?? false,
    limits: { ...defaultRaftLimits, ...cfg.limits },
    mutations: cfg.mutations ?? new Set(),
  };
  if (!Number.isInteger(resolved.id) || resolved.id <= 0) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, `node id must be a positive integer, got ${resolved.id}`);
  }
  if (resolved.heartbeatTicks <= 0 || resolved.electionTicks <= resolved.heartbeatTicks) {
    throw new ConclaveError(ErrorCode.INVALID_ARGUMENT, 'electionTicks must be greater than heartbeatTicks, both positive', {
      electionTicks: resolved.electionTicks,
      heartbeatTicks: resolved.heartbeatTicks,
    });
  }
  validateRaftLimits(resolved.limits);
  return resolved;
}
