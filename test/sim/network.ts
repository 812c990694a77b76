/**
 * A simulated network between Raft nodes: every message gets a seeded delay (which also reorders),
 * may be dropped or duplicated, and is blocked by partitions (directed cuts between nodes).
 */
import type { Rng } from '../../src/common/rng.js';
import type { Message, NodeId } from '../../src/raft/index.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayTicksMax: number;
}

interface InFlight {
  readonly deliverAt: number;
  readonly seq: number;
  readonly message: Message;
}

export class SimNetwork {
  readonly #rng: Rng;
  faults: NetworkFaults;
  #queue: InFlight[] = [];
  #seq = 0;
  /** Directed cuts: "from>to". */
  readonly #cuts = new Set<string>();
  delivered = 0;
  dropped = 0;

  constructor(rng: Rng, faults: NetworkFaults) {
    this.#rng = rng;
    this.faults = faults;
  }

  send(now: number, m: Message): void {
    if (this.#rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = this.#rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.#rng.int(1, Math.max(1, this.faults.delayTicksMax));
      this.#queue.push({ deliverAt: now + delay, seq: this.#seq++, message: m });
    }
  }

  /** Deliver `m` again at `at` (its receiver was paused). */
  defer(m: Message, at: number): void {
    this.#queue.push({ deliverAt: at, seq: this.#seq++, message: m });
  }

  /** Messages due by `now`, in (time, send order); blocked ones are dropped at delivery time. */
  due(now: number): Message[] {
    if (this.#queue.length === 0) return [];
    const ready: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.#queue) (f.deliverAt <= now ? ready : later).push(f);
    this.#queue = later;
    ready.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
    const out: Message[] = [];
    for (const f of ready) {
      if (this.isCut(f.message.from, f.message.to)) {
        this.dropped++;
        continue;
      }
      this.delivered++;
      out.push(f.message);
    }
    return out;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.#cuts.has(`${from}>${to}`);
  }

  cut(from: NodeId, to: NodeId): void {
    this.#cuts.add(`${from}>${to}`);
  }

  /** Cut both directions between every node of `side` and every node not in it. */
  partition(side: readonly NodeId[], all: readonly NodeId[]): void {
    for (const a of side) {
      for (const b of all) {
        if (side.includes(b)) continue;
        this.cut(a, b);
        this.cut(b, a);
      }
    }
  }

  healAll(): void {
    this.#cuts.clear();
  }

  hasCuts(): boolean {
    return this.#cuts.size > 0;
  }

  describeCuts(): string {
    return [...this.#cuts].sort().join(' ');
  }

  pending(): number {
    return this.#queue.length;
  }
}
