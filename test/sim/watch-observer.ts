/**
 * Watches under simulated faults. `WatchTruth` records the change events every replica produced at
 * every zxid (all replicas must agree exactly). `WatchObserver` is a client keeping one recursive
 * watch on `/` through some live replica; when that replica crashes, its state is replaced by a
 * snapshot, or the client drops the connection, it resumes on a random live replica from the last
 * zxid it received. A resume refused with COMPACTED starts a new segment (a real client re-reads).
 * At the end, each segment must hold exactly the committed events in its range, in order, once.
 */
import { isConclaveError, ErrorCode } from '../../src/common/errors.js';
import type { Rng } from '../../src/common/rng.js';
import type { NodeId } from '../../src/raft/index.js';
import type { ChangeEvent } from '../../src/state/index.js';
import type { WatchEvent, WatchFrame } from '../../src/watches/index.js';
import type { SimNode } from './sim-node.js';
import { ZnodeApp } from './znode-app.js';

const describe = (events: readonly ChangeEvent[] | readonly WatchEvent[]): string => events.map((e) => `${e.type} ${e.path}`).join('; ');

function firstDifference(a: readonly (ChangeEvent | WatchEvent)[], b: readonly (ChangeEvent | WatchEvent)[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y || x.zxid !== y.zxid || x.type !== y.type || x.path !== y.path) return i;
  }
  return -1;
}

export class WatchTruth {
  readonly #byZxid = new Map<number, readonly ChangeEvent[]>();

  /** What a replica produced at `zxid`; a problem if another replica produced something else. */
  record(zxid: number, events: readonly ChangeEvent[]): string | undefined {
    const seen = this.#byZxid.get(zxid);
    if (!seen) {
      this.#byZxid.set(zxid, events);
      return undefined;
    }
    return describe(seen) === describe(events) ? undefined : `replicas disagree on the events of zxid ${zxid}: [${describe(seen)}] vs [${describe(events)}]`;
  }

  /** The events a recursive watch on `/` must see for zxids in (from, to]. */
  between(from: number, to: number): ChangeEvent[] {
    const out: ChangeEvent[] = [];
    for (const [zxid, events] of [...this.#byZxid].sort(([a], [b]) => a - b)) {
      if (zxid > from && zxid <= to) for (const e of events) if (e.type !== 'children') out.push(e);
    }
    return out;
  }
}

interface Segment {
  readonly start: number;
  readonly events: WatchEvent[];
}

interface Attachment {
  readonly nodeId: NodeId;
  readonly app: ZnodeApp;
  readonly watcherId: number;
}

export class WatchObserver {
  readonly #rng: Rng;
  readonly #truth: WatchTruth;
  readonly #segments: Segment[] = [];
  #attached: Attachment | undefined;
  #last = 0;
  #retryAt = 0;
  #problem: string | undefined;
  readonly stats = { attaches: 0, resumes: 0, compacted: 0, cancelled: 0, events: 0 };

  constructor(rng: Rng, truth: WatchTruth) {
    this.#rng = rng;
    this.#truth = truth;
  }

  tick(now: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    const a = this.#attached;
    if (a) {
      const node = nodes.get(a.nodeId);
      if (!node?.alive || node.sm !== a.app) this.#attached = undefined; // crashed, or restarted with new state
      else if (this.#rng.chance(0.01)) this.#detach(); // the client drops the connection
    }
    if (this.#attached || now < this.#retryAt) return;
    const live = [...nodes.values()].filter((n) => n.alive && n.sm instanceof ZnodeApp);
    if (live.length === 0) return;
    const node = this.#rng.pick(live);
    const app = node.sm as ZnodeApp;
    const watcherId = app.watches.openWatcher({ send: (f) => this.#receive(f) });
    const resuming = this.#segments.length > 0;
    try {
      app.watches.watch(watcherId, 1, { path: '/', recursive: true, withData: false, ...(resuming ? { fromZxid: this.#last } : {}) });
    } catch (err: unknown) {
      app.watches.closeWatcher(watcherId);
      if (isConclaveError(err, ErrorCode.COMPACTED)) {
        // Too far behind this replica's window: a real client re-reads; here, a new segment.
        this.stats.compacted++;
        const fresh = app.watches.openWatcher({ send: (f) => this.#receive(f) });
        app.watches.watch(fresh, 1, { path: '/', recursive: true, withData: false });
        this.#attached = { nodeId: node.id, app, watcherId: fresh };
        this.stats.attaches++;
        return;
      }
      if (!isConclaveError(err, ErrorCode.UNAVAILABLE)) throw err;
      this.#retryAt = now + 3; // that replica is behind what we have seen
      return;
    }
    this.#attached = { nodeId: node.id, app, watcherId };
    this.stats.attaches++;
    if (resuming) this.stats.resumes++;
  }

  #detach(): void {
    const a = this.#attached;
    if (!a) return;
    a.app.watches.closeWatcher(a.watcherId);
    this.#attached = undefined;
  }

  #receive(f: WatchFrame): number {
    switch (f.kind) {
      case 'started':
        if (this.#segments.length === 0 || f.zxid !== this.#last) this.#segments.push({ start: f.zxid, events: [] });
        this.#last = f.zxid;
        break;
      case 'event':
        this.stats.events++;
        if (f.event.zxid < this.#last) this.#problem ??= `watch event at zxid ${f.event.zxid} after one at ${this.#last}`;
        this.#last = f.event.zxid;
        this.#segments[this.#segments.length - 1]?.events.push(f.event);
        break;
      case 'cancelled':
        this.stats.cancelled++;
        this.#attached = undefined;
        break;
      case 'progress':
        break;
    }
    return 0;
  }

  /** Every segment holds exactly the committed events of its range, in order, once. */
  check(): string | undefined {
    if (this.#problem) return this.#problem;
    for (const [i, seg] of this.#segments.entries()) {
      const end = i + 1 < this.#segments.length ? (this.#segments[i + 1] as Segment).start : this.#last;
      // A later segment may start below this one's last event (a COMPACTED restart on a replica behind); compare up to what was received.
      const to = Math.min(end, seg.events.length > 0 ? (seg.events[seg.events.length - 1] as WatchEvent).zxid : seg.start);
      const want = this.#truth.between(seg.start, to);
      const got = seg.events.filter((e) => e.zxid <= to);
      const at = firstDifference(want, got);
      if (at >= 0) {
        const show = (xs: readonly (ChangeEvent | WatchEvent)[]): string => xs.slice(Math.max(0, at - 2), at + 3).map((e) => `${e.zxid} ${e.type} ${e.path}`).join('; ') || 'nothing';
        return `watch segment ${i} from zxid ${seg.start}: event #${at} differs: expected [${show(want)}], got [${show(got)}]`;
      }
    }
    return undefined;
  }
}
