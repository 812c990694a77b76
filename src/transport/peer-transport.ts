/**
 * The seam between a replica and its peers. Sends are best effort and never throw: Raft tolerates
 * loss, and a peer that cannot be reached is reported through `onUnreachable` so the leader can
 * fall back to probing. The gRPC transport (one stream per peer) and `InMemoryNetwork` below are
 * its two implementations.
 */
import type { Message, NodeId } from '../raft/index.js';

export interface PeerTransport {
  send(messages: readonly Message[]): void;
  /** Where incoming messages go; set once by the replica. */
  onMessage(handler: (m: Message) => void): void;
  onUnreachable(handler: (peer: NodeId) => void): void;
  close(): Promise<void>;
}

/**
 * Peers in one process, for tests: messages are delivered asynchronously (on a later turn of the
 * event loop, like a socket), links can be cut in either direction, and a closed member is gone.
 */
export class InMemoryNetwork {
  readonly #members = new Map<NodeId, InMemoryTransport>();
  readonly #cuts = new Set<string>();

  connect(id: NodeId): PeerTransport {
    const t = new InMemoryTransport(id, this);
    this.#members.set(id, t);
    return t;
  }

  /** Cut (or, with `cut = false`, restore) the link from `a` to `b`; `both` for both directions. */
  setLink(a: NodeId, b: NodeId, cut: boolean, both = true): void {
    for (const key of both ? [`${a}>${b}`, `${b}>${a}`] : [`${a}>${b}`]) {
      if (cut) this.#cuts.add(key);
      else this.#cuts.delete(key);
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.#members.keys()) if (other !== id) this.setLink(id, other, true);
  }

  healAll(): void {
    this.#cuts.clear();
  }

  deliver(m: Message): void {
    if (this.#cuts.has(`${m.from}>${m.to}`)) return;
    const target = this.#members.get(m.to);
    if (!target) {
      this.#members.get(m.from)?.reportUnreachable(m.to);
      return;
    }
    setImmediate(() => target.receive(m));
  }

  remove(id: NodeId, t: InMemoryTransport): void {
    if (this.#members.get(id) === t) this.#members.delete(id);
  }
}

class InMemoryTransport implements PeerTransport {
  readonly #id: NodeId;
  readonly #net: InMemoryNetwork;
  #handler: ((m: Message) => void) | undefined;
  #unreachable: ((peer: NodeId) => void) | undefined;
  #closed = false;

  constructor(id: NodeId, net: InMemoryNetwork) {
    this.#id = id;
    this.#net = net;
  }

  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) this.#net.deliver(m);
  }

  onMessage(handler: (m: Message) => void): void {
    this.#handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.#unreachable = handler;
  }

  receive(m: Message): void {
    if (!this.#closed) this.#handler?.(m);
  }

  reportUnreachable(peer: NodeId): void {
    if (!this.#closed) this.#unreachable?.(peer);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#net.remove(this.#id, this);
  }
}
