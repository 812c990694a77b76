/**
 * The chart's membership logic end to end, on a fake StatefulSet of real processes (see
 * fake-statefulset.ts: the rendered chart's command and environment, pods on loopback):
 * install 3 founders, scale 3 → 5 (each new pod joins as a learner, catches up, is promoted),
 * restart the leader's pod (preStop hands the leadership away; the member keeps its id, data and
 * vote), replace a member's lost volume (its stale entry goes, it comes back as a new member),
 * scale 5 → 3 (the hook removes the members of pods 4 and 3 through Raft before their pods stop),
 * grow to 5 again on fresh volumes, crash a pod, shrink to 3. Every acknowledged write must be
 * readable on every member, and the membership must end as exactly the voters of pods 0, 1, 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, until } from '../integration/harness.js';
import { FakeStatefulSet } from './fake-statefulset.js';
import { helmBinary } from './helm.js';
import { RuntimeTree } from './image.js';

let sts: FakeStatefulSet;
let tree: RuntimeTree;
const clients = new Map<string, Client>();

function client(address: string): Client {
  let c = clients.get(address);
  if (!c) clients.set(address, (c = new Client(address)));
  return c;
}

beforeAll(async () => {
  tree = new RuntimeTree();
  // Faster ticks than the chart's defaults keep the test short; everything else is the chart's.
  sts = await FakeStatefulSet.create(await helmBinary(), tree, { maxPods: 5, values: { 'config.tickMs': 50, 'cluster.foundingProbeMs': 2000 } });
}, 240_000);

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await sts?.destroy();
  tree?.remove();
});

interface Status {
  id: number;
  role: string;
  leader: number;
  commit: number;
  applied: number;
  voters: number[];
  learners: number[];
}

async function status(ordinal: number): Promise<Status | undefined> {
  const pod = sts.pod(ordinal);
  if (!pod.running) return undefined;
  return (await client(pod.clientAddress).call('Cluster', 'Status', {}, 1000).catch(() => undefined)) as Status | undefined;
}

/** The leader's ordinal, once one running pod says it leads. */
async function leader(): Promise<number> {
  return until(
    'a leader',
    async () => {
      for (const o of sts.pods.keys()) if ((await status(o))?.role === 'leader') return o;
      return undefined;
    },
    20_000,
  );
}

/** The membership as the leader sees it, by pod (members are pods through their peer addresses). */
async function membership(): Promise<string[]> {
  const list = await client(sts.pod(await leader()).clientAddress).call('Cluster', 'MemberList', {}, 2000);
  return (list['members'] as { id: number; learner: boolean; peerAddress: string }[])
    .map((m) => `${[...sts.pods.values()].find((p) => `127.0.0.1:${p.ports.peer}` === m.peerAddress)?.name ?? m.peerAddress} ${m.learner ? 'learner' : 'voter'}`)
    .sort();
}

const VOTERS = (n: number): string[] => Array.from({ length: n }, (_, o) => `demo-conclave-${o} voter`);

const written: string[] = [];

/** Writes through the leader; only acknowledged ones are remembered (and must survive). */
async function writeSome(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const path = `/${prefix}-${i}`;
    await until(`write ${path}`, async () => {
      const c = client(sts.pod(await leader()).clientAddress);
      return c.call('Conclave', 'Create', { path, data: Buffer.from(path) }, 3000).then(
        () => true,
        () => false,
      );
    });
    written.push(path);
  }
}

/** Every acknowledged write, read on this member itself (its own copy, at least as new as the leader's commit). */
async function expectAllOn(ordinal: number): Promise<void> {
  const leaderCommit = ((await status(await leader())) as Status).commit;
  await until(`member ${ordinal + 1} to apply ${leaderCommit}`, async () => ((await status(ordinal))?.applied ?? 0) >= leaderCommit);
  const c = client(sts.pod(ordinal).clientAddress);
  const missing: string[] = [];
  for (const path of written) {
    const got = await c.call('Conclave', 'Get', { path, consistency: 'SERIALIZABLE' }).catch(() => undefined);
    if (!got || Buffer.from(got['data'] as Uint8Array).toString() !== path) missing.push(path);
  }
  expect(missing, `member ${ordinal + 1} misses writes`).toEqual([]);
}

