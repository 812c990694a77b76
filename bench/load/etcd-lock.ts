/**
 * etcd's own lock service (v3lockpb.Lock, on every member's client port): Lock blocks server-side
 * until the name is held under the caller's lease and answers the ownership key; Unlock deletes that
 * key. A contender is one lease (granted and kept alive by the `etcd3` client); contenders share one
 * gRPC channel per member. The messages are in etcd-v3lock.proto beside this file.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Etcd3, Lease } from 'etcd3';
import type { Locker } from './adapter.js';

/** A Lock call waits server-side at most this long (then DEADLINE_EXCEEDED, and we ask again). */
const LOCK_WAIT_MS = 30_000;
const UNLOCK_TIMEOUT_MS = 10_000;
const LEASE_TTL_S = 30;

interface LockServiceClient extends grpc.Client {
  Lock(req: { name: Buffer; lease: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { key: Buffer }) => void): grpc.ClientUnaryCall;
  Unlock(req: { key: Buffer }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: object) => void): grpc.ClientUnaryCall;
}

let service: grpc.ServiceClientConstructor | undefined;

function lockService(): grpc.ServiceClientConstructor {
  if (service) return service;
  // Beside this file in the sources; three levels up and back down from dist/bench/load.
  const here = dirname(fileURLToPath(import.meta.url));
  const file = [join(here, 'etcd-v3lock.proto'), join(here, '../../../bench/load/etcd-v3lock.proto')].find((f) => existsSync(f));
  if (!file) throw new Error(`etcd-v3lock.proto not found near ${here}`);
  const def = protoLoader.loadSync(file, { keepCase: true, longs: String, defaults: true });
  service = (grpc.loadPackageDefinition(def) as unknown as { v3lockpb: { Lock: grpc.ServiceClientConstructor } }).v3lockpb.Lock;
  return service;
}

/** One channel per member, shared by the contenders that talk to it. */
export class EtcdLockChannels {
  readonly #clients = new Map<string, LockServiceClient>();

  get(endpoint: string): LockServiceClient {
    let c = this.#clients.get(endpoint);
    if (!c) {
      const Service = lockService();
      c = new Service(endpoint, grpc.credentials.createInsecure()) as unknown as LockServiceClient;
      this.#clients.set(endpoint, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}

export class EtcdLocker implements Locker {
  #key: Buffer | undefined;
  #call: grpc.ClientUnaryCall | undefined;
  #lostError: unknown;
  #closed = false;

  private constructor(
    private readonly rpc: LockServiceClient,
    private readonly lease: Lease,
    private readonly leaseId: string,
    private readonly name: Buffer,
  ) {
    lease.on('lost', (err) => (this.#lostError ??= err));
  }

  /** A new lease (kept alive until close) on `client`; the lock calls go through `rpc`. */
  static async open(client: Etcd3, rpc: LockServiceClient, name: string): Promise<EtcdLocker> {
    const lease = client.lease(LEASE_TTL_S);
    const id = await lease.grant();
    return new EtcdLocker(rpc, lease, id, Buffer.from(`bench/locks/${name}`));
  }

  async acquire(): Promise<void> {
    if (this.#key) throw new Error('etcd lock: acquire while holding');
    for (;;) {
      if (this.#closed) throw new Error('etcd lock: closed');
      if (this.#lostError) throw new Error(`etcd lock: lease lost: ${String(this.#lostError)}`);
      try {
        const res = await new Promise<{ key: Buffer }>((resolve, reject) => {
          this.#call = this.rpc.Lock({ name: this.name, lease: this.leaseId }, { deadline: Date.now() + LOCK_WAIT_MS }, (err, r) => (err || !r ? reject(err ?? new Error('etcd lock: empty answer')) : resolve(r)));
        });
        this.#key = res.key;
        return;
      } catch (err) {
        // The wait ran out (etcd took our key out of the line): join again at the back.
        if ((err as grpc.ServiceError).code !== grpc.status.DEADLINE_EXCEEDED) throw err;
      } finally {
        this.#call = undefined;
      }
    }
  }

  async release(): Promise<void> {
    const key = this.#key;
    if (!key) throw new Error('etcd lock: release without holding');
    this.#key = undefined;
    await new Promise<void>((resolve, reject) => {
      this.rpc.Unlock({ key }, { deadline: Date.now() + UNLOCK_TIMEOUT_MS }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Revoking the lease deletes its key: a held lock passes on, a waiting one leaves the line. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#call?.cancel();
    await this.lease.revoke();
  }
}
