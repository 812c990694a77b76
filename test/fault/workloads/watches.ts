/**
 * Watches. One watcher keeps a recursive, with-data watch on /fault/watch through the SDK (which
 * resumes it across failovers by itself); if its session is lost it opens a new one and watches
 * again from the last zxid it received. Each delivered event is recorded as a `read` of the
 * event's path, invoked and completed at once, with value `[type, zxid, data?]`.
 * Writers walk paths through a life: create → one to three sets → delete, each path written by one
 * writer only and every value unique, so each event names the operation that caused it.
 * After the run `finishWatches` records the final state (a `read` of the prefix, value: the
 * children as `name=data`) and waits until the watcher has delivered up to it.
 */
import type { Client, WatchEvent } from '../../../src/client/index.js';
import { ErrorCode, isConclaveError } from '../../../src/common/errors.js';
import type { OpHandle } from '../../model/history.js';
import { RESUME_GAP, WATCH_PREFIX } from '../keys.js';
import { type WorkloadContext, text, thinkTime } from './context.js';
import { writeFailure } from './outcome.js';


export interface WatchOptions {
  readonly writers: number;
  /** The watcher's session timeout: long, so faults rarely cost it its session. */
  readonly watcherSessionTimeoutMs: number;
}

/** The watcher's progress, shared with `finishWatches`. */
export class WatcherState {
  lastZxid = 0;
  events = 0;
  resumes = 0;
  /** Set once the first watch is registered: writers start after it. */
  started: Promise<void>;
  #markStarted!: () => void;
  readonly stopWatching = new AbortController();

  constructor() {
    this.started = new Promise((resolve) => {
      this.#markStarted = resolve;
    });
  }

  markStarted(): void {
    this.#markStarted();
  }
}

export async function runWatcher(ctx: WorkloadContext, opts: WatchOptions, state: WatcherState): Promise<void> {
  const stop = state.stopWatching.signal;
  while (!stop.aborted) {
    const client = await ctx.clients.connect({ endpoints: ctx.endpoints, stop }, { sessionTimeoutMs: opts.watcherSessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    const watch = client.watch(WATCH_PREFIX, { recursive: true, withData: true, signal: stop, ...(state.lastZxid > 0 ? { fromZxid: state.lastZxid } : {}) });
    void watch.started.then(() => state.markStarted(), () => undefined);
    try {
      for await (const e of watch) record(ctx, process, e, state);
    } catch (err: unknown) {
      if (!stop.aborted) ctx.log(`watcher: ${isConclaveError(err) ? err.code : String(err)}; watching again from zxid ${state.lastZxid}`);
      if (isConclaveError(err, ErrorCode.COMPACTED)) {
        // The servers no longer keep the events since lastZxid (a bounded window, by design): note
        // the gap for the checker and watch on from now.
        const gap = ctx.recorder.invoke(process, 'read', WATCH_PREFIX, null);
        ctx.recorder.ok(gap, [RESUME_GAP, String(state.lastZxid)]);
        state.lastZxid = 0;
      }
    }
    state.resumes++;
    await ctx.clients.close(client);
  }
}

function record(ctx: WorkloadContext, process: number, e: WatchEvent, state: WatcherState): void {
  const value = e.data === undefined ? [e.type, String(e.zxid)] : [e.type, String(e.zxid), text(e.data)];
  const op = ctx.recorder.invoke(process, 'read', e.path, null);
  ctx.recorder.ok(op, value);
  state.lastZxid = e.zxid;
  state.events++;
}

export async function runWatchWriters(ctx: WorkloadContext, opts: WatchOptions, state: WatcherState): Promise<void> {
  await state.started;
  await Promise.all(Array.from({ length: opts.writers }, () => writer(ctx)));
}

async function writer(ctx: WorkloadContext): Promise<void> {
  const rng = ctx.rng.fork();
  let life = 0;
  while (!ctx.stop.aborted) {
    const client = await ctx.clients.connect(ctx, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
    if (!client) return;
    const process = ctx.newProcess();
    while (!ctx.stop.aborted && client.state !== 'lost') {
      const path = `${WATCH_PREFIX}/w${process}-${++life}`;
      const steps: (() => Promise<boolean>)[] = [() => write(ctx, process, path, 'create', `${path}#0`, () => client.create(path, `${path}#0`))];
      const sets = rng.int(1, 3);
      for (let i = 1; i <= sets; i++) steps.push(() => write(ctx, process, path, 'write', `${path}#${i}`, () => client.set(path, `${path}#${i}`)));
      steps.push(() => write(ctx, process, path, 'delete', null, () => client.delete(path)));
      for (const step of steps) {
        if (ctx.stop.aborted || !(await step())) break;
        await thinkTime(rng.int(10, 40), ctx.stop);
      }
    }
    await ctx.clients.close(client);
  }
}

/** One write of a path's life; false if it definitely failed (the life stops there). */
async function write(ctx: WorkloadContext, process: number, path: string, f: 'create' | 'write' | 'delete', value: string | null, run: () => Promise<unknown>): Promise<boolean> {
  const op: OpHandle = ctx.recorder.invoke(process, f, path, value);
  try {
    await run();
    ctx.recorder.ok(op);
    return true;
  } catch (err: unknown) {
    if (writeFailure(err) === 'fail') {
      ctx.recorder.fail(op);
      return false;
    }
    ctx.recorder.info(op);
    return true;
  }
}

/**
 * After the writers stopped: record the final state under the prefix and wait (up to `deadlineMs`)
 * for the watcher to deliver the newest change in it; then stop the watcher.
 */
export async function finishWatches(ctx: WorkloadContext, state: WatcherState, deadlineMs: number): Promise<void> {
  const signal = AbortSignal.timeout(deadlineMs);
  const client = await ctx.clients.connect({ endpoints: ctx.endpoints, stop: signal }, { sessionTimeoutMs: ctx.sessionTimeoutMs, requestTimeoutMs: ctx.requestTimeoutMs });
  try {
    const newest = client ? await readFinalState(ctx, client, signal) : undefined;
    while (newest !== undefined && state.lastZxid < newest && !signal.aborted) await thinkTime(50, signal);
    if (newest !== undefined && state.lastZxid < newest) ctx.log(`watcher: delivered up to zxid ${state.lastZxid}, the newest change is ${newest}`);
  } finally {
    state.stopWatching.abort();
    if (client) await ctx.clients.close(client);
  }
}

/** The children and their data as one `read` (retried until it succeeds); returns the newest change's zxid. */
async function readFinalState(ctx: WorkloadContext, client: Client, signal: AbortSignal): Promise<number | undefined> {
  const process = ctx.newProcess();
  while (!signal.aborted) {
    const op = ctx.recorder.invoke(process, 'read', WATCH_PREFIX, null);
    try {
      // Nothing writes under the prefix any more, so reading the children one by one is consistent.
      const page = await client.children(WATCH_PREFIX, { limit: 10_000 });
      const entries: string[] = [];
      let newest = page.stat.pzxid;
      for (const name of page.names) {
        const got = await client.get(`${WATCH_PREFIX}/${name}`);
        entries.push(`${name}=${text(got.data)}`);
        newest = Math.max(newest, got.stat.mzxid);
      }
      ctx.recorder.ok(op, entries.sort());
      return newest;
    } catch {
      ctx.recorder.fail(op);
      await thinkTime(200, signal);
    }
  }
  return undefined;
}
