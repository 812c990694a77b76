/**
 * The client SDK against one real server: every operation's round trip with its stat, typed
 * errors, one-shot watches, persistent watches (order, filters, data, resume point, COMPACTED),
 * aborts and the cluster calls.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConclaveError } from '../../src/common/errors.js';
import type { WatchEvent } from '../../src/client/types.js';
import { Client } from '../../src/client/client.js';
import { clientInternals } from '../../src/client/internals.js';
import type { CacheChange } from '../../src/client/recipes/cache.js';
import { until } from '../support/until.js';
import { Fixture, codeOf, failure, readTree, text } from './support.js';

const fx = new Fixture();
beforeAll(() => fx.startShared(1, ['--watch-history-events', '30']), 60_000);
afterEach(() => fx.cleanUp());
afterAll(() => fx.stopShared());

describe('znode operations', () => {
  it('round-trip create, get, exists, set, children, delete with stats and zxids', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    expect(c.sessionId).toBeGreaterThan(0);
    expect(c.sessionTimeoutMs).toBe(5000);

    const created = await c.create('/app', 'v1');
    expect(created.path).toBe('/app');
    expect(created.stat).toMatchObject({ czxid: created.zxid, mzxid: created.zxid, version: 0, dataLength: 2, numChildren: 0, ephemeralOwner: 0 });

    const got = await c.get('/app');
    expect(text(got.data)).toBe('v1');
    expect(got.data).toBeInstanceOf(Uint8Array);
    expect(got.stat).toEqual(created.stat);
    expect(got.zxid).toBeGreaterThanOrEqual(created.zxid);
    expect(got.watch).toBeUndefined();

    const set = await c.set('/app', new Uint8Array([1, 2, 3]), { version: 0 });
    expect(set.stat).toMatchObject({ version: 1, mzxid: set.zxid, czxid: created.zxid, dataLength: 3 });
    expect([...(await c.get('/app', { consistency: 'serializable' })).data]).toEqual([1, 2, 3]);

    const eph = await c.create('/app/e', undefined, { ephemeral: true });
    expect(eph.stat.ephemeralOwner).toBe(c.sessionId);
    const seq1 = await c.create('/app/job-', 'a', { sequential: true });
    const seq2 = await c.create('/app/job-', 'b', { sequential: true });
    expect(seq1.path).toMatch(/^\/app\/job-\d{10}$/);
    expect(seq2.path > seq1.path).toBe(true);

    const kids = await c.children('/app');
    expect(kids.names).toEqual(['e', seq1.path.slice(5), seq2.path.slice(5)]);
    expect(kids.stat.numChildren).toBe(3);
    expect(kids.more).toBe(false);
    const page = await c.children('/app', { limit: 1, after: 'e' });
    expect(page).toMatchObject({ names: [seq1.path.slice(5)], more: true });

    expect((await c.exists('/app/e')).stat?.ephemeralOwner).toBe(c.sessionId);
    const missing = await c.exists('/nope');
    expect(missing.stat).toBeUndefined();
    expect(missing.zxid).toBeGreaterThanOrEqual(seq2.zxid);

    const del = await c.delete('/app/e');
    expect(del.zxid).toBeGreaterThan(seq2.zxid);
    expect((await c.exists('/app/e')).stat).toBeUndefined();
    expect((await c.sync()).zxid).toBeGreaterThanOrEqual(del.zxid);
    expect(c.lastZxid).toBeGreaterThanOrEqual(del.zxid);
  });

  it('throws the server typed errors', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    await c.create('/x', 'a');
    expect(await codeOf(c.get('/missing'))).toBe('NO_NODE');
    expect(await codeOf(c.create('/x'))).toBe('NODE_EXISTS');
    expect(await codeOf(c.create('/a/b'))).toBe('NO_NODE');
    expect(await codeOf(c.set('/x', 'b', { version: 7 }))).toBe('BAD_VERSION');
    expect(await codeOf(c.delete('/x', { version: 3 }))).toBe('BAD_VERSION');
    expect(await codeOf(c.get('relative'))).toBe('BAD_PATH');
    expect(await codeOf(c.create('/x/', 'a'))).toBe('BAD_PATH');
    expect(await codeOf(c.create('/y', 'a', { ephemeral: true, container: true }))).toBe('BAD_ARGUMENTS');
    await c.create('/x/child');
    expect(await codeOf(c.delete('/x'))).toBe('NOT_EMPTY');
    const err = await failure(c.get('/missing'));
    expect(err).toBeInstanceOf(ConclaveError);
    // A failed write changed nothing, and the session goes on.
    expect(text((await c.get('/x')).data)).toBe('a');
  });

  it('applies a multi all or nothing and reports the failing op', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    const ok = await c.multi([{ create: { path: '/m', data: '1' } }, { create: { path: '/m/a', ephemeral: true } }, { set: { path: '/m', data: '2', version: 0 } }, { check: { path: '/m', version: 1 } }]);
    expect(ok.ok).toBe(true);
    expect(ok.failedIndex).toBe(-1);
    expect(ok.results[0]).toMatchObject({ path: '/m' });
    expect(ok.results[1]?.stat?.ephemeralOwner).toBe(c.sessionId);
    expect(ok.results[2]?.stat?.version).toBe(1);
    expect(ok.zxid).toBeGreaterThan(0);

    const bad = await c.multi([{ delete: { path: '/m/a' } }, { set: { path: '/m', data: 'x', version: 0 } }]);
    expect(bad).toMatchObject({ ok: false, failedIndex: 1, zxid: 0 });
    expect(bad.results[1]?.error).toBe('BAD_VERSION');
    expect(bad.results[0]?.error).toBe('RUNTIME_INCONSISTENCY');
    expect((await c.exists('/m/a')).stat).toBeDefined();
  });

  it('pages through big directories and deletes subtrees recursively', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    await c.create('/d');
    const names = Array.from({ length: 250 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((n) => c.create(`/d/${n}`)));
    await c.create('/d/n000/deep');
    await c.create('/d/n000/deep/er', 'x');
    const listed: string[] = [];
    for await (const n of c.allChildren('/d', { pageSize: 40 })) listed.push(n);
    expect(listed).toEqual(names);

    expect(await codeOf(c.delete('/d', { recursive: true, version: 5 }))).toBe('BAD_VERSION');
    await c.delete('/d', { recursive: true });
    expect((await c.exists('/d')).stat).toBeUndefined();
    expect((await c.children('/')).names).not.toContain('d');
  });
});

describe('one-shot watches', () => {
  it('settle once with the change, for get, exists and children', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    const other = await fx.client(cluster);
    await c.create('/w', 'a');
    const data = await c.get('/w', { watch: true });
    const exists = await c.exists('/later', { watch: true });
    const kids = await c.children('/w', { watch: true });
    expect(exists.stat).toBeUndefined();
    const set = await other.set('/w', 'b');
    const created = await other.create('/later');
    const child = await other.create('/w/c');
    const [e1, e2, e3] = await Promise.all([data.watch, exists.watch, kids.watch]);
    expect(e1).toEqual({ type: 'changed', path: '/w', zxid: set.zxid });
    expect(e2).toEqual({ type: 'created', path: '/later', zxid: created.zxid });
    expect(e3).toEqual({ type: 'children', path: '/w', zxid: child.zxid });
  });

  it('reject when the client closes before they fire', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    await c.create('/w2');
    const { watch } = await c.get('/w2', { watch: true });
    await c.close();
    expect(await codeOf(watch as Promise<WatchEvent>)).toBe('UNAVAILABLE');
    expect(await codeOf(c.get('/w2'))).toBe('UNAVAILABLE');
  });
});

describe('persistent watches', () => {
  it('deliver a subtree in zxid order with data, filter types, and stop on close', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    const writer = await fx.client(cluster);
    await c.create('/p');
    const all = c.watch('/p', { recursive: true, withData: true });
    const deletes = c.watch('/p', { recursive: true, types: ['deleted'] });
    const start = await all.started;
    await deletes.started;
    const a = await writer.create('/p/a', '1');
    await writer.create('/pp', 'outside');
    // One multi: two events with one zxid.
    const m = await writer.multi([{ create: { path: '/p/b', data: '2' } }, { set: { path: '/p/a', data: '3' } }]);
    const d = await writer.delete('/p/b');
    const got: WatchEvent[] = [];
    for await (const e of all) {
      got.push(e);
      if (got.length === 4) break;
    }
    expect(got.map((e) => [e.type, e.path, e.zxid, text(e.data)])).toEqual([
      ['created', '/p/a', a.zxid, '1'],
      ['created', '/p/b', m.zxid, '2'],
      ['changed', '/p/a', m.zxid, '3'],
      ['deleted', '/p/b', d.zxid, ''],
    ]);
    expect(got[0]?.stat?.czxid).toBe(a.zxid);
    expect(start).toBeLessThan(a.zxid);
    const del = await deletes.next();
    expect(del.value).toEqual({ type: 'deleted', path: '/p/b', zxid: d.zxid });
    // Closed: nothing more, and the iterator is done.
    expect((await all.next()).done).toBe(true);
    deletes.close();
    expect((await deletes.next()).done).toBe(true);
  });

  it('resume from a zxid, or throw COMPACTED with the oldest resumable zxid', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    await c.create('/r');
    const first = await c.create('/r/a');
    const second = await c.create('/r/b');
    const resumed = c.watch('/r', { recursive: true, fromZxid: first.zxid });
    expect(await resumed.started).toBe(first.zxid);
    expect((await resumed.next()).value).toMatchObject({ path: '/r/b', zxid: second.zxid });
    resumed.close();

    for (let i = 0; i < 40; i++) await c.set('/r', String(i));
    const stale = c.watch('/r', { fromZxid: first.zxid });
    const err = await failure(stale.next());
    expect(err).toBeInstanceOf(ConclaveError);
    expect(err).toMatchObject({ code: 'COMPACTED', details: { oldestZxid: expect.any(Number), currentZxid: expect.any(Number) } });
    expect((err as ConclaveError).details['oldestZxid']).toBeGreaterThan(first.zxid);
  });
});

describe('Cache', () => {
  it('re-reads everything when its watch cannot resume (COMPACTED) and emits the differences', async () => {
    const c = await fx.client(fx.shared);
    const writer = await fx.client(fx.shared);
    await writer.create('/k', 'root');
    await writer.create('/k/a', '1');
    await writer.create('/k/gone', 'x');
    const cache = c.cache('/k');
    await cache.ready();
    expect(cache.size).toBe(3);
    const changes: CacheChange[] = [];
    cache.on('change', (ch) => changes.push(ch));

    // Disconnected while more changes happen than the server's history keeps (30 events).
    const reconnect = c[clientInternals].dropConnection();
    for (let i = 0; i < 35; i++) await writer.set('/k/a', `v${i}`);
    await writer.create('/k/b', 'new');
    await writer.delete('/k/gone');
    reconnect();
    const expected = await readTree(writer, '/k');
    await until('the cache to re-read', () => text(cache.get('/k/a')?.data) === 'v34' && cache.get('/k/b') !== undefined && cache.get('/k/gone') === undefined);
    expect(new Map([...cache.entries()].map(([p, e]) => [p, text(e.data)]))).toEqual(expected);
    expect(changes.map((ch) => [ch.type, ch.path]).sort()).toEqual([
      ['changed', '/k/a'],
      ['created', '/k/b'],
      ['deleted', '/k/gone'],
    ]);
    // And it goes on following the tree.
    await writer.set('/k', 'after');
    await until('the next change', () => text(cache.get('/k')?.data) === 'after');
    cache.close();
  });
});

describe('aborts and the cluster calls', () => {
  it('rejects an aborted call with the signal reason', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    const ac = new AbortController();
    ac.abort();
    const err = await failure(c.get('/', { signal: ac.signal }));
    expect(err).toMatchObject({ name: 'AbortError' });
    const ac2 = new AbortController();
    const w = c.watch('/', { signal: ac2.signal });
    const next = w.next();
    ac2.abort(new Error('stop'));
    await expect(next).rejects.toThrow('stop');
  });

  it('passes status and the member list through, typed', async () => {
    const cluster = fx.shared;
    const c = await fx.client(cluster);
    const status = await c.status();
    expect(status).toMatchObject({ id: 1, role: 'leader', leader: 1, voters: [1], learners: [] });
    expect(status.zxid).toBeGreaterThan(0);
    const members = await c.members();
    expect(members.leader).toBe(1);
    expect(members.members).toEqual([{ id: 1, peerAddress: expect.any(String), clientAddress: `127.0.0.1:${cluster.servers[0]?.member.clientPort}`, learner: false }]);
  });

  it('fails to connect with UNAVAILABLE when no member answers', async () => {
    const started = performance.now();
    const err = await failure(Client.connect({ endpoints: ['127.0.0.1:1'], connectTimeoutMs: 600 }));
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect(String((err as Error).message)).toMatch(/connectTimeoutMs/);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
