/**
 * Leader election on a server-side lock: `campaign(value)` waits in line (FIFO) until this client
 * leads and proclaims `value`; `proclaim` changes the value while leading; `resign` steps down;
 * `leader()` says who leads now; `observe()` yields every change of leader (through a watch on
 * the lock's mirror node, `/conclave/locks/<name>`).
 */
import type { Client } from '../client.js';
import { lockNodePath } from '../../state/lock-name.js';
import type { CallOptions, Data } from '../types.js';
import { type Lock, lockPatiently } from './lock.js';

export interface Leader {
  readonly sessionId: number;
  /** The leadership's fencing token. */
  readonly token: number;
  readonly value: Uint8Array;
}

export class Election {
  readonly #client: Client;
  readonly name: string;
  #lock: Lock | undefined;

  constructor(client: Client, name: string) {
    this.#client = client;
    this.name = name;
  }

  /** Wait in line until elected (or `timeoutMs`, default: no limit); then this client leads with `value`. */
  async campaign(value: Data, opts: CallOptions & { timeoutMs?: number } = {}): Promise<Lock> {
    this.#lock = await lockPatiently(this.#client, this.name, { value, ...(opts.signal ? { signal: opts.signal } : {}) }, opts.timeoutMs);
    return this.#lock;
  }

  /** Change the proclaimed value; only the leader may. */
  async proclaim(value: Data): Promise<void> {
    await this.#client.acquireLock(this.name, { value, timeoutMs: 0 });
  }

  async resign(): Promise<void> {
    await this.#lock?.release();
    this.#lock = undefined;
  }

  async leader(): Promise<Leader | undefined> {
    const h = (await this.#client.describeLock(this.name)).holders[0];
    return h && { sessionId: h.sessionId, token: h.token, value: h.value };
  }

  /** Every leader from now on (undefined while nobody leads), until `signal` aborts. */
  async *observe(opts: CallOptions = {}): AsyncGenerator<Leader | undefined, void, undefined> {
    const d = await this.#client.describeLock(this.name);
    const h = d.holders[0];
    const current = h && { sessionId: h.sessionId, token: h.token, value: h.value };
    let last = leaderKey(current);
    yield current;
    // From the zxid that answer was read at: no change between the two can be missed.
    for await (const e of this.#client.watch(lockNodePath(this.name), { withData: true, fromZxid: d.zxid, ...(opts.signal ? { signal: opts.signal } : {}) })) {
      const now = e.type === 'deleted' || !e.data ? undefined : fromMirror(e.data);
      const key = leaderKey(now);
      if (key === last) continue;
      last = key;
      yield now;
    }
  }
}

/**
 * Identity of a leadership, to yield only changes. Not JSON of the object: the first answer's value
 * (a gRPC Buffer) and a mirror event's (a Uint8Array) serialize differently for the same bytes, and
 * an observer started under a sitting leader saw it twice.
 */
function leaderKey(l: Leader | undefined): string {
  return l === undefined ? '' : `${l.sessionId}/${l.token}/${Buffer.from(l.value).toString('base64')}`;
}

function fromMirror(data: Uint8Array): Leader | undefined {
  const doc = JSON.parse(new TextDecoder().decode(data)) as { holders?: { sessionId: number; token: number; value?: string }[] };
  const h = doc.holders?.[0];
  return h && { sessionId: h.sessionId, token: h.token, value: new Uint8Array(Buffer.from(h.value ?? '', 'base64')) };
}
