/**
 * Sets and sequential nodes. Each generation has a set (/fault/set/gN: children with unique names)
 * and a sequence (/fault/seq/gN: sequential children named `<element>-<10 digits>`). Workers add
 * unique elements (`create`, key = the parent, value = the element; a sequential create's `ok`
 * carries the name it got) and now and then read the whole parent (`read`, value = the sorted
 * child names). A generation's parents get a final read and are deleted once nobody uses them;
 * after the run, `finalSetReads` reads every parent not retired yet, retrying until it can.
 */
import type { Client } from '../../../src/client/index.js';
import { ErrorCode, isConclaveError } from '../../../src/common/errors.js';
import { SEQUENCE_PREFIX, SET_PREFIX } from '../keys.js';
import { ReconnectingClient, type WorkloadContext, thinkTime } from './context.js';
import { Generations } from './generations.js';
import { readFailure, writeFailure } from './outcome.js';

/** One page holds a whole generation: a read is then one consistent snapshot. */
const PAGE_NAMES_MAX = 10_000;

export interface SetOptions {
  readonly workers: number;
}

/** The parents of each generation: which were used and are not retired yet, and which exist already. */
export class SetParents {
  readonly generations: Generations;
  /** Parents used and not yet retired (the end of the run reads these). */
  readonly used = new Set<string>();
  readonly #created = new Set<string>();

  constructor(opsPerGeneration: number) {
    this.generations = new Generations(opsPerGeneration);
  }

  of(generation: number, sequential: boolean): string {
    const p = `${sequential ? SEQUENCE_PREFIX : SET_PREFIX}/g${generation}`;
    this.used.add(p);
    return p;
  }

  /** Create the parent on first use; NODE_EXISTS means another worker did. */
  async ensure(client: Client, parent: string): Promise<void> {
    if (this.#created.has(parent)) return;
    try {
      await client.create(parent, '');
    } catch (err: unknown) {
      if (!isConclaveError(err, ErrorCode.NODE_EXISTS)) throw err;
    }
    this.#created.add(parent);
  }
}

export async function runSets(ctx: WorkloadContext, opts: SetOptions, parents: SetParents): Promise<void> {
  await Promise.all([...Array.from({ length: opts.workers }, () => worker(ctx, parents)), retireParents(ctx, parents)]);
}

async function worker(ctx: WorkloadContext, parents: SetParents): Promise<void> {
  const rng = ctx.rng.fork();
  let n = 0;
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    while (!ctx.stop.aborted && client.state !== 'lost') {
      const lease = parents.generations.lease();
      const parent = parents.of(lease.generation, rng.chance(0.5));
      try {
        if (rng.chance(0.1)) await readParent(ctx, client, process, parent);
        else await add(ctx, client, process, parents, parent, `e${process}-${++n}`, parent.startsWith(SEQUENCE_PREFIX));
      } finally {
        lease.done();
      }
      await thinkTime(rng.int(10, 40), ctx.stop);
    }
    await ctx.clients.close(client);
  }
}

/**
 * A generation nobody adds to any more gets its final read (recorded: what the checker compares
 * every acknowledged add with), then is deleted (not recorded: nothing reads it after).
 */
async function retireParents(ctx: WorkloadContext, parents: SetParents): Promise<void> {
  let client: Client | undefined;
  const process = ctx.newProcess();
  while (!ctx.stop.aborted) {
    await thinkTime(1000, ctx.stop);
    const idle = parents.generations.takeIdle();
    if (idle.length === 0 || ctx.stop.aborted) continue;
    if (!client || client.state === 'lost') client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    for (const g of idle) {
      const mine = [SET_PREFIX, SEQUENCE_PREFIX].map((prefix) => `${prefix}/g${g}`).filter((p) => parents.used.has(p));
      let retired = true;
      for (const parent of mine) {
        if (!parents.used.has(parent)) continue;
        if (!(await readParent(ctx, client, process, parent))) {
          retired = false;
          continue;
        }
        // The read stands as the final one; a failed delete only leaves the nodes behind.
        parents.used.delete(parent);
        await client.delete(parent, { recursive: true }).catch(() => undefined);
      }
      if (!retired) parents.generations.giveBack(g);
    }
  }
  if (client) await ctx.clients.close(client);
}

async function add(ctx: WorkloadContext, client: Client, process: number, parents: SetParents, parent: string, element: string, sequential: boolean): Promise<void> {
  const op = ctx.recorder.invoke(process, 'create', parent, element);
  try {
    await parents.ensure(client, parent);
    const res = sequential ? await client.create(`${parent}/${element}-`, element, { sequential: true }) : await client.create(`${parent}/${element}`, element);
    ctx.recorder.ok(op, res.path.slice(parent.length + 1));
  } catch (err: unknown) {
    // A failed parent create did nothing to the set either.
    if (writeFailure(err) === 'fail') ctx.recorder.fail(op);
    else ctx.recorder.info(op);
  }
}

/** Read every child name of `parent`, linearizably, as one `read`; false if the read failed. */
export async function readParent(ctx: WorkloadContext, client: Client, process: number, parent: string): Promise<boolean> {
  const op = ctx.recorder.invoke(process, 'read', parent, null);
  try {
    const page = await client.children(parent, { limit: PAGE_NAMES_MAX });
    if (page.more) throw new Error(`${parent} has more than ${PAGE_NAMES_MAX} children: fewer operations per generation`);
    ctx.recorder.ok(op, [...page.names].sort());
    return true;
  } catch (err: unknown) {
    if (isConclaveError(err, ErrorCode.NO_NODE)) {
      ctx.recorder.ok(op, []);
      return true;
    }
    if (readFailure(err) === 'fail') ctx.recorder.fail(op);
    else ctx.recorder.info(op);
    return false;
  }
}

/** After the run: one successful read of every parent used (each retried until `deadlineMs`). */
export async function finalSetReads(ctx: WorkloadContext, parents: SetParents, deadlineMs: number): Promise<void> {
  const signal = AbortSignal.timeout(deadlineMs);
  const session = new ReconnectingClient(ctx, signal);
  const process = ctx.newProcess();
  for (const parent of [...parents.used].sort()) {
    for (;;) {
      const client = await session.get();
      if (!client || (await readParent(ctx, client, process, parent))) break;
      await thinkTime(200, signal);
    }
  }
  await session.close();
}
