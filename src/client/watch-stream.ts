/**
 * A persistent watch as an async iterator that survives reconnects. It tracks exactly how far it
 * has received — every event below zxid `pos.zxid`, and `pos.seen` events at `pos.zxid` (one multi
 * makes several events with the same zxid) — and on a new connection resumes from `pos.zxid - 1`,
 * skipping the `pos.seen` events it already has: no gap, no duplicate. Progress frames only move
 * the resume point. A consumer slower than the events is not buffered without bound: past
 * `WATCH_QUEUE_EVENTS_MAX` queued events the watch unregisters and resumes once the queue drains.
 */
import type { ConclaveError } from '../common/errors.js';
import { ErrorCode } from '../common/errors.js';
import { backoffMs } from './backoff.js';
import { abortReason, unavailable } from './client-errors.js';
import type { Connection } from './connection.js';
import type { WatchEvent, WatchOptions } from './types.js';
import type { HostedWatch, WatchHost } from './watch-host.js';
import { type ResponseFrame, WIRE_EVENT_TYPE, type WireEvent, errorOf, toWatchEvent } from './wire.js';

export const WATCH_QUEUE_EVENTS_MAX = 10_000;

/** Instead of queueing for an iterator, hand events over as they arrive (for recipes). */
export interface WatchSink {
  event(e: WatchEvent): void;
  error(err: unknown): void;
}

interface Waiter {
  resolve(r: IteratorResult<WatchEvent>): void;
  reject(err: unknown): void;
}

export class WatchStream implements AsyncIterableIterator<WatchEvent>, HostedWatch {
  /** The zxid the watch started after: every change after it is delivered. */
  readonly started: Promise<number>;
  readonly #host: WatchHost;
  readonly #path: string;
  readonly #opts: WatchOptions;
  readonly #sink: WatchSink | undefined;
  #resolveStarted!: (zxid: number) => void;
  #rejectStarted!: (err: unknown) => void;
  #conn: Connection | undefined;
  #id = 0;
  #registered = false;
  #everStarted = false;
  #pos = { zxid: 0, seen: 0 };
  #skipAt = 0;
  #skipLeft = 0;
  readonly #queue: WatchEvent[] = [];
  readonly #waiters: Waiter[] = [];
  #error: { readonly err: unknown } | undefined;
  #ended = false;
  #overflowed = false;
  #attempts = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;

