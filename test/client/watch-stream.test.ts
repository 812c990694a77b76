/**
 * The persistent watch's bookkeeping without a server: a fake connection records what the watch
 * sends and feeds it frames, so resumes after disconnects, same-zxid groups (one multi), progress
 * frames and the bounded queue are checked exactly.
 */
import { describe, expect, it } from 'vitest';
import type { ConclaveError } from '../../src/common/errors.js';
import type { Connection, FrameListener } from '../../src/client/connection.js';
import type { HostedWatch, WatchHost } from '../../src/client/watch-host.js';
import { WATCH_QUEUE_EVENTS_MAX, WatchStream } from '../../src/client/watch-stream.js';
import type { RequestOp, ResponseFrame } from '../../src/client/wire.js';

class FakeConn {
  readonly sent: { id: number; op: RequestOp; body: Record<string, unknown> }[] = [];
  readonly listeners = new Map<number, FrameListener>();
  send(id: number, op: RequestOp, body: object, listener: FrameListener): void {
    this.sent.push({ id, op, body: body as Record<string, unknown> });
    this.listeners.set(id, listener);
  }
  forget(id: number): void {
    this.listeners.delete(id);
  }
  /** Answer the latest watch request. */
  push(frame: Omit<ResponseFrame, 'id'>): void {
    const last = [...this.sent].reverse().find((s) => s.op === 'watch');
    if (last) this.listeners.get(last.id)?.({ id: last.id, ...frame });
  }
  lastWatch(): Record<string, unknown> | undefined {
    return [...this.sent].reverse().find((s) => s.op === 'watch')?.body;
  }
}

class FakeHost implements WatchHost {
  watches = new Set<HostedWatch>();
  id = 1;
  zxid = 0;
  recycled: ConclaveError[] = [];
  attach(w: HostedWatch): void {
    this.watches.add(w);
  }
  detach(w: HostedWatch): void {
    this.watches.delete(w);
  }
  nextId(): number {
    return this.id++;
  }
  observeZxid(z: number): void {
    this.zxid = Math.max(this.zxid, z);
  }
  recycle(_conn: Connection, reason: ConclaveError): void {
    this.recycled.push(reason);
  }
  ready(conn: FakeConn): void {
    for (const w of this.watches) w.onReady(conn as unknown as Connection);
  }
  detached(): void {
    for (const w of this.watches) w.onDetached();
  }
}

const ev = (path: string, zxid: number): Omit<ResponseFrame, 'id'> => ({ result: 'event', event: { type: 'CREATED', path, zxid, data: null, stat: null, oneShot: false } });

async function take(w: WatchStream, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await w.next();
    if (r.done) break;
    out.push(`${r.value.path}@${r.value.zxid}`);
  }
  return out;
}

describe('WatchStream', () => {
  it('resumes inside a multi group with no gap and no duplicate', async () => {
    const host = new FakeHost();
    const w = new WatchStream(host, '/a', { recursive: true });
    const c1 = new FakeConn();
    host.ready(c1);
    expect(c1.lastWatch()).toMatchObject({ path: '/a', mode: 'PERSISTENT_RECURSIVE', fromZxid: 0 });
    c1.push({ result: 'watchStarted', watchStarted: { zxid: 10 } });
    expect(await w.started).toBe(10);
    c1.push(ev('/a/x', 11));
    c1.push(ev('/a/m1', 12)); // a multi's first event; the connection dies before its second
    host.detached();
    const c2 = new FakeConn();
    host.ready(c2);
    // Resume after 11: the server resends all of zxid 12; the one already delivered is skipped.
    expect(c2.lastWatch()).toMatchObject({ fromZxid: 11 });
    c2.push({ result: 'watchStarted', watchStarted: { zxid: 11 } });
    c2.push(ev('/a/m1', 12));
    c2.push(ev('/a/m2', 12));
    c2.push(ev('/a/y', 13));
    c1.push(ev('/a/stale', 14)); // a late frame of the dead connection is ignored
    expect(await take(w, 4)).toEqual(['/a/x@11', '/a/m1@12', '/a/m2@12', '/a/y@13']);
    expect(host.zxid).toBe(13);
  });

  it('moves its resume point with progress frames and asks for a new stream when cut off', async () => {
    const host = new FakeHost();
    const w = new WatchStream(host, '/b', { types: ['deleted'], withData: true });
    const c1 = new FakeConn();
    host.ready(c1);
    expect(c1.lastWatch()).toMatchObject({ mode: 'PERSISTENT', types: ['DELETED'], withData: true });
    c1.push({ result: 'watchStarted', watchStarted: { zxid: 5 } });
    c1.push({ result: 'progress', progress: { zxid: 40, compactionWarning: false } });
    c1.push({ result: 'error', error: { code: 'LIMIT_EXCEEDED', message: 'slow', leader: '', oldestZxid: 0, currentZxid: 40 } });
    expect(host.recycled.map((e) => e.code)).toEqual(['LIMIT_EXCEEDED']);
    host.detached();
    const c2 = new FakeConn();
    host.ready(c2);
    expect(c2.lastWatch()).toMatchObject({ fromZxid: 40 });
    w.close();
    expect((await w.next()).done).toBe(true);
    expect(host.watches.size).toBe(0);
  });

  it('throws COMPACTED with its zxids, after the events it already has', async () => {
    const host = new FakeHost();
    const w = new WatchStream(host, '/c', { fromZxid: 3 });
    const c1 = new FakeConn();
    host.ready(c1);
    expect(c1.lastWatch()).toMatchObject({ fromZxid: 3 });
    c1.push({ result: 'watchStarted', watchStarted: { zxid: 3 } });
    c1.push(ev('/c', 4));
    host.detached();
    const c2 = new FakeConn();
    host.ready(c2);
    c2.push({ result: 'error', error: { code: 'COMPACTED', message: 'gone', leader: '', oldestZxid: 50, currentZxid: 60 } });
    expect(await take(w, 1)).toEqual(['/c@4']);
    await expect(w.next()).rejects.toMatchObject({ code: 'COMPACTED', details: { oldestZxid: 50, currentZxid: 60 } });
    expect((await w.next()).done).toBe(true);
  });

  it('bounds its queue: unregisters when full and resumes from the last queued event once drained', async () => {
    const host = new FakeHost();
    const w = new WatchStream(host, '/d');
    const c1 = new FakeConn();
    host.ready(c1);
    c1.push({ result: 'watchStarted', watchStarted: { zxid: 1 } });
    for (let z = 2; z < WATCH_QUEUE_EVENTS_MAX + 10; z++) c1.push(ev('/d', z));
    const unwatch = c1.sent.find((s) => s.op === 'unwatch');
    expect(unwatch?.body).toEqual({ watchId: c1.sent[0]?.id });
    let last = 0;
    for (let i = 0; i < WATCH_QUEUE_EVENTS_MAX; i++) last = ((await w.next()).value as { zxid: number }).zxid;
    expect(last).toBe(WATCH_QUEUE_EVENTS_MAX + 1);
    const next = w.next();
    // Drained: registered again right after the last event it queued.
    expect(c1.lastWatch()).toMatchObject({ fromZxid: WATCH_QUEUE_EVENTS_MAX });
    c1.push({ result: 'watchStarted', watchStarted: { zxid: WATCH_QUEUE_EVENTS_MAX } });
    c1.push(ev('/d', WATCH_QUEUE_EVENTS_MAX + 1));
    c1.push(ev('/d', WATCH_QUEUE_EVENTS_MAX + 2));
    expect((await next).value?.zxid).toBe(WATCH_QUEUE_EVENTS_MAX + 2);
  });
});