describe('a fake StatefulSet driven through the chart', () => {
  it('founds with 3, grows to 5, survives a restart, a lost volume and a crash, shrinks to 3 and back, with no write lost', async () => {
    try {
      // helm install: three founders start at once and found the cluster together.
      sts.install(3);
      await sts.waitReady([0, 1, 2]);
      expect(await membership()).toEqual(VOTERS(3));
      for (const o of [0, 1, 2]) expect(sts.pod(o).log).toContain('no running cluster found: founding it');
      await writeSome('three', 20);

      // helm upgrade --set replicaCount=5: the hook has nothing to remove; pods 3 and 4 join as
      // learners (one change at a time, so they take turns), catch up and are promoted.
      const grow = await sts.upgrade(5);
      expect(grow.hook).toContain('nothing to remove');
      await until('pods 3 and 4 to be voters', async () => (await membership()).join() === VOTERS(5).join(), 30_000);
      await sts.waitReady([0, 1, 2, 3, 4]);
      for (const o of [3, 4]) {
        expect(sts.pod(o).log).toContain('asking the leader to add this pod as a learner');
        await until(`pod ${o} to see its promotion`, () => sts.pod(o).log.includes('promoted: this member is a voter'));
      }
      await writeSome('five', 20);

      // A rolling restart of the leader's pod: preStop hands the leadership away, SIGTERM stops
      // it, it restarts on its volume with its id and data; the membership does not change.
      const old = await leader();
      const before = (await status(old)) as Status;
      const stopped = await sts.stop(old);
      expect(stopped.preStop).toMatch(new RegExp(`member ${before.id} handed the leadership to \\d`));
      expect(stopped.code).toBe(0);
      expect(await leader()).not.toBe(old);
      expect(await membership()).toEqual(VOTERS(5));
      await writeSome('during-restart', 5);
      sts.start(old);
      await sts.waitReady([old]);
      expect(sts.pod(old).log).toContain('the volume holds data: starting on it');
      const after = (await status(old)) as Status;
      expect(after.id).toBe(before.id);
      expect(after.applied).toBeGreaterThanOrEqual(before.applied);
      expect(await membership()).toEqual(VOTERS(5));

      // A member loses its volume (a replaced disk): it must not vote again with a forgotten log,
      // so its stale entry is removed and it joins as a new learner, then is promoted again.
      const lost = ((await leader()) + 1) % 5;
      await sts.stop(lost);
      sts.pod(lost).newVolume();
      sts.start(lost);
      await until(`pod ${lost} to be back as a voter`, async () => sts.pod(lost).log.includes('promoted: this member is a voter'), 30_000);
      expect(sts.pod(lost).log).toContain('its volume is empty: removing its old entry');
      expect(await membership()).toEqual(VOTERS(5));
      await writeSome('after-lost-volume', 5);

      // helm upgrade --set replicaCount=3: the hook removes members 5 and 4 (handing the
      // leadership away first if one leads), then their pods stop and their volumes go.
      const shrink = await sts.upgrade(3);
      expect(shrink.hook).toMatch(/removing member \d+ \(pod ordinal 4,/);
      expect(shrink.hook).toMatch(/removing member \d+ \(pod ordinal 3,/);
      expect(await membership()).toEqual(VOTERS(3));
      for (const o of [3, 4]) expect(sts.pod(o).running).toBe(false);
      await writeSome('three-again', 10);

      // Grow again onto fresh volumes (the scale-down deleted theirs): new members with new ids
      // (an id is never reused: a new member replays the log, removals included), then shrink.
      await sts.upgrade(5);
      await until('pods 3 and 4 to be voters again', async () => (await membership()).join() === VOTERS(5).join(), 30_000);
      await writeSome('five-again', 10);
      // A crash (SIGKILL, no preStop) and a restart on the same volume changes nothing either.
      const crashed = ((await leader()) + 2) % 5;
      await sts.pod(crashed).child?.kill('SIGKILL');
      await until(`pod ${crashed} to die`, () => !sts.pod(crashed).running);
      sts.start(crashed);
      await sts.waitReady([crashed]);
      expect(await membership()).toEqual(VOTERS(5));
      for (const o of [0, 1, 2, 3, 4]) await expectAllOn(o);
      await sts.upgrade(3);
      expect(await membership()).toEqual(VOTERS(3));
      await writeSome('end', 5);
      await sts.waitReady([0, 1, 2]);

      // Nothing acknowledged was lost, on any member; all three hold the same state.
      for (const o of [0, 1, 2]) await expectAllOn(o);
      const digests = await Promise.all([0, 1, 2].map(async (o) => (await client(sts.pod(o).clientAddress).call('Cluster', 'Status', {}))['digest']));
      expect(new Set(digests).size).toBe(1);
      // The hook again, with nothing to do, is harmless (every later upgrade runs it).
      expect((await sts.upgrade(3)).hook).toContain('nothing to remove');
    } catch (err: unknown) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\n${sts.describe()}`);
    }
  });
});
