/**
 * All of a run's workloads together: started before the first fault, stopped after the last, then
 * finished with the final reads the checkers compare against (every set, the watcher caught up
 * with the final state, every ephemeral once its session has certainly expired).
 */
import type { WorkloadContext } from './context.js';
import { thinkTime } from './context.js';
import { EphemeralRegistry, closeCrashed, finalEphemeralReads, runEphemerals } from './ephemerals.js';
import { FencedResource, runLocks } from './locks.js';
import { type RegisterOptions, runRegisters } from './registers.js';
import { SetParents, finalSetReads, runSets } from './sets.js';
import { WatcherState, finishWatches, runWatchWriters, runWatcher } from './watches.js';

export type WorkloadName = 'registers' | 'sets' | 'ephemerals' | 'watches' | 'locks';
export const WORKLOADS: readonly WorkloadName[] = ['registers', 'sets', 'ephemerals', 'watches', 'locks'];

export interface WorkloadSettings {
  readonly pinned: RegisterOptions['pinned'];
  readonly pinnedReadTimeoutMs: number;
  readonly watcherSessionTimeoutMs: number;
  /** Past a session's end, how long before its ephemerals must be gone (timeout + slack). */
  readonly expiryAllowanceMs: number;
  /** Bound on each finishing step (watcher catch-up, final reads). */
  readonly finishDeadlineMs: number;
}

export class RunningWorkloads {
  readonly #ctx: WorkloadContext;
  readonly #which: ReadonlySet<WorkloadName>;
  readonly #settings: WorkloadSettings;
  readonly #stop: AbortController;
  readonly #running: Promise<void>[] = [];
  readonly #watcher = new WatcherState();
  readonly #registry = new EphemeralRegistry();
  readonly #parents = new SetParents(110);
  readonly #resource: FencedResource;
  #watching: Promise<void> = Promise.resolve();
  /** Failures of the suite's own code (not findings): the run throws them at the end. */
  readonly errors: string[] = [];

  private constructor(ctx: WorkloadContext, stop: AbortController, which: ReadonlySet<WorkloadName>, settings: WorkloadSettings) {
    this.#ctx = ctx;
    this.#stop = stop;
    this.#which = which;
    this.#settings = settings;
    this.#resource = new FencedResource(ctx);
  }

  /** Start the chosen workloads; `stop` must be the controller of `ctx.stop`. Writers under the watch start once it is registered. */
  static async start(ctx: WorkloadContext, stop: AbortController, which: ReadonlySet<WorkloadName>, settings: WorkloadSettings): Promise<RunningWorkloads> {
    const w = new RunningWorkloads(ctx, stop, which, settings);
    const watchOptions = { writers: 2, watcherSessionTimeoutMs: settings.watcherSessionTimeoutMs };
    if (which.has('watches')) {
      w.#watching = w.#guarded('watcher', runWatcher(ctx, watchOptions, w.#watcher));
      const giveUp = new AbortController();
      await Promise.race([w.#watcher.started, thinkTime(settings.finishDeadlineMs, giveUp.signal)]);
      giveUp.abort();
      w.#running.push(w.#guarded('watch writers', runWatchWriters(ctx, watchOptions, w.#watcher)));
    }
    if (which.has('registers')) w.#running.push(w.#guarded('registers', runRegisters(ctx, { sdkWorkers: 4, keysPerGeneration: 3, opsPerGeneration: 300, pinned: settings.pinned, pinnedReadTimeoutMs: settings.pinnedReadTimeoutMs })));
    if (which.has('sets')) w.#running.push(w.#guarded('sets', runSets(ctx, { workers: 2 }, w.#parents)));
    if (which.has('ephemerals')) w.#running.push(w.#guarded('ephemerals', runEphemerals(ctx, { owners: 3, readers: 2, sessionTimeoutMs: ctx.sessionTimeoutMs, lifetimeMs: [2000, 6000] }, w.#registry)));
    if (which.has('locks')) w.#running.push(w.#guarded('locks', runLocks(ctx, { workers: 3, acquireWaitMs: 2000 }, w.#resource)));
    return w;
  }

  /** Stop the traffic (each worker ends its current operation). */
  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#running);
  }

  /** After `stop`: the final reads and the watcher's catch-up, then close what the workloads opened. */
  async finish(): Promise<void> {
    const s = this.#settings;
    if (this.#which.has('watches')) await finishWatches(this.#ctx, this.#watcher, s.finishDeadlineMs);
    await this.#watching;
    if (this.#which.has('sets')) await finalSetReads(this.#ctx, this.#parents, s.finishDeadlineMs);
    if (this.#which.has('ephemerals')) {
      // Every owner's session has ended by now: the servers get a timeout (and slack) to expire them.
      await thinkTime(s.expiryAllowanceMs + 500);
      await finalEphemeralReads(this.#ctx, this.#registry, s.finishDeadlineMs);
    }
    await this.#resource.close();
    await closeCrashed(this.#registry);
  }

  #guarded(name: string, p: Promise<void>): Promise<void> {
    return p.catch((err: unknown) => void this.errors.push(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  }
}
