/**
 * A Curator-style mutex over plain ZooKeeper calls, one session per contender. To acquire, create an
 * EPHEMERAL_SEQUENTIAL child `lock-` of `/bench/locks/<name>`; the lowest sequence number holds the
 * lock. Anyone else watches only the child just below its own (exists() with a watch), so a release
 * wakes one contender, not all of them, and looks again when that child is gone: it may have left the
 * line without ever holding the lock. Release deletes the child.
 */
import zookeeper from 'node-zookeeper-client';
import type { Client, Stat } from 'node-zookeeper-client';
import type { Locker } from './adapter.js';
import { call } from './zookeeper-calls.js';

const PREFIX = 'lock-';

export class ZooKeeperLocker implements Locker {
  /** Our child while we wait or hold, as a full path. */
  #node: string | undefined;
  /** Fails the wait in progress (close). */
  #abort: ((err: Error) => void) | undefined;
  #closed = false;

  private constructor(
    private readonly client: Client,
    private readonly dir: string,
  ) {}

  /** Takes over `client` (closed with the locker); creates the lock's parent if needed. */
  static async open(client: Client, name: string): Promise<ZooKeeperLocker> {
    const dir = `/bench/locks/${name}`;
    try {
      await call<string>((cb) => client.mkdirp(dir, cb));
    } catch (err) {
      client.close();
      throw err;
    }
    return new ZooKeeperLocker(client, dir);
  }

  async acquire(): Promise<void> {
    if (this.#node !== undefined) throw new Error(`zookeeper lock ${this.dir}: acquire while waiting or holding`);
    const node = await call<string>((cb) => this.client.create(`${this.dir}/${PREFIX}`, Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    this.#node = node;
    const mine = node.slice(this.dir.length + 1);
    try {
      for (;;) {
        // Same prefix and a zero-padded 10-digit suffix: name order is sequence order.
        const line = (await call<string[]>((cb) => this.client.getChildren(this.dir, cb))).filter((c) => c.startsWith(PREFIX)).sort();
        const at = line.indexOf(mine);
        if (at < 0) throw new Error(`zookeeper lock: ${node} is gone (session lost?)`);
        if (at === 0) return;
        await this.#whileExists(`${this.dir}/${line[at - 1]}`);
      }
    } catch (err) {
      this.#node = undefined;
      // Leave the line; if the session is gone, so is the node.
      await call<void>((cb) => this.client.remove(node, -1, cb)).catch(() => undefined);
      throw err;
    }
  }

  async release(): Promise<void> {
    const node = this.#node;
    if (node === undefined) throw new Error(`zookeeper lock ${this.dir}: release without holding`);
    this.#node = undefined;
    await call<void>((cb) => this.client.remove(node, -1, cb));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.(new Error(`zookeeper lock ${this.dir}: closed while waiting`));
    this.client.close(); // the session's ephemeral child goes with it
  }

  /** Resolves once `path` does not exist (any event on it means: look again). */
  async #whileExists(path: string): Promise<void> {
    if (this.#closed) throw new Error(`zookeeper lock ${this.dir}: closed`);
    let fired!: () => void;
    const gone = new Promise<void>((resolve, reject) => {
      fired = resolve;
      this.#abort = reject;
    });
    try {
      const stat = await call<Stat | null>((cb) => this.client.exists(path, () => fired(), cb));
      if (stat) await gone;
    } finally {
      this.#abort = undefined;
    }
  }
}
