/**
 * Backups and restores the way the chart does them: the snapshot CronJob's script (as rendered,
 * run by /bin/sh with `conclave` on PATH as in the image) saves a snapshot of a running cluster to
 * its volume and keeps the newest N files; then a new release in restore mode (fake StatefulSet,
 * see fake-statefulset.ts) waits for the backup, the test copies it into each founder's volume the
 * way the README says (kubectl cp to restore.db.part, then mv), and the founders come up from it
 * with every znode of the backup.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Cluster, until } from '../integration/harness.js';
import { FakeStatefulSet } from './fake-statefulset.js';
import { type Container, containersOf, find, helmBinary, podEnv, renderChart } from './helm.js';
import { RuntimeTree } from './image.js';

let helm: string;
let tree: RuntimeTree;
let source: Cluster | undefined;
let sts: FakeStatefulSet | undefined;
let backups: string;
let bin: string;

beforeAll(async () => {
  helm = await helmBinary();
  tree = new RuntimeTree();
  backups = mkdtempSync(join(tmpdir(), 'conclave-backups-'));
  // The image's PATH has `conclave` (a link to the CLI) and node.
  bin = join(tree.root, 'usr/local/bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(join(tree.app, 'dist/src/cli/main.js'), join(bin, 'conclave'));
}, 240_000);

afterAll(async () => {
  await source?.stop();
  await sts?.destroy();
  tree?.remove();
  if (backups) rmSync(backups, { recursive: true, force: true });
});

function sh(script: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('backup and restore through the chart', () => {
  it('the snapshot CronJob saves a snapshot and keeps the newest; restore mode founds a new cluster from it', async () => {
    // A cluster with data to back up.
    source = await Cluster.start(3);
    const leader = await source.leader();
    const c = source.client(leader);
    for (let i = 0; i < 30; i++) await c.call('Conclave', 'Create', { path: `/backup-${i}`, data: Buffer.from(String(i)) });
    c.close();

    // The CronJob's script, as rendered, with its volume at a temporary folder and the members'
    // DNS names (not resolvable here) replaced by their loopback addresses.
    const cron = find(renderChart(helm, { 'snapshots.enabled': true, 'snapshots.keep': 2 }).objects, 'CronJob');
    const [job] = containersOf(cron) as [Container];
    expect(job.command).toEqual(['/bin/sh', '-c']);
    const script = (job.args?.[0] as string).replaceAll('/backups', backups);
    const env = podEnv(job, { name: 'demo-conclave-snapshots-x', namespace: 'coord' });
    expect(env['CONCLAVE_ENDPOINTS']?.split(',')).toHaveLength(3);
    env['CONCLAVE_ENDPOINTS'] = source.servers.map((s) => `127.0.0.1:${s.member.clientPort}`).join(',');
    for (const old of ['conclave-20240101T000000Z.db', 'conclave-20240102T000000Z.db', 'conclave-20240103T000000Z.db']) writeFileSync(join(backups, old), 'old');
    const run = await sh(script, { ...env, PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin` });
    expect(run.code, run.out).toBe(0);
    const kept = readdirSync(backups).sort();
    expect(kept).toHaveLength(2); // keep: 2: the new snapshot and the newest old file
    expect(kept[0]).toBe('conclave-20240103T000000Z.db');
    const backup = join(backups, kept[1] as string);
    expect(kept[1]).toMatch(/^conclave-\d{8}T\d{6}Z\.db$/);

    // A new release in restore mode: the founders wait for the backup on their volumes.
    sts = await FakeStatefulSet.create(helm, tree, { release: 'restored', maxPods: 3, values: { 'cluster.restore': true, 'config.tickMs': 50 } });
    const fake = sts;
    fake.install(3);
    await until('the founders to wait for the backup', () => [0, 1, 2].every((o) => fake.pod(o).log.includes('restore mode: waiting for the backup')));
    // kubectl cp backup.db <pod>:/var/lib/conclave/restore.db.part, then mv it into place.
    for (const o of [0, 1, 2]) {
      const volume = fake.pod(o).volume;
      copyFileSync(backup, join(volume, 'restore.db.part'));
      renameSync(join(volume, 'restore.db.part'), join(volume, 'restore.db'));
    }
    await fake.waitReady([0, 1, 2]);
    for (const o of [0, 1, 2]) expect(fake.pod(o).log).toContain('restored the backup; starting on it');
    for (const o of [0, 1, 2]) {
      const rc = new Client(fake.pod(o).clientAddress);
      try {
        const listed = await rc.call('Cluster', 'MemberList', {});
        expect((listed['members'] as { id: number; learner: boolean }[]).map((m) => [m.id, m.learner])).toEqual([
          [1, false],
          [2, false],
          [3, false],
        ]);
        for (const i of [0, 17, 29]) {
          const got = await rc.call('Conclave', 'Get', { path: `/backup-${i}` });
          expect(Buffer.from(got['data'] as Uint8Array).toString()).toBe(String(i));
        }
      } finally {
        rc.close();
      }
    }
  });
});
