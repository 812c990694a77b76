/**
 * Sessions and ephemerals. Each owner opens a session, creates one ephemeral node
 * /fault/eph/p<process> (`create`), keeps proving it alive with compare-and-set heartbeats on it
 * (`cas`: the owner is its only writer, so a set at the version it last saw is a value CAS), and
 * after a few seconds ends the session: closing it, or "crashing" (keep-alives stop and the
 * connection drops for good, so the server must expire it). The end is recorded as a `delete` of
 * the node completed `info` at the moment the owner stops (or first sees the session lost): it
 * happens on the server at some unknown time around then. Readers on other sessions read random
 * owners' nodes (`read`: the data, null when absent); after the run every node is read once more.
 */
import type { Client } from '../../../src/client/index.js';
import { clientInternals } from '../../../src/client/internals.js';
import { ErrorCode, isConclaveError } from '../../../src/common/errors.js';
import type { Rng } from '../../../src/common/rng.js';
import type { Value } from '../../model/history.js';
import { EPHEMERAL_PREFIX } from '../keys.js';
import { ReconnectingClient, type WorkloadContext, text, thinkTime } from './context.js';
import { readFailure, writeFailure } from './outcome.js';

export interface EphemeralOptions {
  readonly owners: number;
  readonly readers: number;
  /** Session timeout the owners ask for (the checker needs it). */
  readonly sessionTimeoutMs: number;
  readonly lifetimeMs: readonly [number, number];
}

/** Every ephemeral path made so far, with when its session ended (performance.now() ms), if it has. */
export class EphemeralRegistry {
  readonly paths: string[] = [];
  readonly #endedAt = new Map<string, number>();
  /** Crashed owners' clients, never closed during the run (closing would end their sessions). */
  readonly crashed: Client[] = [];

  added(path: string): void {
    this.paths.push(path);
  }

  ended(path: string): void {
    this.#endedAt.set(path, performance.now());
  }

  /** A path worth reading: mostly live or recently ended ones, sometimes any. */
  pick(rng: Rng): string | undefined {
    if (this.paths.length === 0) return undefined;
    const recent = this.paths.filter((p) => {
      const end = this.#endedAt.get(p);
      return end === undefined || performance.now() - end < 10_000;
    });
    return rng.pick(recent.length > 0 && rng.chance(0.8) ? recent : this.paths);
  }
}

export async function runEphemerals(ctx: WorkloadContext, opts: EphemeralOptions, registry: EphemeralRegistry): Promise<void> {
  const owners = Array.from({ length: opts.owners }, () => owner(ctx, opts, registry));
  const readers = Array.from({ length: opts.readers }, () => reader(ctx, registry));
  await Promise.all([...owners, ...readers]);
}

async function owner(ctx: WorkloadContext, opts: EphemeralOptions, registry: EphemeralRegistry): Promise<void> {
  const rng = ctx.rng.fork();
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: opts.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    await ownOneSession(ctx, client, rng, opts, registry);
  }
}