  constructor(host: WatchHost, path: string, opts: WatchOptions = {}, sink?: WatchSink) {
    this.#host = host;
    this.#path = path;
    this.#opts = opts;
    this.#sink = sink;
    this.started = new Promise<number>((resolve, reject) => {
      this.#resolveStarted = resolve;
      this.#rejectStarted = reject;
    });
    this.started.catch(() => undefined);
    const signal = opts.signal;
    if (signal?.aborted) {
      this.#fail(abortReason(signal));
      return;
    }
    if (signal) {
      const onAbort = (): void => this.#fail(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    host.attach(this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<WatchEvent>> {
    const value = this.#queue.shift();
    if (value) {
      if (this.#overflowed && this.#queue.length === 0) this.#resume();
      return Promise.resolve({ value, done: false });
    }
    if (this.#error) {
      const { err } = this.#error;
      this.#error = undefined;
      return Promise.reject(err);
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#overflowed) this.#resume();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stop watching (what `for await … break` calls). */
  async return(): Promise<IteratorResult<WatchEvent>> {
    this.#end();
    return { value: undefined, done: true };
  }

  close(): void {
    this.#end();
  }

  // --- HostedWatch

  onReady(conn: Connection): void {
    this.#conn = conn;
    if (!this.#overflowed) this.#register();
  }

  onDetached(): void {
    this.#conn = undefined;
    this.#registered = false;
    this.#id = 0;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
  }

  onFailed(err: ConclaveError): void {
    this.#fail(err);
  }

  onClosed(): void {
    this.#end();
  }

  // --- the wire

  #register(): void {
    const conn = this.#conn;
    if (!conn || this.#ended) return;
    const id = this.#host.nextId();
    this.#id = id;
    this.#registered = false;
    const resuming = this.#everStarted;
    const fromZxid = resuming ? Math.max(1, this.#pos.zxid - 1) : (this.#opts.fromZxid ?? 0);
    this.#skipAt = this.#pos.zxid;
    this.#skipLeft = resuming ? this.#pos.seen : 0;
    const body = {
      path: this.#path,
      mode: this.#opts.recursive ? 'PERSISTENT_RECURSIVE' : 'PERSISTENT',
      fromZxid,
      types: (this.#opts.types ?? []).map((t) => WIRE_EVENT_TYPE[t]),
      withData: this.#opts.withData === true,
    };
    conn.send(id, 'watch', body, (frame) => this.#onFrame(conn, id, frame));
  }

  #onFrame(conn: Connection, id: number, frame: ResponseFrame): void {
    if (id !== this.#id || conn !== this.#conn || this.#ended) return;
    if (frame.result === 'watchStarted') {
      const zxid = (frame['watchStarted'] as { zxid: number }).zxid;
      this.#host.observeZxid(zxid);
      this.#registered = true;
      this.#attempts = 0;
      if (!this.#everStarted) {
        this.#everStarted = true;
        this.#pos = { zxid: zxid + 1, seen: 0 };
        this.#resolveStarted(zxid);
      }
    } else if (frame.result === 'event') {
      this.#accept(frame['event'] as WireEvent);
    } else if (frame.result === 'progress') {
      const zxid = (frame['progress'] as { zxid: number }).zxid;
      this.#host.observeZxid(zxid);
      if (!this.#overflowed && zxid + 1 > this.#pos.zxid) this.#pos = { zxid: zxid + 1, seen: 0 };
    } else if (frame.result === 'error' && frame.error) {
      this.#onError(conn, errorOf(frame.error));
    }
  }

  #onError(conn: Connection, err: ConclaveError): void {
    if (!this.#registered) {
      // The watch request itself failed: a member catching up is worth another try.
      if (err.code !== ErrorCode.UNAVAILABLE && err.code !== ErrorCode.NOT_LEADER) return this.#fail(err);
      this.#retryTimer = setTimeout(() => {
        if (this.#conn === conn) this.#register();
      }, backoffMs(this.#attempts++));
      this.#retryTimer.unref();
      return;
    }
    // Cut off as a slow watcher: the whole stream's watches are gone; resume on a new one.
    if (err.code === ErrorCode.LIMIT_EXCEEDED) return this.#host.recycle(conn, err);
    this.#fail(err);
  }

  #accept(wire: WireEvent): void {
    const z = wire.zxid;
    this.#host.observeZxid(z);
    // Resent after a resume: the events this watch already had at its last zxid, and older ones.
    if (z === this.#skipAt && this.#skipLeft > 0) {
      this.#skipLeft--;
      return;
    }
    if (z < this.#pos.zxid || this.#overflowed) return;
    if (!this.#sink && this.#queue.length >= WATCH_QUEUE_EVENTS_MAX) {
      this.#overflowed = true;
      this.#unregister();
      return;
    }
    if (z > this.#pos.zxid) this.#pos = { zxid: z, seen: 1 };
    else this.#pos.seen++;
    const event = toWatchEvent(wire, this.#opts.withData === true);
    if (this.#sink) return this.#sink.event(event);
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ value: event, done: false });
    else this.#queue.push(event);
  }

  /** The queue drained after an overflow: register again from where we stand. */
  #resume(): void {
    this.#overflowed = false;
    this.#register();
  }

  #unregister(): void {
    const conn = this.#conn;
    if (!conn || this.#id === 0) return;
    conn.forget(this.#id);
    if (this.#registered) {
      const id = this.#host.nextId();
      conn.send(id, 'unwatch', { watchId: this.#id }, () => conn.forget(id));
    }
    this.#registered = false;
    this.#id = 0;
  }

  #fail(err: unknown): void {
    if (this.#ended) return;
    this.#stop();
    this.#rejectStarted(err);
    if (this.#sink) return this.#sink.error(err);
    const waiters = this.#waiters.splice(0);
    if (waiters.length === 0) this.#error = { err };
    for (const w of waiters) w.reject(err);
  }

  #end(): void {
    if (this.#ended) return;
    this.#stop();
    this.#queue.length = 0;
    this.#rejectStarted(unavailable('the watch was closed'));
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  #stop(): void {
    this.#unregister();
    this.#ended = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#unlisten?.();
    this.#host.detach(this);
  }
}
