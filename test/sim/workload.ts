/**
 * Simulated clients: each issues one register operation at a time (read, write or compare-and-set
 * on a few keys) to the node it believes leads, and records invoke/ok/fail/info in a history for
 * the linearizability checker. A request that outlives its timeout, or whose node crashes, ends
 * as `info`: it may or may not have happened.
 */
import { ErrorCode, isConclaveError } from '../../src/common/errors.js';
import type { Rng } from '../../src/common/rng.js';
import type { NodeId } from '../../src/raft/index.js';
import { HistoryRecorder, type OpHandle } from '../model/history.js';
import type { SimNode } from './sim-node.js';
import type { KvCommand, KvOutcome, KvValue } from './state-machine.js';

interface Outstanding {
  readonly handle: OpHandle;
  readonly node: NodeId;
  readonly invokedAt: number;
  /** Write/cas: the op id. Read: the read context. */
  readonly id: number;
}

export interface WorkloadOptions {
  readonly clients: number;
  readonly keys: number;
  readonly opRate: number;
  readonly timeoutTicks: number;
  /** Compare-and-set is part of the mix (not with the znode app, which has no value compare). */
  readonly cas: boolean;
}

export class Workload {
  readonly history: HistoryRecorder;
  readonly #rng: Rng;
  readonly #opts: WorkloadOptions;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #leaderGuess = new Map<number, NodeId>();
  #nextId = 1;
  #eventClock = 0;
  paused = false;
  okCount = 0;
  okSincePause = 0;
  invoked = 0;

  constructor(rng: Rng, opts: WorkloadOptions) {
    this.#rng = rng;
    this.#opts = opts;
    this.history = new HistoryRecorder(() => ++this.#eventClock);
  }

  outstanding(): number {
    return this.#outstanding.size;
  }

  /** One tick of client activity: time out stale requests, start new ones. */
  tick(now: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    for (const [client, o] of this.#outstanding) {
      if (now - o.invokedAt > this.#opts.timeoutTicks) {
        this.#outstanding.delete(client);
        if (o.handle.f === 'read') nodes.get(o.node)?.abandonRead(o.id);
        this.history.info(o.handle);
      }
    }
    if (this.paused) return;
    for (let client = 1; client <= this.#opts.clients; client++) {
      if (this.#outstanding.has(client) || !this.#rng.chance(this.#opts.opRate)) continue;
      this.#issue(now, client, nodes);
    }
  }

  #target(client: number, nodes: ReadonlyMap<NodeId, SimNode>): SimNode | undefined {
    const guess = this.#leaderGuess.get(client);
    const guessed = guess === undefined ? undefined : nodes.get(guess);
    if (guessed?.alive && this.#rng.chance(0.9)) return guessed;
    const alive = [...nodes.values()].filter((n) => n.alive);
    return alive.length === 0 ? undefined : this.#rng.pick(alive);
  }

  #issue(now: number, client: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    const node = this.#target(client, nodes);
    if (!node) return;
    const key = `k${this.#rng.int(1, this.#opts.keys)}`;
    const id = this.#nextId++;
    const kind = this.#rng.int(0, this.#opts.cas ? 2 : 1);
    this.invoked++;
    let handle: OpHandle;
    try {
      if (kind === 0) {
        handle = this.history.invoke(client, 'read', key, null);
        this.#outstanding.set(client, { handle, node: node.id, invokedAt: now, id });
        node.read(now, id, key);
      } else {
        const value = `v${id}`;
        const cmd: KvCommand =
          kind === 1
            ? { client, op: id, f: 'write', key, value }
            : { client, op: id, f: 'cas', key, value, expected: this.#rng.chance(0.3) ? null : `v${this.#rng.int(Math.max(1, id - 20), id)}` };
        handle = cmd.f === 'write' ? this.history.invoke(client, 'write', key, value) : this.history.invoke(client, 'cas', key, value, cmd.expected ?? null);
        this.#outstanding.set(client, { handle, node: node.id, invokedAt: now, id });
        node.propose(now, cmd);
      }
    } catch (err: unknown) {
      if (!isConclaveError(err)) throw err;
      // Rejected before anything entered a log: a definite failure.
      const o = this.#outstanding.get(client);
      if (o && o.id === id) {
        this.#outstanding.delete(client);
        this.history.fail(o.handle);
      }
      const hint = err.code === ErrorCode.NOT_LEADER ? err.details['leader'] : undefined;
      if (typeof hint === 'number' && hint > 0) this.#leaderGuess.set(client, hint);
      else this.#leaderGuess.delete(client);
    }
  }

  onWriteResult(node: SimNode, cmd: KvCommand, out: KvOutcome): void {
    const o = this.#outstanding.get(cmd.client);
    if (!o || o.id !== cmd.op || o.node !== node.id) return;
    this.#outstanding.delete(cmd.client);
    this.#leaderGuess.set(cmd.client, node.id);
    if (out.ok) {
      this.history.ok(o.handle);
      this.#countOk();
    } else this.history.fail(o.handle);
  }

  onReadResult(node: SimNode, context: number, value: KvValue): void {
    for (const [client, o] of this.#outstanding) {
      if (o.id !== context || o.node !== node.id) continue;
      this.#outstanding.delete(client);
      this.history.ok(o.handle, value);
      this.#countOk();
      return;
    }
  }

  /** The node crashed: whatever it was serving has an unknown outcome. */
  onCrash(node: NodeId): void {
    for (const [client, o] of this.#outstanding) {
      if (o.node !== node) continue;
      this.#outstanding.delete(client);
      this.history.info(o.handle);
    }
  }

  #countOk(): void {
    this.okCount++;
    if (this.paused) this.okSincePause++;
  }
}
