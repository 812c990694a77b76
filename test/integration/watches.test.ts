/**
 * Watches against real processes: ZooKeeper's one-shot watches on the session stream, persistent
 * recursive watches with data, resume from a zxid with no gap and no duplicate (on another replica
 * too), COMPACTED past the history window, progress notifications, and slow watchers cut off.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, type StreamClient, TestClients, rpcError, until } from './harness.js';

let cluster: Cluster | undefined;
const clients = new TestClients();

afterEach(async () => {
  clients.closeAll();
  await cluster?.stop();
  cluster = undefined;
});

type Frame = Record<string, unknown>;
interface Event {
  type: string;
  path: string;
  zxid: number;
  data?: Uint8Array;
  oneShot: boolean;
}

async function single(extra: readonly string[] = []): Promise<Cluster> {
  const c = await Cluster.start(1, extra);
  await c.leader();
  return c;
}

function eventsOf(s: StreamClient, id?: number): Event[] {
  return s.pushed.filter((f) => f['result'] === 'event' && (id === undefined || f['id'] === id)).map((f) => f['event'] as Event);
}

const text = (b: Uint8Array | undefined): string => Buffer.from(b ?? new Uint8Array()).toString();

describe('one-shot watches (ZooKeeper semantics)', () => {
  it('fire once for data, exists and children, tagged with the id of the read that set them', async () => {
    cluster = await single();
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/cfg', data: Buffer.from('v1') });
    const s = c.stream();
    await s.request('get', { path: '/cfg', watch: true }, 10);
    await s.request('exists', { path: '/later', watch: true }, 11);
    await s.request('children', { path: '/cfg', watch: true }, 12);
    const set = await c.call('Conclave', 'Set', { path: '/cfg', data: Buffer.from('v2'), expectedVersion: -1 });
    await c.call('Conclave', 'Set', { path: '/cfg', data: Buffer.from('v3'), expectedVersion: -1 });
    await c.call('Conclave', 'Create', { path: '/later' });
    await c.call('Conclave', 'Create', { path: '/cfg/child' });
    await until('three one-shot events', () => eventsOf(s).length >= 3);
    expect(eventsOf(s, 10)).toMatchObject([{ type: 'CHANGED', path: '/cfg', zxid: set['zxid'], oneShot: true }]);
    expect(eventsOf(s, 10)[0]?.data?.length).toBe(0); // one-shot events carry no data, as in ZooKeeper
    expect(eventsOf(s, 11).map((e) => [e.type, e.path])).toEqual([['CREATED', '/later']]);
    expect(eventsOf(s, 12).map((e) => [e.type, e.path])).toEqual([['CHILDREN', '/cfg']]);
    // Fired once: later changes bring nothing more.
    await c.call('Conclave', 'Set', { path: '/later', data: Buffer.from('x'), expectedVersion: -1 });
    const sync = await s.request('sync', {});
    expect(sync['result']).toBe('sync');
    expect(eventsOf(s)).toHaveLength(3);
  });

  it('need a session stream: a unary read asking for a watch is refused', async () => {
    cluster = await single();
    const err = await rpcError(clients.of(cluster, 1).call('Conclave', 'Get', { path: '/', watch: true }));
    expect(err.code).toBe('BAD_ARGUMENTS');
  });
});

describe('persistent watches', () => {
  it('deliver every change under a subtree, in zxid order, with data, and nothing outside it', async () => {
    cluster = await single();
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/app' });
    const s = c.stream();
    const started = await s.request('watch', { path: '/app', mode: 'PERSISTENT_RECURSIVE', withData: true }, 7);
    expect(started['watchStarted']).toMatchObject({ zxid: expect.any(Number) });
    await c.call('Conclave', 'Create', { path: '/app/a', data: Buffer.from('1') });
    await c.call('Conclave', 'Create', { path: '/apple', data: Buffer.from('outside') });
    await c.call('Conclave', 'Create', { path: '/app/a/b', data: Buffer.from('2') });
    await c.call('Conclave', 'Set', { path: '/app/a', data: Buffer.from('3'), expectedVersion: 0 });
    await c.call('Conclave', 'Delete', { path: '/app/a/b', expectedVersion: -1 });
    await until('four events', () => eventsOf(s, 7).length >= 4);
    const events = eventsOf(s, 7);
    expect(events.map((e) => [e.type, e.path, text(e.data)])).toEqual([
      ['CREATED', '/app/a', '1'],
      ['CREATED', '/app/a/b', '2'],
      ['CHANGED', '/app/a', '3'],
      ['DELETED', '/app/a/b', ''],
    ]);
    const zxids = events.map((e) => e.zxid);
    expect([...zxids].sort((a, b) => a - b)).toEqual(zxids);
    const un = await s.request('unwatch', { watchId: 7 });
    expect(un['result']).toBe('unwatch');
    await c.call('Conclave', 'Create', { path: '/app/after' });
    await s.request('sync', {});
    expect(eventsOf(s, 7)).toHaveLength(4);
    expect((await s.request('unwatch', { watchId: 7 }))['error']).toMatchObject({ code: 'BAD_ARGUMENTS' });
  });

  it('resume from a zxid with no gap and no duplicate, or fail with COMPACTED past the window', async () => {
    cluster = await single(['--watch-history-events', '40']);
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/r' });
    const first = c.stream();
    await first.request('watch', { path: '/r', mode: 'PERSISTENT_RECURSIVE' }, 1);
    for (let i = 0; i < 5; i++) await c.call('Conclave', 'Create', { path: `/r/a${i}` });
    await until('five events', () => eventsOf(first, 1).length >= 5);
    const seen = eventsOf(first, 1);
    const last = seen[seen.length - 1]?.zxid ?? 0;
    first.cancel();
    for (let i = 0; i < 5; i++) await c.call('Conclave', 'Create', { path: `/r/b${i}` });

    const second = c.stream();
    const started = await second.request('watch', { path: '/r', mode: 'PERSISTENT_RECURSIVE', fromZxid: last }, 2);
    expect(started['watchStarted']).toEqual({ zxid: last });
    await until('the missed events', () => eventsOf(second, 2).length >= 5);
    expect([...seen, ...eventsOf(second, 2)].map((e) => e.path)).toEqual([0, 1, 2, 3, 4].map((i) => `/r/a${i}`).concat([0, 1, 2, 3, 4].map((i) => `/r/b${i}`)));

    for (let i = 0; i < 60; i++) await c.call('Conclave', 'Set', { path: '/r', data: Buffer.from(String(i)), expectedVersion: -1 });
    const compacted = await c.stream().request('watch', { path: '/r', fromZxid: last });
    expect(compacted['error']).toMatchObject({ code: 'COMPACTED', oldestZxid: expect.any(Number), currentZxid: expect.any(Number) });
    const err = compacted['error'] as { oldestZxid: number; currentZxid: number };
    expect(err.oldestZxid).toBeGreaterThan(last);
    expect(err.currentZxid).toBeGreaterThanOrEqual(err.oldestZxid);
  });

  it('tell idle watches where they stand (progress notifications)', async () => {
    cluster = await single(['--watch-progress-ms', '50']);
    const c = clients.of(cluster, 1);
    const s = c.stream();
    await s.request('watch', { path: '/' }, 3);
    const { zxid } = await c.call('Conclave', 'Create', { path: '/p' });
    const progress = await until('a progress frame at the create', () => s.pushed.find((f) => f['result'] === 'progress' && (f['progress'] as { zxid: number }).zxid >= (zxid as number)));
    expect(progress['id']).toBe(3);
  });

  it('cut off a watcher that stops reading, telling it where to resume', async () => {
    cluster = await single(['--watch-buffer-bytes', '65536']);
    const c = clients.of(cluster, 1);
    await c.call('Conclave', 'Create', { path: '/big' });
    const s = c.stream();
    await s.request('watch', { path: '/big', withData: true }, 5);
    s.pause();
    const value = Buffer.alloc(100_000, 7);
    let cut: Frame | undefined;
    for (let i = 0; i < 200 && !cut; i++) {
      await c.call('Conclave', 'Set', { path: '/big', data: value, expectedVersion: -1 });
      if (i % 10 === 9) {
        const metrics = await fetch(`http://127.0.0.1:${cluster.servers[0]?.metricsPort()}/metrics`).then((r) => r.text());
        if (/conclave_slow_watchers_cut_total 1/.test(metrics)) cut = {};
      }
    }
    expect(cut).toBeDefined();
    s.resume();
    const error = await until('the cut-off frame', () => s.pushed.find((f) => f['result'] === 'error' && f['id'] === 5));
    expect(error['error']).toMatchObject({ code: 'LIMIT_EXCEEDED', currentZxid: expect.any(Number) });
    // Every event up to the resume point was delivered before the cut-off.
    const delivered = eventsOf(s, 5);
    expect(delivered[delivered.length - 1]?.zxid).toBe((error['error'] as { currentZxid: number }).currentZxid);
  });
});

describe('a watcher through a replica that dies', () => {
  it('keeps a mirror of a subtree identical to it, resuming on another replica', async () => {
    cluster = await Cluster.start(3);
    const leaderId = await cluster.leader();
    const lc = clients.of(cluster, leaderId);
    await lc.call('Conclave', 'Create', { path: '/m' });
    const followers = cluster.servers.filter((s) => s.member.id !== leaderId).map((s) => s.member.id);
    const [first, second] = followers as [number, number];

    const mirror = new Map<string, string>();
    let lastZxid = 0;
    const apply = (e: Event): void => {
      expect(e.zxid).toBeGreaterThan(lastZxid); // once each, in order
      lastZxid = e.zxid;
      if (e.type === 'DELETED') mirror.delete(e.path);
      else mirror.set(e.path, text(e.data));
    };
    const watchOn = async (id: number, from: number): Promise<StreamClient> => {
      const s = clients.of(cluster as Cluster, id).stream();
      const started = await s.request('watch', { path: '/m', mode: 'PERSISTENT_RECURSIVE', withData: true, fromZxid: from }, 1);
      expect(started['result']).toBe('watchStarted');
      return s;
    };
    let stream = await watchOn(first, (await lc.call('Conclave', 'Sync', {}))['zxid'] as number);
    let consumed = 0;
    const drain = (): void => {
      const evs = eventsOf(stream, 1);
      for (; consumed < evs.length; consumed++) apply(evs[consumed] as Event);
    };

    const expected = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      const path = `/m/k${i % 17}`;
      if (expected.has(path) && i % 5 === 0) {
        await lc.call('Conclave', 'Delete', { path, expectedVersion: -1 });
        expected.delete(path);
      } else if (expected.has(path)) {
        await lc.call('Conclave', 'Set', { path, data: Buffer.from(`v${i}`), expectedVersion: -1 });
        expected.set(path, `v${i}`);
      } else {
        await lc.call('Conclave', 'Create', { path, data: Buffer.from(`v${i}`) });
        expected.set(path, `v${i}`);
      }
      drain();
      if (i === 70) {
        // The replica the watcher reads through dies; it resumes on the other from what it has.
        await cluster.servers.find((s) => s.member.id === first)?.kill('SIGKILL');
        drain();
        stream = await watchOn(second, lastZxid);
        consumed = 0;
      }
    }
    const target = (await lc.call('Conclave', 'Sync', {}))['zxid'] as number;
    await until('the mirror to reach the last write', () => {
      drain();
      return lastZxid >= target - 1 && mirror.size === expected.size && [...expected].every(([k, v]) => mirror.get(k) === v);
    });
    expect(new Map([...mirror].sort())).toEqual(new Map([...expected].sort()));
  });
});
