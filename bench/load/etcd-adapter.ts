/** The load generator's view of etcd, through the `etcd3` client (grpc-js underneath). */
import { Etcd3 } from 'etcd3';
import { performance } from 'node:perf_hooks';
import type { Adapter, Locker, WatchEvent } from './adapter.js';
import { EtcdLockChannels, EtcdLocker } from './etcd-lock.js';

export class EtcdAdapter implements Adapter {
  readonly name = 'etcd';
  private readonly client: Etcd3;
  private readonly lockChannels = new EtcdLockChannels();

  /** `endpoints` as `host:port`; the client balances across them. */
  constructor(endpoints: string[]) {
    this.client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    await this.client.put(key).value(asBuffer(value)).exec();
  }

  async create(key: string, value: Uint8Array): Promise<void> {
    await this.put(key, value);
  }

  async get(key: string, opts: { linearizable: boolean }): Promise<Uint8Array | undefined> {
    return (await this.client.get(key).serializable(!opts.linearizable).buffer()) ?? undefined;
  }

  async version(key: string): Promise<number | undefined> {
    const kv = (await this.client.get(key).exec()).kvs[0];
    return kv ? Number(kv.version) : undefined;
  }

  async watch(prefix: string, onEvent: (e: WatchEvent) => void, onError?: (err: unknown) => void): Promise<() => Promise<void>> {
    const watcher = await this.client.watch().prefix(prefix).create();
    watcher.on('error', (err) => onError?.(err));
    watcher.on('put', (kv) => onEvent({ key: kv.key.toString(), version: Number(kv.version), at: performance.now() }));
    return () => watcher.cancel();
  }

  /** Its own lease (through this client, kept alive) on etcd's lock service at `endpoint` (etcd-lock.ts). */
  async locker(name: string, endpoint: string): Promise<Locker> {
    return EtcdLocker.open(this.client, this.lockChannels.get(endpoint), name);
  }

  async close(): Promise<void> {
    this.lockChannels.close();
    this.client.close();
  }
}

const asBuffer = (v: Uint8Array) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
