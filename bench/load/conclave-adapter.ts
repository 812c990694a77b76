/**
 * The load generator's view of Conclave, through this checkout's client SDK: one session, one
 * multiplexed stream to the leader. Key "a/b" is znode /a/b. Writes always go through the leader: a
 * client given only a follower's endpoint is redirected (NOT_LEADER + hint) when it connects.
 */
import { performance } from 'node:perf_hooks';
import { Client, ErrorCode, isConclaveError } from '../../src/index.js';
import type { Adapter, Locker, WatchEvent } from './adapter.js';

export class ConclaveAdapter implements Adapter {
  readonly name = 'conclave';

  private constructor(private readonly client: Client) {}

  static async connect(endpoints: string[]): Promise<ConclaveAdapter> {
    return new ConclaveAdapter(await Client.connect({ endpoints, requestTimeoutMs: 30_000 }));
  }

  /** A plain set; creates the node (and its parents) the first time. */
  async put(key: string, value: Uint8Array): Promise<void> {
    const path = toPath(key);
    try {
      await this.client.set(path, value);
      return;
    } catch (err) {
      if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
    }
    try {
      await this.createWithParents(path, value);
    } catch (err) {
      if (!isConclaveError(err, ErrorCode.NODE_EXISTS)) throw err;
      await this.client.set(path, value);
    }
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await this.client.create(toPath(key), value);
  }

  async get(key: string, opts: { linearizable: boolean }): Promise<Uint8Array | undefined> {
    try {
      return (await this.client.get(toPath(key), { consistency: opts.linearizable ? 'linearizable' : 'serializable' })).data;
    } catch (err) {
      if (isConclaveError(err, ErrorCode.NO_NODE)) return undefined;
      throw err;
    }
  }

  async version(key: string): Promise<number | undefined> {
    return (await this.client.exists(toPath(key))).stat?.version;
  }

  /** A persistent recursive watch; `withData` because only then do events carry the stat (version). */
  async watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: unknown) => void): Promise<() => Promise<void>> {
    const stream = this.client.watch(toPath(prefix), { recursive: true, withData: true, types: ['created', 'changed'] });
    void (async () => {
      for await (const e of stream) {
        if (e.stat) onEvent({ key: e.path.slice(1), version: e.stat.version, at: performance.now() });
      }
    })().catch((err: unknown) => onError?.(err));
    await stream.started;
    return async () => stream.close();
  }

  /** Its own session (a Conclave lock is owned by a session); a client given a follower moves to the leader. */
  async locker(name: string, endpoint: string): Promise<Locker> {
    return new ConclaveLocker(await Client.connect({ endpoints: [endpoint], requestTimeoutMs: 30_000 }), name);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private async createWithParents(path: string, data: Uint8Array): Promise<void> {
    try {
      await this.client.create(path, data);
    } catch (err) {
      const parent = path.slice(0, path.lastIndexOf('/'));
      if (!isConclaveError(err, ErrorCode.NO_NODE) || parent === '') throw err;
      await this.createWithParents(parent, new Uint8Array()).catch((e: unknown) => {
        if (!isConclaveError(e, ErrorCode.NODE_EXISTS)) throw e;
      });
      await this.client.create(path, data);
    }
  }
}

const toPath = (key: string) => (key.startsWith('/') ? key : `/${key}`);

/** The server's mutex: an acquire waits server-side, in FIFO order, until granted or its timeout. */
class ConclaveLocker implements Locker {
  constructor(
    private readonly client: Client,
    private readonly name: string,
  ) {}

  async acquire(): Promise<void> {
    // A wait that times out leaves the line (the server withdraws it); join again until granted.
    while (!(await this.client.acquireLock(this.name, { timeoutMs: 30_000 })).granted);
  }

  async release(): Promise<void> {
    await this.client.releaseLock(this.name);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
