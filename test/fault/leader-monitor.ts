/**
 * Watches who leads, by polling every member's status: each change of leader (or of its term) is
 * recorded with the interval it happened in. A new leader restarts every session deadline, so the
 * ephemerals checker counts these intervals as disturbances; the summary counts them.
 */
import type { FaultCluster } from './fault-cluster.js';

export interface LeaderChange {
  /** History time (ns): the change happened after `fromNs` (the previous poll) and by `atNs`. */
  readonly fromNs: number;
  readonly atNs: number;
  readonly leader: number;
  readonly term: number;
}

export class LeaderMonitor {
  readonly changes: LeaderChange[] = [];
  readonly #cluster: FaultCluster;
  readonly #now: () => number;
  #last: { leader: number; term: number } | undefined;
  #lastPollNs = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(cluster: FaultCluster, now: () => number) {
    this.#cluster = cluster;
    this.#now = now;
  }

  start(periodMs: number): void {
    this.#lastPollNs = this.#now();
    this.#timer = setInterval(() => void this.#poll(), periodMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const from = this.#lastPollNs;
      const leader = await this.#cluster.leader();
      const at = this.#now();
      this.#lastPollNs = at;
      if (leader && (leader.id !== this.#last?.leader || leader.term !== this.#last.term)) {
        if (this.#last) this.changes.push({ fromNs: from, atNs: at, leader: leader.id, term: leader.term });
        this.#last = { leader: leader.id, term: leader.term };
      }
    } finally {
      this.#polling = false;
    }
  }
}
