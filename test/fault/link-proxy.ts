/**
 * A fault-injecting TCP proxy for ONE directed peer link A→B: member A dials it (`--peer-dial
 * B=<this proxy>`) and it forwards to B's peer listener. Raft traffic from A to B rides only on
 * connections A opens, so cutting this proxy silences A→B and nothing else (B→A has its own).
 *
 * Conditions, changed at any time:
 *  - `up`: bytes pass, optionally delayed (order kept) by `delayMs` plus up to `jitterMs`;
 *  - `down`: a blackhole, as a partition looks to TCP: connections stay open but every byte in
 *    either direction is discarded and new connections are accepted and held silent. On the way
 *    back up, connections that lost bytes are reset (their byte streams are torn), so the sender
 *    notices and reconnects;
 *  - `resetChance`: each chunk may reset its connection (a lossy link: TCP cannot drop a message
 *    without tearing the stream, so loss shows up as resets and retransmission by reconnecting).
 */
import { type Server, type Socket, createConnection, createServer } from 'node:net';

export interface LinkCondition {
  readonly down: boolean;
  readonly delayMs: number;
  readonly jitterMs: number;
  /** Chance that a chunk resets its connection instead of passing. */
  readonly resetChance: number;
}

export const HEALTHY_LINK: LinkCondition = Object.freeze({ down: false, delayMs: 0, jitterMs: 0, resetChance: 0 });

interface Pair {
  readonly inbound: Socket;
  readonly outbound: Socket | undefined;
  /** Bytes were discarded while down: this pair's streams are torn and must be reset on heal. */
  torn: boolean;
  /** When the last delayed chunk of each direction is due (keeps chunks in order). */
  dueForward: number;
  dueBackward: number;
}

export class LinkProxy {
  readonly from: number;
  readonly to: number;
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #condition: LinkCondition = HEALTHY_LINK;
  #target: { host: string; port: number };
  #random: () => number;
  port = 0;
  /** Counters for the run's report. */
  readonly stats = { connections: 0, resets: 0, bytesPassed: 0, bytesDiscarded: 0 };

  /** `random` decides resets and jitter (seeded by the suite, so a schedule replays as closely as real time allows). */
  constructor(from: number, to: number, target: { host: string; port: number }, random: () => number) {
    this.from = from;
    this.to = to;
    this.#target = target;
    this.#random = random;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = this.#server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return this.port;
  }

  get condition(): LinkCondition {
    return this.#condition;
  }

  set(condition: Partial<LinkCondition>): void {
    const wasDown = this.#condition.down;
    this.#condition = { ...this.#condition, ...condition };
    if (wasDown && !this.#condition.down) {
      for (const pair of [...this.#pairs]) if (pair.torn || !pair.outbound) this.#reset(pair);
    }
  }

  heal(): void {
    this.set(HEALTHY_LINK);
  }

  /** Cut every open connection now (the target restarted, or its slot was reused). */
  resetAll(): void {
    for (const pair of [...this.#pairs]) this.#reset(pair);
  }

  async close(): Promise<void> {
    this.resetAll();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(inbound: Socket): void {
    this.stats.connections++;
    inbound.setNoDelay(true);
    inbound.on('error', () => undefined);
    if (this.#condition.down) {
      // Held silent: as if the SYN and everything after it were lost; reset when the link heals.
      const pair: Pair = { inbound, outbound: undefined, torn: true, dueForward: 0, dueBackward: 0 };
      this.#pairs.add(pair);
      inbound.on('data', (chunk: Buffer) => void (this.stats.bytesDiscarded += chunk.length));
      inbound.on('close', () => this.#pairs.delete(pair));
      return;
    }
    const outbound = createConnection({ host: this.#target.host, port: this.#target.port });
    outbound.setNoDelay(true);
    outbound.on('error', () => undefined);
    const pair: Pair = { inbound, outbound, torn: false, dueForward: 0, dueBackward: 0 };
    this.#pairs.add(pair);
    inbound.on('data', (chunk: Buffer) => this.#carry(pair, chunk, outbound, 'dueForward'));
    outbound.on('data', (chunk: Buffer) => this.#carry(pair, chunk, inbound, 'dueBackward'));
    const closeBoth = (): void => {
      this.#pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('close', closeBoth);
    outbound.on('close', closeBoth);
  }

  #carry(pair: Pair, chunk: Buffer, to: Socket, due: 'dueForward' | 'dueBackward'): void {
    const c = this.#condition;
    if (c.down) {
      pair.torn = true;
      this.stats.bytesDiscarded += chunk.length;
      return;
    }
    if (c.resetChance > 0 && this.#random() < c.resetChance) {
      this.#reset(pair);
      return;
    }
    const delay = c.delayMs + (c.jitterMs > 0 ? this.#random() * c.jitterMs : 0);
    if (delay <= 0 && pair[due] <= performance.now()) {
      this.#write(pair, chunk, to);
      return;
    }
    const at = Math.max(pair[due], performance.now() + delay);
    pair[due] = at;
    setTimeout(() => {
      // A cut that came meanwhile swallows chunks still in the wire.
      if (this.#condition.down) {
        pair.torn = true;
        this.stats.bytesDiscarded += chunk.length;
      } else this.#write(pair, chunk, to);
    }, at - performance.now());
  }

  #write(pair: Pair, chunk: Buffer, to: Socket): void {
    if (pair.torn || to.destroyed) return;
    this.stats.bytesPassed += chunk.length;
    to.write(chunk);
  }

  #reset(pair: Pair): void {
    this.stats.resets++;
    this.#pairs.delete(pair);
    pair.inbound.resetAndDestroy();
    pair.outbound?.resetAndDestroy();
  }
}
