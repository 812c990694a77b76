/**
 * One `LinkProxy` per directed link between member slots, so the suite can cut any link one way
 * or both ways, isolate a member, split the cluster, and delay or disturb every link. Member A is
 * started with `--peer-dial B=<proxy A→B>,…` (`dialArg`), so all its peer traffic passes here.
 */
import { type LinkCondition, LinkProxy } from './link-proxy.js';

export class ProxyMesh {
  readonly #links = new Map<string, LinkProxy>();
  readonly ids: readonly number[];

  private constructor(ids: readonly number[]) {
    this.ids = ids;
  }

  /** Proxies for every ordered pair of `peerPorts`' ids, each forwarding to the second's peer port. */
  static async start(peerPorts: ReadonlyMap<number, number>, random: () => number): Promise<ProxyMesh> {
    const mesh = new ProxyMesh([...peerPorts.keys()].sort((a, b) => a - b));
    for (const from of mesh.ids) {
      for (const to of mesh.ids) {
        if (from === to) continue;
        const link = new LinkProxy(from, to, { host: '127.0.0.1', port: peerPorts.get(to) as number }, random);
        await link.listen();
        mesh.#links.set(key(from, to), link);
      }
    }
    return mesh;
  }

  link(from: number, to: number): LinkProxy {
    const l = this.#links.get(key(from, to));
    if (!l) throw new Error(`no link ${from}→${to}`);
    return l;
  }

  /** The `--peer-dial` value for member `from`: every other slot through its proxy. */
  dialArg(from: number): string {
    return this.ids
      .filter((to) => to !== from)
      .map((to) => `${to}=127.0.0.1:${this.link(from, to).port}`)
      .join(',');
  }

  cut(from: number, to: number): void {
    this.link(from, to).set({ down: true });
  }

  /** Cut both directions between `a` and `b`. */
  cutBoth(a: number, b: number): void {
    this.cut(a, b);
    this.cut(b, a);
  }

  /** Cut `id` off from every other member, both ways. */
  isolate(id: number): void {
    for (const other of this.ids) if (other !== id) this.cutBoth(id, other);
  }

  /** Cut every link between members of different groups (members in no group are cut off from all). */
  partition(groups: readonly (readonly number[])[]): void {
    const groupOf = new Map<number, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const from of this.ids) {
      for (const to of this.ids) {
        if (from === to) continue;
        const a = groupOf.get(from);
        if (a === undefined || a !== groupOf.get(to)) this.cut(from, to);
      }
    }
  }

  /** The same condition on every link (delay, lossy resets). */
  setAll(condition: Partial<LinkCondition>): void {
    for (const l of this.#links.values()) l.set(condition);
  }

  heal(): void {
    for (const l of this.#links.values()) l.heal();
  }

  /** The links that are down now, as `a→b` strings (for the fault log). */
  downLinks(): string[] {
    return [...this.#links.values()].filter((l) => l.condition.down).map((l) => `${l.from}→${l.to}`);
  }

  stats(): { connections: number; resets: number; bytesPassed: number; bytesDiscarded: number } {
    const total = { connections: 0, resets: 0, bytesPassed: 0, bytesDiscarded: 0 };
    for (const l of this.#links.values()) {
      total.connections += l.stats.connections;
      total.resets += l.stats.resets;
      total.bytesPassed += l.stats.bytesPassed;
      total.bytesDiscarded += l.stats.bytesDiscarded;
    }
    return total;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((l) => l.close()));
  }
}

function key(from: number, to: number): string {
  return `${from}>${to}`;
}