async function ownOneSession(ctx: WorkloadContext, client: Client, rng: Rng, opts: EphemeralOptions, registry: EphemeralRegistry): Promise<void> {
  const process = ctx.newProcess();
  const path = `${EPHEMERAL_PREFIX}/p${process}`;
  registry.added(path);
  // What the owner knows of its node: the value and version it last saw (undefined: unknown).
  let known: { value: Value; version: number } | undefined;
  const created = ctx.recorder.invoke(process, 'create', path, `${process}#0`);
  try {
    await client.create(path, `${process}#0`, { ephemeral: true });
    ctx.recorder.ok(created);
    known = { value: `${process}#0`, version: 0 };
  } catch (err: unknown) {
    if (writeFailure(err) === 'fail') ctx.recorder.fail(created);
    else ctx.recorder.info(created);
  }
  const until = performance.now() + rng.int(opts.lifetimeMs[0], opts.lifetimeMs[1]);
  let beat = 0;
  while (!ctx.stop.aborted && performance.now() < until && client.state !== 'lost') {
    await thinkTime(rng.int(80, 200), ctx.stop);
    if (known === undefined) {
      known = await readOwn(ctx, client, process, path);
      if (known?.value === null) break; // gone: the session ended under us (or the create never happened)
      continue;
    }
    const value = `${process}#${++beat}`;
    const op = ctx.recorder.invoke(process, 'cas', path, value, known.value);
    try {
      await client.set(path, value, { version: known.version });
      ctx.recorder.ok(op);
      known = { value, version: known.version + 1 };
    } catch (err: unknown) {
      if (writeFailure(err) === 'fail') ctx.recorder.fail(op);
      else ctx.recorder.info(op);
      known = undefined;
    }
  }
  // The session's end, as this owner sees it: it ends it now, or has just seen it lost.
  const end = ctx.recorder.invoke(process, 'delete', path, null);
  ctx.recorder.info(end);
  registry.ended(path);
  if (client.state === 'lost' || rng.chance(0.5)) {
    await ctx.clients.close(client);
  } else {
    // A crash: keep-alives stop and the connection is gone for good; only expiry ends the session.
    client[clientInternals].pauseKeepAlives(true);
    client[clientInternals].dropConnection();
    ctx.clients.abandon(client);
    registry.crashed.push(client);
  }
}

async function readOwn(ctx: WorkloadContext, client: Client, process: number, path: string): Promise<{ value: Value; version: number } | undefined> {
  const op = ctx.recorder.invoke(process, 'read', path, null);
  try {
    const res = await client.get(path);
    const value = text(res.data);
    ctx.recorder.ok(op, value);
    return { value, version: res.stat.version };
  } catch (err: unknown) {
    if (isConclaveError(err, ErrorCode.NO_NODE)) {
      ctx.recorder.ok(op, null);
      return { value: null, version: -1 };
    }
    if (readFailure(err) === 'fail') ctx.recorder.fail(op);
    else ctx.recorder.info(op);
    return undefined;
  }
}

async function reader(ctx: WorkloadContext, registry: EphemeralRegistry): Promise<void> {
  const rng = ctx.rng.fork();
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    while (!ctx.stop.aborted && client.state !== 'lost') {
      const path = registry.pick(rng);
      if (path) await readOther(ctx, client, process, path);
      await thinkTime(rng.int(20, 60), ctx.stop);
    }
    await ctx.clients.close(client);
  }
}

async function readOther(ctx: WorkloadContext, client: Client, process: number, path: string): Promise<boolean> {
  const op = ctx.recorder.invoke(process, 'read', path, null);
  try {
    ctx.recorder.ok(op, text((await client.get(path)).data));
    return true;
  } catch (err: unknown) {
    if (isConclaveError(err, ErrorCode.NO_NODE)) {
      ctx.recorder.ok(op, null);
      return true;
    }
    if (readFailure(err) === 'fail') ctx.recorder.fail(op);
    else ctx.recorder.info(op);
    return false;
  }
}

/** After the run (and a wait past every session's timeout): read every ephemeral path once, successfully. */
export async function finalEphemeralReads(ctx: WorkloadContext, registry: EphemeralRegistry, deadlineMs: number): Promise<void> {
  const signal = AbortSignal.timeout(deadlineMs);
  const session = new ReconnectingClient(ctx, signal);
  const queue = [...registry.paths];
  const lanes = Array.from({ length: 8 }, async () => {
    const process = ctx.newProcess();
    for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
      for (;;) {
        const client = await session.get();
        if (!client || (await readOther(ctx, client, process, path))) break;
        await thinkTime(200, signal);
      }
    }
  });
  await Promise.all(lanes);
  await session.close();
}

/** Close the crashed owners' clients (their sessions are long expired; nothing is sent). */
export async function closeCrashed(registry: EphemeralRegistry): Promise<void> {
  await Promise.all(registry.crashed.splice(0).map((c) => c.close().catch(() => undefined)));
}
