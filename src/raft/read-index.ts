/**
 * The leader's queue of linearizable reads (Raft thesis §6.4, batched). Each request records the
 * commit index at the moment it arrived and a round number. A heartbeat round carries the newest
 * round number; a follower echoing round r vouches for every request with round ≤ r, because it
 * still recognised this leader after those requests were registered. Once a quorum vouches, those
 * requests are released, in order. Nothing is reused across requests or terms.
 */
import { committedIndex } from './quorum.js';
import type { NodeId } from './types.js';

export interface PendingRead {
  readonly index: number;
  readonly context: number;
  /** Who asked: the leader itself or a follower that forwarded the request. */
  readonly from: NodeId;
  readonly round: number;
}

export class ReadIndexQueue {
  #pending: PendingRead[] = [];
  #round = 0;
  /** The round last broadcast; a new request needs a round greater than it. */
  #broadcastRound = 0;
  #acked = new Map<NodeId, number>();

  add(index: number, context: number, from: NodeId): void {
    this.#pending.push({ index, context, from, round: this.#round + 1 });
  }

  size(): number {
    return this.#pending.length;
  }

  /** Is a confirmation round owed for requests registered since the last broadcast? */
  needsRound(): boolean {
    const last = this.#pending[this.#pending.length - 1];
    return last !== undefined && last.round > this.#broadcastRound;
  }

  /** Start a round: the number to put in the heartbeats. */
  startRound(): number {
    this.#round++;
    this.#broadcastRound = this.#round;
    return this.#round;
  }

  /** The round a plain heartbeat should carry (echoes still confirm older requests). */
  currentRound(): number {
    return this.#broadcastRound;
  }

  /** Record an echo and release every request a quorum now vouches for. */
  ack(from: NodeId, round: number, self: NodeId, voters: readonly NodeId[]): PendingRead[] {
    if (round > (this.#acked.get(from) ?? 0)) this.#acked.set(from, round);
    return this.#release(self, voters);
  }

  /** Release everything (single-voter cluster: the leader's own vote is a quorum). */
  #release(self: NodeId, voters: readonly NodeId[]): PendingRead[] {
    const confirmed = committedIndex(voters, (id) => (id === self ? Number.MAX_SAFE_INTEGER : (this.#acked.get(id) ?? 0)));
    let n = 0;
    while (n < this.#pending.length && (this.#pending[n] as PendingRead).round <= confirmed) n++;
    return n === 0 ? [] : this.#pending.splice(0, n);
  }

  releaseIfQuorumOfOne(self: NodeId, voters: readonly NodeId[]): PendingRead[] {
    return this.#release(self, voters);
  }

  reset(): void {
    this.#pending = [];
    this.#acked.clear();
    this.#round = 0;
    this.#broadcastRound = 0;
  }
}
