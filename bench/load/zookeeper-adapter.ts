/** The load generator's view of ZooKeeper, through `node-zookeeper-client`. Key "a/b" is znode /a/b. */
import type { Client, Stat } from 'node-zookeeper-client';
import { performance } from 'node:perf_hooks';
import type { Adapter, Locker, WatchEvent } from './adapter.js';
import { Exception, call, code, connectZooKeeper } from './zookeeper-calls.js';
import { ZooKeeperLocker } from './zookeeper-lock.js';

export class ZooKeeperAdapter implements Adapter {
  readonly name = 'zookeeper';

  private constructor(private readonly client: Client) {}

  /** One session; `endpoints` as `host:port` (the client picks one of them). */
  static async connect(endpoints: string[], timeoutMs = 10_000): Promise<ZooKeeperAdapter> {
    return new ZooKeeperAdapter(await connectZooKeeper(endpoints, timeoutMs));
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const path = toPath(key);
    const data = asBuffer(value);
    try {
      await call<Stat>((cb) => this.client.setData(path, data, -1, cb));
      return;
    } catch (err) {
      if (code(err) !== Exception.NO_NODE) throw err;
    }
    try {
      await this.createWithParents(path, data);
    } catch (err) {
      if (code(err) !== Exception.NODE_EXISTS) throw err;
      await call<Stat>((cb) => this.client.setData(path, data, -1, cb));
    }
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await call<string>((cb) => this.client.create(toPath(key), asBuffer(value), cb));
  }

  async get(key: string, opts: { linearizable: boolean }): Promise<Uint8Array | undefined> {
    const path = toPath(key);
    // The session is FIFO and the member holds a read behind the session's pending sync, so the
    // getData can go out right behind the sync rather than a round trip later.
    const synced = opts.linearizable ? this.sync(path) : undefined;
    const read = call<Buffer>((cb) => this.client.getData(path, cb));
    try {
      await synced;
      return (await read) ?? undefined;
    } catch (err) {
      if (code(err) === Exception.NO_NODE) return undefined;
      throw err;
    }
  }

  async version(key: string): Promise<number | undefined> {
    const stat = await call<Stat | null>((cb) => this.client.exists(toPath(key), cb));
    return stat?.version;
  }

  /** ZooKeeper watches are one-shot and per node: this watches the node at `prefix` and re-arms. */
  async watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: unknown) => void): Promise<() => Promise<void>> {
    const path = toPath(prefix);
    let cancelled = false;
    const arm = async (emit: boolean): Promise<void> => {
      const watcher = () => {
        if (!cancelled) arm(true).catch((err: unknown) => onError?.(err));
      };
      try {
        const stat = await new Promise<Stat>((resolve, reject) =>
          this.client.getData(path, watcher, (err, _data, s) => (err ? reject(err) : resolve(s))),
        );
        if (emit && !cancelled) onEvent({ key: prefix, version: stat.version, at: performance.now() });
      } catch (err) {
        if (code(err) !== Exception.NO_NODE) throw err;
        await call<Stat>((cb) => this.client.exists(path, watcher, cb));
      }
    };
    await arm(false);
    return async () => {
      cancelled = true; // the client cannot remove a watch; a later firing is ignored
    };
  }

  /** Its own session, with the recipe of zookeeper-lock.ts. */
  async locker(name: string, endpoint: string): Promise<Locker> {
    return ZooKeeperLocker.open(await connectZooKeeper([endpoint]), name);
  }

  async close(): Promise<void> {
    this.client.close();
  }

  private async createWithParents(path: string, data: Buffer): Promise<void> {
    try {
      await call<string>((cb) => this.client.create(path, data, cb));
    } catch (err) {
      const parent = path.slice(0, path.lastIndexOf('/'));
      if (code(err) !== Exception.NO_NODE || parent === '') throw err;
      await call<string>((cb) => this.client.mkdirp(parent, cb));
      await call<string>((cb) => this.client.create(path, data, cb));
    }
  }

  /**
   * node-zookeeper-client has no sync(). This queues a raw SYNC request (opcode 9, then the path)
   * on the session; the request is labelled a delete so the client reads the reply as payload-free
   * (the reply's path is skipped by its length framing).
   */
  private sync(path: string): Promise<void> {
    const manager = (this.client as unknown as { connectionManager: ConnectionManager }).connectionManager;
    const header = { xid: 0, type: OP_DELETE };
    const request = {
      header,
      payload: undefined,
      toBuffer(): Buffer {
        const p = Buffer.from(path);
        const buf = Buffer.alloc(16 + p.length);
        buf.writeInt32BE(12 + p.length, 0);
        buf.writeInt32BE(header.xid, 4); // assigned by the connection manager just before this call
        buf.writeInt32BE(OP_SYNC, 8);
        buf.writeInt32BE(p.length, 12);
        p.copy(buf, 16);
        return buf;
      },
    };
    return new Promise((resolve, reject) => manager.queue(request, (err) => (err ? reject(err) : resolve())));
  }
}

const OP_DELETE = 2;
const OP_SYNC = 9;

interface ConnectionManager {
  queue(request: object, callback: (err: unknown) => void): void;
}

const toPath = (key: string) => (key.startsWith('/') ? key : `/${key}`);
const asBuffer = (v: Uint8Array) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
