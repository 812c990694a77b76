/**
 * Locks with fencing. Workers (each its own SDK session) take one lock, then run a critical section
 * of three steps against a guarded resource, each step carrying the lock's fencing token, and
 * release. The resource lives in this process with its own SDK client: it admits a step only
 * through the SDK's `FenceGuard` (ValidateFence says the token is a current holder's, and it is not
 * older than any token already admitted), with all checks serialized.
 *
 * History: an acquire is a `create` of key `lock:<name>` (ok value: the token; `fail`: not granted
 * in time); a step is a `write` of key `fence:<name>`, value `<token> <step>`, completed `ok` inside
 * the resource's serialized admission (so `ok` events are in admission order) or `fail` if refused;
 * a release is a `delete` of `lock:<name>` with the token.
 */
import { type Client, FenceGuard } from '../../../src/client/index.js';
import { FENCE_KEY, LOCK_KEY, LOCK_NAME } from '../keys.js';
import { type WorkloadContext, thinkTime } from './context.js';
import { writeFailure } from './outcome.js';

const STEPS = ['enter', 'work', 'exit'] as const;

export interface LockOptions {
  readonly workers: number;
  /** How long one acquire waits in line, server-side. */
  readonly acquireWaitMs: number;
}

/**
 * The guarded resource: FenceGuard's check, serialized, with the highest admitted token kept
 * across guard clients (the guard's own client is replaced if its session is lost).
 */
export class FencedResource {
  readonly #ctx: WorkloadContext;
  #client: Client | undefined;
  #guard: FenceGuard | undefined;
  #highest = 0;
  #chain: Promise<unknown> = Promise.resolve();
  admitted = 0;
  refused = 0;

  constructor(ctx: WorkloadContext) {
    this.#ctx = ctx;
  }

  /** Run `act` if `token` passes; resolves to whether it ran. */
  admit(token: number, act: () => void): Promise<boolean> {
    const run = this.#chain.then(async () => {
      if (token < this.#highest) return false;
      const guard = await this.#currentGuard();
      if (!guard) return false;
      return guard.admit(token, () => {
        this.#highest = token;
        act();
      });
    });
    this.#chain = run.catch(() => undefined);
    return run.then((ok) => {
      if (ok) this.admitted++;
      else this.refused++;
      return ok;
    });
  }

  async #currentGuard(): Promise<FenceGuard | undefined> {
    if (this.#client && this.#client.state !== 'lost') return this.#guard;
    if (this.#client) await this.#ctx.clients.close(this.#client);
    this.#client = await this.#ctx.clients.connect({ endpoints: this.#ctx.endpoints, stop: AbortSignal.timeout(this.#ctx.requestTimeoutMs) }, { sessionTimeoutMs: 10_000, requestTimeoutMs: this.#ctx.requestTimeoutMs });
    this.#guard = this.#client ? new FenceGuard(this.#client, LOCK_NAME) : undefined;
    return this.#guard;
  }

  async close(): Promise<void> {
    await this.#chain;
    if (this.#client) await this.#ctx.clients.close(this.#client);
  }
}

export async function runLocks(ctx: WorkloadContext, opts: LockOptions, resource: FencedResource): Promise<void> {
  await Promise.all(Array.from({ length: opts.workers }, () => worker(ctx, opts, resource)));
}

async function worker(ctx: WorkloadContext, opts: LockOptions, resource: FencedResource): Promise<void> {
  const rng = ctx.rng.fork();
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    while (!ctx.stop.aborted && client.state !== 'lost') {
      const token = await acquire(ctx, client, process, opts.acquireWaitMs);
      if (token !== undefined) {
        await criticalSection(ctx, process, token, resource, rng.int(5, 30));
        await release(ctx, client, process, token);
      }
      await thinkTime(rng.int(10, 50), ctx.stop);
    }
    await ctx.clients.close(client);
  }
}

async function acquire(ctx: WorkloadContext, client: Client, process: number, waitMs: number): Promise<number | undefined> {
  const op = ctx.recorder.invoke(process, 'create', LOCK_KEY, null);
  try {
    const r = await client.acquireLock(LOCK_NAME, { timeoutMs: waitMs });
    if (!r.granted || r.token === undefined) {
      // The wait ended in a committed entry: no grant can follow it.
      ctx.recorder.fail(op);
      return undefined;
    }
    ctx.recorder.ok(op, r.token);
    return r.token;
  } catch (err: unknown) {
    if (writeFailure(err) === 'fail') ctx.recorder.fail(op);
    else ctx.recorder.info(op);
    return undefined;
  }
}

async function criticalSection(ctx: WorkloadContext, process: number, token: number, resource: FencedResource, stepGapMs: number): Promise<void> {
  for (const step of STEPS) {
    const op = ctx.recorder.invoke(process, 'write', FENCE_KEY, `${token} ${step}`);
    const admitted = await resource.admit(token, () => ctx.recorder.ok(op));
    if (!admitted) {
      ctx.recorder.fail(op);
      return;
    }
    await thinkTime(stepGapMs);
  }
}

async function release(ctx: WorkloadContext, client: Client, process: number, token: number): Promise<void> {
  const op = ctx.recorder.invoke(process, 'delete', LOCK_KEY, token);
  try {
    await client.releaseLock(LOCK_NAME);
    ctx.recorder.ok(op);
  } catch {
    ctx.recorder.info(op);
  }
}
