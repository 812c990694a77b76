/**
 * What every workload gets: the cluster's endpoints, the shared history recorder, a seeded RNG, a
 * stop signal, fresh process ids (one per SDK client: a client that lost its session is replaced
 * under a new id) and the pool of open clients, closed at the end of the run.
 */
import { Client } from '../../../src/client/index.js';
import type { ClientOptions } from '../../../src/client/index.js';
import type { Rng } from '../../../src/common/rng.js';
import type { HistoryRecorder } from '../../model/history.js';

export interface WorkloadContext {
  readonly endpoints: readonly string[];
  readonly recorder: HistoryRecorder;
  readonly rng: Rng;
  /** Aborted when the workloads should finish their current operation and wind down. */
  readonly stop: AbortSignal;
  readonly clients: ClientPool;
  /** Session timeout the workloads' clients ask for. */
  readonly sessionTimeoutMs: number;
  /** Deadline of one SDK call, retries included; past it the call's outcome is unknown. */
  readonly requestTimeoutMs: number;
  newProcess(): number;
  log(line: string): void;
}

/** The SDK clients a run opens: connected with retries, closed together at the end. */
export class ClientPool {
  readonly #open = new Set<Client>();

  /** Connect (retrying while the cluster has no leader) until connected or `stop` aborts. */
  async connect(ctx: Pick<WorkloadContext, 'endpoints' | 'stop'>, opts: Omit<ClientOptions, 'endpoints'>): Promise<Client | undefined> {
    for (let attempt = 0; !ctx.stop.aborted; attempt++) {
      try {
        const client = await Client.connect({ endpoints: ctx.endpoints, connectTimeoutMs: 5000, ...opts });
        this.#open.add(client);
        return client;
      } catch {
        await thinkTime(Math.min(1000, 100 * 2 ** attempt), ctx.stop);
      }
    }
    return undefined;
  }

  /** Close and forget one client (its session ends now, its ephemerals go). */
  async close(client: Client): Promise<void> {
    this.#open.delete(client);
    await client.close().catch(() => undefined);
  }

  /** Forget a client without closing it: the caller abandoned it (a simulated crash) and closes it later. */
  abandon(client: Client): void {
    this.#open.delete(client);
  }

  async closeAll(): Promise<void> {
    const all = [...this.#open];
    this.#open.clear();
    await Promise.all(all.map((c) => c.close().catch(() => undefined)));
  }
}

/** One client for a run's finishing reads, replaced if its session is lost. */
export class ReconnectingClient {
  readonly #ctx: WorkloadContext;
  readonly #signal: AbortSignal;
  #client: Client | undefined;
  #replacing: Promise<Client | undefined> | undefined;

  constructor(ctx: WorkloadContext, signal: AbortSignal) {
    this.#ctx = ctx;
    this.#signal = signal;
  }

  /** A client whose session is not lost (undefined once `signal` aborts first); shared by concurrent callers. */
  get(): Promise<Client | undefined> {
    if (this.#client && this.#client.state !== 'lost') return Promise.resolve(this.#client);
    this.#replacing ??= this.#replace().finally(() => {
      this.#replacing = undefined;
    });
    return this.#replacing;
  }

  async #replace(): Promise<Client | undefined> {
    if (this.#client) await this.#ctx.clients.close(this.#client);
    this.#client = await this.#ctx.clients.connect({ endpoints: this.#ctx.endpoints, stop: this.#signal }, { sessionTimeoutMs: this.#ctx.sessionTimeoutMs, requestTimeoutMs: this.#ctx.requestTimeoutMs });
    return this.#client;
  }

  async close(): Promise<void> {
    if (this.#client) await this.#ctx.clients.close(this.#client);
  }
}

/**
 * Pacing between a worker's operations (and a workload's own rhythm): a deliberate pause, not a
 * stand-in for a condition. Ends early when `signal` aborts.
 */
export function thinkTime(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Data of a znode as text. */
export function text(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}
