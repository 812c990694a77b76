/**
 * Registers: a few keys (znodes under /fault/reg), read, written and compare-and-set with unique
 * values by concurrent SDK clients (which talk to the leader), plus one raw gRPC reader pinned to
 * each member slot (linearizable unary Get on that member, so followers' ReadIndex is exercised and
 * a member cut off from the rest is read directly). Keys rotate to a fresh generation every
 * `opsPerGeneration` operations so each key's history stays small enough to check.
 *
 * A register's value is its znode's data; an absent znode reads as null. The SDK has no value CAS,
 * so cas(expected → new) is: read (value, version); if the value is not `expected`, the cas fails
 * (nothing was written); else set with that version: BAD_VERSION means someone wrote between, so
 * it fails; an unknown outcome is `info`. Expected null is a create. A register is never deleted
 * while in use (only once its generation is retired), so a version names one value (no ABA).
 */
import type { Client } from '../../../src/client/index.js';
import { ErrorCode, isConclaveError } from '../../../src/common/errors.js';
import type { Client as RawClient } from '../../integration/harness.js';
import { RpcError } from '../../integration/harness.js';
import type { OpHandle, Value } from '../../model/history.js';
import { REGISTER_PREFIX } from '../keys.js';
import { Generations } from './generations.js';
import { type WorkloadContext, text, thinkTime } from './context.js';
import { readFailure, writeFailure } from './outcome.js';

export interface RegisterOptions {
  readonly sdkWorkers: number;
  readonly keysPerGeneration: number;
  readonly opsPerGeneration: number;
  /** A raw client per member slot for the pinned readers. */
  readonly pinned: readonly { readonly id: number; running(): boolean; client(): RawClient }[];
  readonly pinnedReadTimeoutMs: number;
}

export async function runRegisters(ctx: WorkloadContext, opts: RegisterOptions): Promise<void> {
  const generations = new Generations(opts.opsPerGeneration);
  const keysOf = (g: number): string[] => Array.from({ length: opts.keysPerGeneration }, (_, i) => `${REGISTER_PREFIX}/g${g}k${i}`);
  const workers: Promise<void>[] = [];
  for (let i = 0; i < opts.sdkWorkers; i++) workers.push(sdkWorker(ctx, generations, keysOf));
  for (const member of opts.pinned) workers.push(pinnedReader(ctx, generations, keysOf, member, opts.pinnedReadTimeoutMs));
  workers.push(retireKeys(ctx, generations, keysOf));
  await Promise.all(workers);
}

async function sdkWorker(ctx: WorkloadContext, generations: Generations, keysOf: (g: number) => string[]): Promise<void> {
  const rng = ctx.rng.fork();
  let seq = 0;
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    /** What this client last saw in each key: its cas expects it. */
    const seen = new Map<string, Value>();
    while (!ctx.stop.aborted && client.state !== 'lost') {
      const lease = generations.lease();
      const key = rng.pick(keysOf(lease.generation));
      const roll = rng.next();
      try {
        if (roll < 0.4) await read(ctx, client, process, key, seen);
        else if (roll < 0.7) await write(ctx, client, process, key, `${process}-${++seq}`, seen);
        else await cas(ctx, client, process, key, seen.get(key) ?? null, `${process}-${++seq}`, seen);
      } finally {
        lease.done();
      }
      await thinkTime(rng.int(5, 25), ctx.stop);
    }
    await ctx.clients.close(client);
  }
}

/**
 * Delete the keys of generations nobody uses any more (not recorded: nothing reads them after).
 * An operation whose outcome was unknown may still land later and leave a stray key; harmless.
 */
async function retireKeys(ctx: WorkloadContext, generations: Generations, keysOf: (g: number) => string[]): Promise<void> {
  let client: Client | undefined;
  while (!ctx.stop.aborted) {
    await thinkTime(1000, ctx.stop);
    const idle = generations.takeIdle();
    if (idle.length === 0 || ctx.stop.aborted) continue;
    if (!client || client.state === 'lost') client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    for (const g of idle) {
      const deleted = await Promise.all(keysOf(g).map((k) => (client as Client).delete(k).then(() => true, (err: unknown) => isConclaveError(err, ErrorCode.NO_NODE))));
      if (!deleted.every(Boolean)) generations.giveBack(g);
    }
  }
  if (client) await ctx.clients.close(client);
}

