/**
 * Barriers on znodes (the ZooKeeper recipes), for processes that must wait for each other.
 *
 * `Barrier`: one node holds everyone back; `wait()` returns once it is gone (or at once if it never
 * existed). `DoubleBarrier`: `enter()` returns once `count` participants have entered, `leave()`
 * once all of them have left. Participants are ephemeral nodes, so a crashed one does not block
 * the others forever: its node goes with its session.
 */
import { ErrorCode, isConclaveError } from '../../common/errors.js';
import type { Client } from '../client.js';
import type { CallOptions } from '../types.js';
import { ensurePath } from './ensure-path.js';

export class Barrier {
  readonly #client: Client;
  readonly path: string;

  constructor(client: Client, path: string) {
    this.#client = client;
    this.path = path;
  }

  /** Raise the barrier (idempotent). */
  async set(): Promise<void> {
    await this.#client.create(this.path).catch((err: unknown) => (isConclaveError(err, ErrorCode.NODE_EXISTS) ? undefined : Promise.reject(err)));
  }

  /** Lower it: every waiter proceeds. */
  async remove(): Promise<void> {
    await this.#client.delete(this.path).catch((err: unknown) => (isConclaveError(err, ErrorCode.NO_NODE) ? undefined : Promise.reject(err)));
  }

  /** Resolve once the barrier is down. */
  async wait(opts: CallOptions = {}): Promise<void> {
    for (;;) {
      opts.signal?.throwIfAborted();
      const r = await this.#client.exists(this.path, { watch: true, ...(opts.signal ? { signal: opts.signal } : {}) });
      // A watch left armed may still fail later (the client closes): nobody waits for it then.
      r.watch?.catch(() => undefined);
      if (!r.stat) return;
      await r.watch;
    }
  }
}

export class DoubleBarrier {
  readonly #client: Client;
  readonly path: string;
  readonly count: number;
  readonly id: string;

  /** `count` participants meet at `path`; `id` names this one (unique among them). */
  constructor(client: Client, path: string, count: number, id: string) {
    this.#client = client;
    this.path = path;
    this.count = count;
    this.id = id;
  }

  /** Join, then wait until `count` participants have joined. */
  async enter(opts: CallOptions = {}): Promise<void> {
    await ensurePath(this.#client, this.path);
    await this.#client.create(`${this.path}/${this.id}`, undefined, { ephemeral: true }).catch((err: unknown) => (isConclaveError(err, ErrorCode.NODE_EXISTS) ? undefined : Promise.reject(err)));
    await this.#until((n) => n >= this.count, opts);
  }

  /** Leave, then wait until everyone has left. */
  async leave(opts: CallOptions = {}): Promise<void> {
    await this.#client.delete(`${this.path}/${this.id}`).catch((err: unknown) => (isConclaveError(err, ErrorCode.NO_NODE) ? undefined : Promise.reject(err)));
    await this.#until((n) => n === 0, opts);
  }

  async #until(done: (participants: number) => boolean, opts: CallOptions): Promise<void> {
    for (;;) {
      opts.signal?.throwIfAborted();
      const r = await this.#client.children(this.path, { watch: true, ...(opts.signal ? { signal: opts.signal } : {}) });
      r.watch?.catch(() => undefined);
      if (done(r.names.length)) return;
      await r.watch;
    }
  }
}
