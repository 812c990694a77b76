/**
 * The client SDK through the death of the leader it talks to (SIGKILL) in a 3-member cluster: the
 * session survives with its ephemerals (suspended, then reconnected), a persistent watch resumes
 * with no gap and no duplicate, writes in flight are applied exactly once, and a Cache stays equal
 * to the tree.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isConclaveError } from '../../src/common/errors.js';
import type { SuspendedInfo, WatchEvent } from '../../src/client/types.js';
import { until } from '../support/until.js';
import { Fixture, kill, readTree, text } from './support.js';

const fx = new Fixture();
beforeAll(() => fx.startShared(3), 60_000);
afterEach(async () => {
  await fx.cleanUp();
  await fx.heal();
});
afterAll(() => fx.stopShared());

describe('a client whose leader is killed', () => {
  it('keeps its session and ephemerals, and its watch resumes with no gap and no duplicate', async () => {
    const cluster = fx.shared;
    const leader = await cluster.leader();
    const c = await fx.client(cluster);
    const writer = await fx.client(cluster);
    const states: string[] = [];
    let suspended: SuspendedInfo | undefined;
    c.on('suspended', (info) => {
      states.push('suspended');
      suspended = info;
    });
    c.on('reconnected', (info) => states.push(`reconnected ${info.sessionId}`));
    await c.create('/s');
    await c.create('/s/eph', 'mine', { ephemeral: true });

    const watch = c.watch('/s', { recursive: true });
    await watch.started;
    const seen: WatchEvent[] = [];
    const consumed = (async () => {
      for await (const e of watch) seen.push(e);
    })();

    const written: number[] = [];
    for (let i = 0; i < 60; i++) {
      if (i === 30) await kill(cluster, leader);
      written.push((await writer.create(`/s/k${i}`)).zxid);
    }
    await until('every event', () => seen.length >= 60);
    expect(seen.map((e) => e.path)).toEqual(written.map((_, i) => `/s/k${i}`));
    expect(seen.map((e) => e.zxid)).toEqual(written);
    watch.close();
    await consumed;

    expect(states).toEqual(['suspended', `reconnected ${c.sessionId}`]);
    expect(suspended?.safeUntil).toBeGreaterThan(0);
    expect(c.state).toBe('connected');
    expect((await writer.exists('/s/eph')).stat?.ephemeralOwner).toBe(c.sessionId);
    expect((await c.status()).role).toBe('leader');
    expect((await c.status()).id).not.toBe(leader);
  });

  it('applies every acknowledged write exactly once while the leader dies under a write loop', async () => {
    const cluster = fx.shared;
    const leader = await cluster.leader();
    const c = await fx.client(cluster, { requestTimeoutMs: 20_000 });
    await c.create('/f');
    await c.create('/q');
    const acked = new Set<string>();
    const failed: { key: string; err: unknown }[] = [];
    let killed: Promise<void> | undefined;
    // Four loops at once, so several writes are in flight when the leader dies; lane 0 makes
    // sequential nodes, which a write applied twice would duplicate. A key names each write: its
    // path, or (sequential) its data.
    const lane = async (lane: number): Promise<void> => {
      for (let i = 0; i < 75; i++) {
        if (acked.size >= 150 && !killed) killed = kill(cluster, leader);
        const key = lane === 0 ? `${lane}-${i}` : `/f/l${lane}-${i}`;
        try {
          await c.create(lane === 0 ? '/q/item-' : key, `${lane}-${i}`, { sequential: lane === 0 });
          acked.add(key);
        } catch (err: unknown) {
          failed.push({ key, err });
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(lane));
    expect(killed).toBeDefined();
    await killed;
    expect(acked.size + failed.length).toBe(300);

    const paths = new Set([...(await readTree(c, '/f')).keys()].filter((p) => p !== '/f'));
    const items = [...(await readTree(c, '/q')).entries()].filter(([p]) => p !== '/q').map(([, data]) => data);
    const applied = (key: string): boolean => (key.startsWith('/') ? paths.has(key) : items.includes(key));
    expect(new Set(items).size).toBe(items.length); // no sequential create applied twice
    for (const key of acked) expect(applied(key)).toBe(true);
    expect(paths.size + items.length).toBeLessThanOrEqual(300);
    // A failure is typed: a retry that ran out of time (outcome unknown). Never STALE_REQUEST: the
    // server remembers the outcome of every write the client still waits on, so each write in
    // flight when the leader died is answered once it is resent.
    for (const { err } of failed) expect(isConclaveError(err) ? err.code : String(err)).toBe('UNAVAILABLE');
    expect(failed.length).toBeLessThan(10);
  });

  it('follows the leader when leadership moves under a write loop', async () => {
    const cluster = fx.shared;
    const leader = await cluster.leader();
    const follower = cluster.servers.find((s) => s.member.id !== leader)?.member as { id: number; clientPort: number };
    // Only a follower's address: the client must follow the NOT_LEADER hint to open its session.
    const c = await fx.client(cluster, { endpoints: [`127.0.0.1:${follower.clientPort}`] });
    const reconnected: string[] = [];
    c.on('reconnected', (info) => reconnected.push(info.address));
    expect((await c.status()).id).toBe(leader);
    await c.create('/t');
    const admin = cluster.client(leader);
    let moved = false;
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      if (i === 30) moved = (await admin.call('Cluster', 'TransferLeadership', { to: follower.id }))['leader'] === follower.id;
      writes.push(c.create(`/t/n${i}`));
      if (i % 10 === 9) await Promise.all(writes.splice(0));
    }
    admin.close();
    expect(moved).toBe(true);
    expect((await c.children('/t')).names).toHaveLength(100);
    expect(reconnected).toContain(`127.0.0.1:${follower.clientPort}`);
    expect((await c.status()).id).toBe(follower.id);
  });

  it('keeps a Cache equal to the tree through writes and the leader kill', async () => {
    const cluster = fx.shared;
    const leader = await cluster.leader();
    const c = await fx.client(cluster);
    const writer = await fx.client(cluster);
    await writer.create('/c', 'root');
    for (let i = 0; i < 20; i++) await writer.create(`/c/n${i}`, `v${i}`);
    await writer.create('/c/n0/deep', 'd');

    const cache = c.cache('/c');
    let changes = 0;
    cache.on('change', () => changes++);
    await cache.ready();
    const mirror = (): Map<string, string> => new Map([...cache.entries()].map(([p, e]) => [p, text(e.data)] as [string, string]).sort());
    expect(mirror()).toEqual(await readTree(writer, '/c'));
    expect(cache.get('/c/n0/deep')?.stat.dataLength).toBe(1);

    let changesBeforeKill = 0;
    for (let i = 0; i < 90; i++) {
      if (i === 45) {
        changesBeforeKill = changes;
        await kill(cluster, leader);
      }
      const path = `/c/n${i % 25}`;
      if (i % 7 === 3) await writer.delete(path, { recursive: true }).catch(() => undefined);
      else await writer.set(path, `w${i}`).catch(async () => writer.create(path, `w${i}`));
    }
    const expected = await readTree(writer, '/c');
    await until('the cache to catch up', () => JSON.stringify([...mirror()]) === JSON.stringify([...expected]));
    expect(mirror()).toEqual(expected);
    expect(changesBeforeKill).toBeGreaterThan(30);
    expect(changes - changesBeforeKill).toBeGreaterThan(30);
    for (const [path] of expected) expect(cache.get(path)?.stat.mzxid).toBe((await writer.get(path)).stat.mzxid);
    cache.close();
  });
});