async function read(ctx: WorkloadContext, client: Client, process: number, key: string, seen: Map<string, Value>): Promise<void> {
  const op = ctx.recorder.invoke(process, 'read', key, null);
  const value = await getValue(client, key).catch((err: unknown) => err);
  if (value instanceof Error) return complete(ctx, op, readFailure(value));
  seen.set(key, value as Value);
  ctx.recorder.ok(op, value as Value);
}

/** The register's value: the znode's data, null when it does not exist. */
async function getValue(client: Client, key: string): Promise<string | null> {
  try {
    return text((await client.get(key)).data);
  } catch (err: unknown) {
    if (isConclaveError(err, ErrorCode.NO_NODE)) return null;
    throw err;
  }
}

/** write v: set (any version); if the znode does not exist yet, create it with v. */
async function write(ctx: WorkloadContext, client: Client, process: number, key: string, value: string, seen: Map<string, Value>): Promise<void> {
  const op = ctx.recorder.invoke(process, 'write', key, value);
  try {
    try {
      await client.set(key, value);
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NO_NODE)) throw err;
      await client.create(key, value);
    }
    seen.set(key, value);
    ctx.recorder.ok(op);
  } catch (err: unknown) {
    complete(ctx, op, writeFailure(err));
  }
}

async function cas(ctx: WorkloadContext, client: Client, process: number, key: string, expected: Value, value: string, seen: Map<string, Value>): Promise<void> {
  const op = ctx.recorder.invoke(process, 'cas', key, value, expected);
  try {
    if (expected === null) {
      await client.create(key, value);
    } else {
      let current: { data: Uint8Array; stat: { version: number } };
      try {
        current = await client.get(key);
      } catch (err: unknown) {
        // Nothing was written yet: whatever the read's problem, the cas did not happen.
        if (isConclaveError(err, ErrorCode.NO_NODE)) seen.set(key, null);
        return ctx.recorder.fail(op);
      }
      const now = text(current.data);
      if (now !== expected) {
        seen.set(key, now);
        return ctx.recorder.fail(op);
      }
      await client.set(key, value, { version: current.stat.version });
    }
    seen.set(key, value);
    ctx.recorder.ok(op);
  } catch (err: unknown) {
    // BAD_VERSION / NODE_EXISTS: someone else was first; what this client expects is stale.
    if (writeFailure(err) === 'fail') seen.delete(key);
    complete(ctx, op, writeFailure(err));
  }
}

async function pinnedReader(ctx: WorkloadContext, generations: Generations, keysOf: (g: number) => string[], member: RegisterOptions['pinned'][number], timeoutMs: number): Promise<void> {
  const rng = ctx.rng.fork();
  const process = ctx.newProcess();
  while (!ctx.stop.aborted) {
    if (!member.running()) {
      await thinkTime(100, ctx.stop); // a slot without a process (down, or the spare): nothing to read
      continue;
    }
    const lease = generations.lease();
    const key = rng.pick(keysOf(lease.generation));
    const op = ctx.recorder.invoke(process, 'read', key, null);
    try {
      const res = await member.client().call('Conclave', 'Get', { path: key, consistency: 'LINEARIZABLE' }, timeoutMs);
      ctx.recorder.ok(op, text(res['data'] as Uint8Array));
    } catch (err: unknown) {
      if (err instanceof RpcError && err.code === ErrorCode.NO_NODE) ctx.recorder.ok(op, null);
      else ctx.recorder.fail(op);
    } finally {
      lease.done();
    }
    await thinkTime(rng.int(10, 40), ctx.stop);
  }
}

function complete(ctx: WorkloadContext, op: OpHandle, outcome: 'fail' | 'info'): void {
  if (outcome === 'fail') ctx.recorder.fail(op);
  else ctx.recorder.info(op);
}
